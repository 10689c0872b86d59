"""Deliberately naive reference forms of the six baseline losses, written from their papers' equations.

DIST, LSKD, WTTM, CTKD, TeKAP and SDD, each with Python loops over samples and classes on 0-d
float64 tensors (so autograd can differentiate them too), one equation per line and no trick
beyond shifting a softmax by its row maximum. Slow and obviously correct: the fast losses of
``ldrrld_core.losses`` must agree with these. Nothing here imports the code under test.
"""

from __future__ import annotations

import math

import torch

#: DIST's constant in the Pearson denominator, LSKD's in the standardisation (the papers' values).
PEARSON_EPS = 1e-8
STANDARDIZE_EPS = 1e-7


# ------------------------------------------------------------------------------- building blocks
def log_softmax(row, temperature=1.0):
    """``log softmax(row / T)`` of a 1-D tensor, one class at a time: a list of 0-d tensors."""
    scaled = [row[c] / temperature for c in range(len(row))]
    top = max(float(x.detach()) for x in scaled)  # a constant shift: leaves the softmax unchanged
    log_total = torch.log(sum(torch.exp(x - top) for x in scaled)) + top
    return [x - log_total for x in scaled]


def softmax(row, temperature=1.0):
    """``softmax(row / T)``: a list of 0-d tensors."""
    return [torch.exp(x) for x in log_softmax(row, temperature)]


def kl(log_p, log_q):
    """``KL(p || q) = sum_c p_c (log p_c - log q_c)`` of two lists of log-probabilities."""
    return sum(torch.exp(lp) * (lp - lq) for lp, lq in zip(log_p, log_q))


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def argmax(row) -> int:
    """The class of the largest value, by a Python loop (the first one on a tie)."""
    values = [float(x.detach()) for x in row]
    best = 0
    for c in range(1, len(values)):
        if values[c] > values[best]:
            best = c
    return best


def naive_kd(student, teacher, temperature=4.0):
    """``T^2 * mean_b KL(softmax(z_t / T) || softmax(z_s / T))``; ``temperature`` may be a 0-d tensor."""
    batch = student.shape[0]
    total = sum(kl(log_softmax(teacher[b], temperature), log_softmax(student[b], temperature)) for b in range(batch))
    return temperature**2 * total / batch


def naive_cross_entropy(logits, target):
    """``mean_b -log softmax(z_b)[y_b]``."""
    return mean(-log_softmax(logits[b])[int(target[b])] for b in range(logits.shape[0]))


# ---------------------------------------------------------------------------------------- DIST
def pearson(a, b):
    """``sum((a - mean a)(b - mean b)) / (||a - mean a|| ||b - mean b|| + 1e-8)`` of two equal-length lists."""
    mean_a, mean_b = mean(a), mean(b)
    da = [x - mean_a for x in a]
    db = [x - mean_b for x in b]
    numerator = sum(x * y for x, y in zip(da, db))
    norm_a = torch.sqrt(sum(x * x for x in da))
    norm_b = torch.sqrt(sum(y * y for y in db))
    return numerator / (norm_a * norm_b + PEARSON_EPS)


def naive_dist_terms(student, teacher, temperature=4.0):
    """DIST's ``(T^2 * inter, T^2 * intra)``: one minus the mean Pearson correlation per sample and per class."""
    batch, classes = student.shape
    y_s = [softmax(student[b], temperature) for b in range(batch)]  # y_s[b][c]
    y_t = [softmax(teacher[b], temperature) for b in range(batch)]
    inter = 1 - mean(pearson(y_s[b], y_t[b]) for b in range(batch))
    intra = 1 - mean(
        pearson([y_s[b][c] for b in range(batch)], [y_t[b][c] for b in range(batch)]) for c in range(classes)
    )
    return temperature**2 * inter, temperature**2 * intra


def naive_dist(student, teacher, temperature=4.0, inter_weight=1.0, intra_weight=1.0):
    """``T^2 (inter_weight * inter + intra_weight * intra)``."""
    inter, intra = naive_dist_terms(student, teacher, temperature)
    return inter_weight * inter + intra_weight * intra


# ---------------------------------------------------------------------------------------- LSKD
def standardize(row):
    """``(z - mean z) / (1e-7 + std z)`` of one row, ``std`` the unbiased (``N - 1``) deviation. A 1-D tensor."""
    n = len(row)
    row_mean = mean(row[c] for c in range(n))
    variance = sum((row[c] - row_mean) ** 2 for c in range(n)) / (n - 1)
    std = torch.sqrt(variance)
    return torch.stack([(row[c] - row_mean) / (STANDARDIZE_EPS + std) for c in range(n)])


