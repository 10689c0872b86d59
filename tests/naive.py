"""Deliberately naive reference forms of the losses, written straight from their definitions.

One masked softmax over all ``C`` classes per class combination, Python loops over samples and
pairs, float64. Slow and obviously correct: the fast losses must agree with these.
"""

from __future__ import annotations

import math

import torch


def masked_kl(teacher_row, student_row, classes, temperature):
    """KL between the two softmaxes restricted to ``classes`` (others masked to probability 0)."""
    mask = torch.full_like(teacher_row, float("-inf"))
    mask[list(classes)] = 0.0
    p_t = torch.softmax(teacher_row / temperature + mask, dim=0)
    p_s = torch.softmax(student_row / temperature + mask, dim=0)
    return (
        sum(p_t[k] * (torch.log(p_t[k]) - torch.log(p_s[k])) for k in classes if p_t[k] > 0)
        if classes
        else teacher_row.new_zeros(())
    )


def pair_weight(rank_i, rank_j, weighting, decay, irw_scale, irw_offset):
    irw = irw_scale / (irw_offset + abs(rank_i - rank_j))
    erd = math.exp(-decay * (rank_i + rank_j))
    return {"adw": irw * erd, "irw": irw, "erd": erd, "uniform": 1.0}[weighting]


def naive_ldrrld(
    student,
    teacher,
    depth,
    temperature=4.0,
    decay=0.05,
    irw_scale=2.0,
    irw_offset=1.5,
    weighting="adw",
    rank_by="student",
):
    """Returns ``(local, rntk)`` as defined in the method spec."""
    batch, num_classes = student.shape
    source = student if rank_by == "student" else teacher
    local = student.new_zeros(())
    rntk = student.new_zeros(())
    for b in range(batch):
        ranked = sorted(range(num_classes), key=lambda k: -float(source[b, k].detach()))[:depth]
        pairs = student.new_zeros(())
        for i in range(depth):
            for j in range(i + 1, depth):
                w = pair_weight(i + 1, j + 1, weighting, decay, irw_scale, irw_offset)
                pairs = pairs + w * masked_kl(teacher[b], student[b], [ranked[i], ranked[j]], temperature)
        top_d = masked_kl(teacher[b], student[b], ranked, temperature)
        local = local + (pairs + top_d) / (depth * (depth - 1) / 2 + 1)
        rest = [k for k in range(num_classes) if k not in ranked]
        rntk = rntk + masked_kl(teacher[b], student[b], rest, temperature)
    return temperature**2 * local / batch, temperature**2 * rntk / batch


def naive_kd(student, teacher, temperature=4.0):
    batch, num_classes = student.shape
    total = student.new_zeros(())
    for b in range(batch):
        total = total + masked_kl(teacher[b], student[b], range(num_classes), temperature)
    return temperature**2 * total / batch


def naive_dkd(student, teacher, target, alpha=1.0, beta=8.0, temperature=4.0):
    """DKD from its definition: binary target-vs-rest KL and the KL over non-target classes."""
    batch, num_classes = student.shape
    tckd = student.new_zeros(())
    nckd = student.new_zeros(())
    for b in range(batch):
        y = int(target[b])
        p_t = torch.softmax(teacher[b] / temperature, 0)
        p_s = torch.softmax(student[b] / temperature, 0)
        binary_t = torch.stack([p_t[y], 1 - p_t[y]])
        binary_s = torch.stack([p_s[y], 1 - p_s[y]])
        tckd = tckd + (binary_t * (binary_t.log() - binary_s.log())).sum()
        others = [k for k in range(num_classes) if k != y]
        nckd = nckd + masked_kl(teacher[b], student[b], others, temperature)
    return temperature**2 * (alpha * tckd + beta * nckd) / batch


def naive_top(z: torch.Tensor, depth: int) -> torch.Tensor:
    """The tie rule, one row at a time in Python: by value descending, then class ascending."""
    rows = z.double().tolist()
    return torch.tensor([sorted(range(len(row)), key=lambda c: (-row[c], c))[:depth] for row in rows])