def naive_standardize(logits):
    """Every row of ``(B, C)`` logits standardised."""
    return torch.stack([standardize(logits[b]) for b in range(logits.shape[0])])


def naive_lskd(student, teacher, temperature=2.0):
    """KD on the standardised logits of both models."""
    return naive_kd(naive_standardize(student), naive_standardize(teacher), temperature)


# ---------------------------------------------------------------------------------------- WTTM
def naive_wttm(student, teacher, temperature=4.0):
    """``mean_b U_b KL(q_b || softmax(z_s)_b)``, ``q = p_t^(1/T) / U``, ``U = sum_c p_t,c^(1/T)``,
    ``p_t = softmax(z_t)``; the student at temperature 1 and no ``T^2``.
    """
    batch, classes = student.shape
    total = 0.0
    for b in range(batch):
        p_t = softmax(teacher[b])
        powered = [p_t[c] ** (1 / temperature) for c in range(classes)]
        u = sum(powered)
        q = [powered[c] / u for c in range(classes)]
        log_p_s = log_softmax(student[b])
        total = total + u * sum(q[c] * (torch.log(q[c]) - log_p_s[c]) for c in range(classes))
    return total / batch


# ---------------------------------------------------------------------------------------- CTKD
def naive_ctkd_temperature(theta, min_temperature=1.0, max_temperature=21.0):
    """``T_min + (T_max - T_min) * sigmoid(theta)``, the sigmoid written out."""
    return min_temperature + (max_temperature - min_temperature) / (1 + torch.exp(-theta))


def naive_reversal_strength(epoch, reversal_epochs):
    """``lambda(e) = (1 - cos(pi * min(e, L) / L)) / 2``."""
    return (1 - math.cos(math.pi * min(epoch, reversal_epochs) / reversal_epochs)) / 2


# --------------------------------------------------------------------------------------- TeKAP
def naive_tekap(student, teacher, noise, temperature=4.0, noise_weight=0.8, noise_scale=0.1):
    """``KD(z_s, z_t) + noise_weight * sum_k KD(z_s, (1 - s) z_t + s eps_k)``, each KD ``T^2``-scaled."""
    batch, classes = student.shape
    total = naive_kd(student, teacher, temperature)
    for k in range(noise.shape[0]):
        perturbed = torch.stack(
            [
                torch.stack([(1 - noise_scale) * teacher[b, c] + noise_scale * noise[k, b, c] for c in range(classes)])
                for b in range(batch)
            ]
        )
        total = total + noise_weight * naive_kd(student, perturbed, temperature)
    return total


# ----------------------------------------------------------------------------------------- SDD
def naive_sdd(student_regions, teacher_regions, target, temperature=4.0):
    """``sum_{b, r} w_{b, r} T^2 KL_{b, r} / (B R)``.

    ``w_{b, r} = 2`` where the teacher's region ``r`` and its region 0 differ in being right about
    ``y_b`` (one right, one wrong), else 1.
    """
    batch, regions, _ = student_regions.shape
    total = 0.0
    for b in range(batch):
        y = int(target[b])
        globally_right = argmax(teacher_regions[b, 0]) == y
        for r in range(regions):
            locally_right = argmax(teacher_regions[b, r]) == y
            weight = 2.0 if locally_right != globally_right else 1.0
            kl_br = temperature**2 * kl(
                log_softmax(teacher_regions[b, r], temperature), log_softmax(student_regions[b, r], temperature)
            )
            total = total + weight * kl_br
    return total / (batch * regions)


def naive_pyramid_logits(model, images, scales=(1, 2, 4)):
    """Region logits ``(B, R, C)``: every cell of an ``s x s`` grid of the last feature map averaged, then classified.

    Cells run scale by scale and row by row; cell ``(i, j)`` covers rows ``floor(i H / s)`` to
    ``ceil((i + 1) H / s)`` (exclusive) and the same for columns, which is an even split when
    ``s`` divides the map.
    """
    feature_map = model.forward_features(images)  # (B, D, H, W)
    height, width = feature_map.shape[2:]
    classifier = model.get_classifier()
    regions = []
    for s in scales:
        for i in range(s):
            for j in range(s):
                rows = range(math.floor(i * height / s), math.ceil((i + 1) * height / s))
                cols = range(math.floor(j * width / s), math.ceil((j + 1) * width / s))
                cell_sum = sum(feature_map[:, :, h, w] for h in rows for w in cols)  # (B, D)
                regions.append(classifier(cell_sum / (len(rows) * len(cols))))
    return torch.stack(regions, 1)
