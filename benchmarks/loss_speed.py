"""Forward + backward time and peak extra memory of the losses, as ratios to KD written the usual way.

Candidates (``--methods``; all by default). The toolkit's losses run with their defaults, input
check included (``validate=True``), as a user calls them; ``-unchecked`` runs without it:

* ``kd-kl_div``: the common way to write KD (``F.kl_div`` of ``log_softmax`` and ``softmax``,
  batch mean, ``T^2``, as mdistiller and most KD code bases do) with no input check: the time
  reference, the ``/ kl_div KD`` column, and always measured;
* ``kd``: ``kd_loss`` (fused, closed-form backward), the memory reference (``/ kd_loss``), also
  always measured; ``kd-unchecked``; ``kd-traced``: ``kd_loss(fused=False)``, every step recorded
  by autograd;
* ``dkd``: ``dkd_loss`` (fused); ``dkd-usual``: DKD from its definition in autograd (softmaxes,
  the binary target distribution, the non-target softmax with the target masked), no check;
* ``ldrrld``: ``ldrrld_loss`` as the toolkit runs it (fused; on a CPU the compiled C kernel of
  ``ldrrld_core.kernels.cpu_ldrrld``, on CUDA the Triton kernel), ``ldrrld-unchecked``,
  ``ldrrld-torch`` (the same node with its torch form, kernels switched off), ``ldrrld-traced``
  (``fused=False``) and ``ldrrld-compiled`` (``torch.compile`` of the traced form; skipped with
  a note if it fails);
* ``naive``: one masked softmax over all classes per class combination
  (``masked_reference.py``); only for ``C <= --naive-max-classes``;
* the six baselines (:data:`BASELINES`), each its pure term with its defaults, fused, as a user
  calls it: ``dist`` (``dist_loss``), ``lskd``, ``wttm``, ``ctkd`` (``learned_temperature_kd``,
  the temperature a tensor that receives gradient too; the pure term has no input check, the
  module does), ``tekap`` (``tekap_loss`` on 3 noise draws made beforehand: the module draws
  them from its generator, outside this time) and ``sdd`` (``sdd_loss``); each with a
  ``-traced`` twin (``fused=False``, every step recorded by autograd);
* ``sdd`` reads region logits ``(B, 21, C)`` (scales 1, 2, 4), so its reference is
  ``kd-kl_div-regions``: kl_div KD on the same ``B * 21`` rows of ``C`` logits, with the same
  normalisation (a mean over every region of every sample). The three are printed in a second
  table, with their time over plain kl_div KD at ``(B, C)`` too (what SDD costs over the KD it
  replaces).

SDD's classifier cost (``--pyramid-models``, resnet8x4 by default): forward + backward of the
head on the model's last feature map, interleaved: its plain classifier (global average pool +
classifier), SDD's pyramid (pools at scales 1, 2, 4 + the classifier on all 21 regions) and the
student's whole forward + backward from images, as a third table: the pyramid over the plain
classifier, that ratio per region (``/ 21``) and the pyramid's extra time over the student's step.

Time: all candidates run interleaved in one process, so a noisy machine slows all alike; each
repeat times every candidate once, in an order rotated by one per repeat (whoever runs right
after the slow naive form finds cold caches). The region candidates (SDD) form a second such
group with ``kd-kl_div``, after the first: their large tensors would otherwise leave the caches
cold for the candidate that follows them. The table reports the median time of each and,
as ``/ kl_div KD``, the median of its per-repeat ratios to ``kd-kl_div``, with their interquartile range (``IQR``)
so the reader sees how noisy the run was. Rows over 1000 classes take long per repeat and get
half the repeats, at least ``--min-large-repeats`` (15). ``--clock cpu`` measures the process's
CPU time instead of wall time (robust on a shared CPU, meaningless on a GPU). While timing, glibc
is told to keep freed memory for reuse (``--pin-malloc``, default on; see :func:`pin_malloc`):
otherwise page faults on fresh memory, which come and go with the allocator's history, make up
most of KD's time at large C and most of the run-to-run spread.

Peak extra memory (``--memory``, default on): each candidate runs in a fresh subprocess, once to
warm up and once measured, its student gradient set to ``None`` before (as the trainer's
``zero_grad(set_to_none=True)`` does), so the figure includes the gradient and every
temporary. On CUDA it is ``torch.cuda.max_memory_allocated`` minus the memory allocated before
the call. On a CPU it is the peak resident set size (``VmHWM``, reset through
``/proc/self/clear_refs``) minus the resident size before the call, with glibc told to serve
every allocation over 64 KiB by ``mmap`` (``MALLOC_MMAP_THRESHOLD_=65536``) so that freed
buffers leave the resident set at once. Usage::

    python benchmarks/loss_speed.py                      # B=256, C in {100, 1000, 10000, 32000}, d=7
    python benchmarks/loss_speed.py --classes 100 1000 --repeats 20 --clock cpu --no-memory
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from masked_reference import masked_ldrrld  # noqa: E402

from ldrrld_core import dkd_loss, kd_loss, ldrrld_loss  # noqa: E402
from ldrrld_core.kernels import torch_only  # noqa: E402
from ldrrld_core.losses import (  # noqa: E402
    dist_loss,
    learned_temperature_kd,
    lskd_loss,
    pyramid_logits,
    sdd_loss,
    tekap_loss,
    wttm_loss,
)
from ldrrld_core.models.registry import create_model  # noqa: E402

METHODS = (
    "kd",
    "kd-unchecked",
    "kd-traced",
    "kd-kl_div",
    "dkd",
    "dkd-usual",
    "ldrrld",
    "ldrrld-unchecked",
    "ldrrld-torch",
    "ldrrld-traced",
    "ldrrld-compiled",
    "naive",
    "dist",
    "dist-traced",
    "lskd",
    "lskd-traced",
    "wttm",
    "wttm-traced",
    "ctkd",
    "ctkd-traced",
    "tekap",
    "tekap-traced",
    "sdd",
    "sdd-traced",
    "kd-kl_div-regions",
)
#: The six baselines of the seed's comparison, each timed through its pure function.
BASELINES = ("dist", "lskd", "wttm", "ctkd", "tekap", "sdd")
#: The time reference: every ``/ kl_div KD`` ratio divides by it.
REFERENCE = "kd-kl_div"
#: Candidates that read region logits ``(B, R, C)`` (SDD), and their time reference: ``F.kl_div``
#: KD on the same ``B * R`` rows of ``C`` logits.
REGION_METHODS = ("sdd", "sdd-traced", "kd-kl_div-regions")
REGION_REFERENCE = "kd-kl_div-regions"
#: SDD's default pyramid: scales 1, 2 and 4, so 1 + 4 + 16 = 21 regions.
SCALES = (1, 2, 4)
REGIONS = sum(s * s for s in SCALES)
#: TeKAP's perturbed teachers (the authors' 3).
PERTURBED = 3
#: Time over kl_div KD at most this, with the loss's defaults (issue 21; CPU, one thread, B=256, d=7).
TIME_TARGETS = {
    ("kd", 100): 1.1,
    ("kd", 1000): 1.1,
    ("kd", 32000): 1.1,
    ("ldrrld", 100): 2.0,
    ("ldrrld", 1000): 1.0,
    ("ldrrld", 32000): 0.8,
    # The six baselines (SDD: over kl_div KD on its B * 21 rows); CPU, one thread, B=256.
    **{(name, classes): 1.5 for name in BASELINES for classes in (100, 1000, 32000)},
}
MEMORY_TARGET = 1.2  # peak extra memory of LDRRLD / kd_loss at C=32,000


def kd_kl_div(student, teacher, temperature=4.0):
    """KD written the common way: autograd through ``log_softmax``, ``softmax`` and ``F.kl_div``."""
    log_q = F.log_softmax(student / temperature, dim=1)
    p = F.softmax(teacher / temperature, dim=1)
    return temperature**2 * F.kl_div(log_q, p, reduction="none").sum(1).mean()


def dkd_usual(student, teacher, target, alpha=1.0, beta=8.0, temperature=4.0):
    """DKD from its definition, in autograd: TCKD on ``[p_y, 1 - p_y]``, NCKD on the softmax without ``y``."""
    mask = F.one_hot(target, student.shape[1]).bool()
    p_s, p_t = F.softmax(student / temperature, dim=1), F.softmax(teacher / temperature, dim=1)
    b_s = torch.stack([p_s[mask], 1 - p_s[mask]], dim=1)  # (B, 2)
    b_t = torch.stack([p_t[mask], 1 - p_t[mask]], dim=1)
    tckd = (b_t * (b_t.log() - b_s.log())).sum(1).mean()
    log_n_s = F.log_softmax((student / temperature).masked_fill(mask, float("-inf")), dim=1)
    log_n_t = F.log_softmax((teacher / temperature).masked_fill(mask, float("-inf")), dim=1)
    nckd = (log_n_t.exp() * (log_n_t - log_n_s)).masked_fill(mask, 0.0).sum(1).mean()
    return temperature**2 * (alpha * tckd + beta * nckd)


def make_method(name: str, depth: int, target: torch.Tensor, noise: torch.Tensor | None = None):
    """``name`` as a function ``(student, teacher) -> scalar`` (the weighted distillation objective).

    The baselines run their pure function with its defaults, input check included: ``ctkd`` is
    KD at a temperature that receives gradient too (``learned_temperature_kd``, the pure term of
    CTKD; its module checks the inputs), ``tekap`` reads ``noise`` ``(K, B, C)``, drawn once
    beforehand (the module draws it from its generator at each step, outside this time), and the
    region candidates (:data:`REGION_METHODS`) are called with region logits ``(B, R, C)``.
    """
    if name == "kd":
        return lambda s, t: kd_loss(s, t, 4.0)
    if name == "kd-unchecked":
        return lambda s, t: kd_loss(s, t, 4.0, validate=False)
    if name == "kd-traced":
        return lambda s, t: kd_loss(s, t, 4.0, validate=False, fused=False)
    if name == "kd-kl_div":
        return kd_kl_div
    if name == "dkd":
        return lambda s, t: dkd_loss(s, t, target, 1.0, 8.0, 4.0)
    if name == "dkd-usual":
        return lambda s, t: dkd_usual(s, t, target)
    if name == "ldrrld":
        return lambda s, t: ldrrld_loss(s, t, depth=depth).total(10.5, 7.0)
    if name in ("ldrrld-unchecked", "ldrrld-traced"):
        fused = name == "ldrrld-unchecked"
        return lambda s, t: ldrrld_loss(s, t, depth=depth, validate=False, fused=fused).total(10.5, 7.0)
    if name == "ldrrld-torch":

        def torch_form(s, t):
            with torch_only():
                return ldrrld_loss(s, t, depth=depth, validate=False).total(10.5, 7.0)

        return torch_form
    if name == "ldrrld-compiled":
        traced = torch.compile(
            lambda s, t: ldrrld_loss(s, t, depth=depth, validate=False, fused=False).total(10.5, 7.0)
        )
        return traced
    if name == "naive":

        def naive(s, t):
            local, rntk = masked_ldrrld(s, t, depth)
            return 10.5 * local + 7.0 * rntk

        return naive
    if name.removesuffix("-traced") in BASELINES:
        return baseline(name.removesuffix("-traced"), not name.endswith("-traced"), target, noise)
    if name == "kd-kl_div-regions":
        return lambda s, t: kd_kl_div(s.flatten(0, 1), t.flatten(0, 1))
    raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")


def baseline(name: str, fused: bool, target: torch.Tensor, noise: torch.Tensor | None):
    """A baseline's pure term with its defaults, fused or traced (``-traced``: ``fused=False``)."""
    if name == "dist":
        return lambda s, t: dist_loss(s, t, 4.0, fused=fused)
    if name == "lskd":
        return lambda s, t: lskd_loss(s, t, 2.0, fused=fused)
    if name == "wttm":
        return lambda s, t: wttm_loss(s, t, 4.0, fused=fused)
    if name == "ctkd":
        temperature = torch.tensor(4.0, device=target.device, requires_grad=True)

        def ctkd(s, t):
            temperature.grad = None
            return learned_temperature_kd(s, t, temperature, fused=fused)

        return ctkd
    if name == "tekap":
        return lambda s, t: tekap_loss(s, t, noise, 4.0, fused=fused)
    return lambda s, t: sdd_loss(s, t, target, 4.0, fused=fused)


def inputs(batch: int, classes: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    student = (3 * torch.randn(batch, classes, generator=g)).to(device).requires_grad_(True)
    teacher = (3 * torch.randn(batch, classes, generator=g)).to(device)
    target = torch.randint(0, classes, (batch,), generator=g).to(device)
    return student, teacher, target


def region_inputs(batch: int, classes: int, device: torch.device):
    """Student and teacher region logits ``(B, R, C)`` for the :data:`REGION_METHODS`."""
    g = torch.Generator().manual_seed(1)
    student = (3 * torch.randn(batch, REGIONS, classes, generator=g)).to(device).requires_grad_(True)
    teacher = (3 * torch.randn(batch, REGIONS, classes, generator=g)).to(device)
    return student, teacher


def tekap_noise(batch: int, classes: int, device: torch.device) -> torch.Tensor:
    """TeKAP's noise ``(K, B, C)``: standard normal draws, one slice per perturbed teacher."""
    return torch.randn(PERTURBED, batch, classes, generator=torch.Generator().manual_seed(2)).to(device)


def candidates(names, batch: int, classes: int, depth: int, device: torch.device) -> dict:
    """``{name: (make the function, student, teacher)}``: each candidate with the inputs it reads."""
    student, teacher, target = inputs(batch, classes, device)
    noise = tekap_noise(batch, classes, device) if {"tekap", "tekap-traced"} & set(names) else None
    regions = region_inputs(batch, classes, device) if set(names) & set(REGION_METHODS) else None
    return {
        name: (
            lambda name=name: make_method(name, depth, target, noise),
            *(regions if name in REGION_METHODS else (student, teacher)),
        )
        for name in names
    }


def run_once(fn, student, teacher) -> None:
    student.grad = None
    fn(student, teacher).backward()


def time_once(fn, student, teacher, device: torch.device, clock) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = clock()
    run_once(fn, student, teacher)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return clock() - start


def wanted(methods, classes: int, naive_max: int) -> list[str]:
    return [m for m in methods if m != "naive" or classes <= naive_max]


def reference_of(name: str) -> str:
    """The candidate whose time ``name``'s ``/ kl_div KD`` ratio divides by: kl_div KD on the same rows."""
    return REGION_REFERENCE if name in REGION_METHODS else REFERENCE


def _ratios(samples: dict, name: str, reference: str, statistic, ms: dict) -> tuple[float, float, float]:
    per_repeat = [a / b for a, b in zip(samples[name], samples[reference])]
    q1, _, q3 = statistics.quantiles(per_repeat, n=4) if len(per_repeat) > 1 else per_repeat * 3
    ratio = statistics.median(per_repeat) if statistic is statistics.median else ms[name] / ms[reference]
    return ratio, q1, q3


def measure_time(
    batch: int,
    classes: int,
    depth: int,
    device: torch.device,
    methods,
    repeats: int,
    clock,
    statistic=statistics.median,
    warmup: int = 3,
) -> tuple[dict, dict, dict[str, str], dict]:
    """Milliseconds per candidate, its ratios to its reference, a note for each candidate that failed,
    and the region candidates' ratios to plain kl_div KD.

    Returns ``(ms, ratios, notes, plain_ratios)``: ``ms[name]`` is ``statistic`` of the repeats;
    ``ratios[name]`` holds ``(ratio, q1, q3)`` against :func:`reference_of` ``name`` (kl_div KD on
    the same logit rows): with the median, the median of the per-repeat ratios to the reference
    (both timed in the same repeat, so a slow phase of the machine slows both) and their quartiles;
    with the minimum, the ratio of the minima and the quartiles of the per-repeat ratios.
    ``plain_ratios`` holds the same against :data:`REFERENCE` (``(B, C)``) for the region candidates.
    """
    fns, notes, args = {}, {}, {}
    for name, (make, student, teacher) in candidates(methods, batch, classes, depth, device).items():
        try:
            fn = make()
            run_once(fn, student, teacher)  # compiles, if it does
            fns[name], args[name] = fn, (student, teacher)
        except Exception as error:  # noqa: BLE001 - e.g. no C++ compiler for torch.compile
            notes[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"
    samples = {name: [] for name in fns}
    order = list(fns)
    for r in range(warmup + repeats):
        for name in order[r % len(order) :] + order[: r % len(order)]:  # each goes first in turn
            elapsed = time_once(fns[name], *args[name], device, clock)
            if r >= warmup:
                samples[name].append(elapsed)
    ms = {name: 1e3 * statistic(v) for name, v in samples.items()}
    ratios = {name: _ratios(samples, name, reference_of(name), statistic, ms) for name in samples}
    plain = {name: _ratios(samples, name, REFERENCE, statistic, ms) for name in samples if name in REGION_METHODS}
    return ms, ratios, notes, plain


def measure_memory(name: str, batch: int, classes: int, depth: int, device: str) -> int | None:
    """Peak extra bytes of one forward + backward of ``name``, in a fresh subprocess (see the module doc)."""
    env = {
        **os.environ,
        "MALLOC_MMAP_THRESHOLD_": "65536",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        __file__,
        "--memory-child",
        name,
        "--batch",
        str(batch),
        "--classes",
        str(classes),
        "--depth",
        str(depth),
        "--device",
        device,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_extra_bytes"]


def _memory_child(name: str, batch: int, classes: int, depth: int, device: torch.device) -> int:
    make, student, teacher = candidates([name], batch, classes, depth, device)[name]
    fn = make()
    run_once(fn, student, teacher)  # warm-up: lazy init, compilation
    if device.type == "cuda":
        torch.cuda.synchronize()
        student.grad = None
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run_once(fn, student, teacher)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    student.grad = None
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set size
    before = _status_kib("VmRSS")
    run_once(fn, student, teacher)
    return 1024 * (_status_kib("VmHWM") - before)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def table(rows: list[dict], with_memory: bool) -> str:
    """The candidates on ``(B, C)`` logits; the region candidates are :func:`region_table`'s."""
    head = "| device | C | method | ms | / kl_div KD (target) | / kl_div KD, IQR |"
    head += " peak extra MiB | / kd_loss (target) |" if with_memory else ""
    lines = [head, "|" + "---|" * head.count(" |")]
    for row in rows:
        if row["method"] in REGION_METHODS:
            continue
        cells = [row["device"], row["classes"], row["method"], *_time_cells(row)]
        if with_memory:
            is_target = row["method"] == "ldrrld" and row["classes"] == 32000
            cells += _memory_cells(row, "peak_over_kd", f" (<= {MEMORY_TARGET})" if is_target else "")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def region_table(rows: list[dict], with_memory: bool) -> str:
    """The candidates on region logits ``(B, R, C)``: over kl_div KD on the same ``B * R`` rows, and over plain KD."""
    head = f"| device | C | method (B x {REGIONS} regions) | ms | / kl_div KD, same rows (target) | IQR |"
    head += " / kl_div KD at (B, C) | IQR |"
    head += " peak extra MiB | / kl_div KD, same rows |" if with_memory else ""
    lines = [head, "|" + "---|" * head.count(" |")]
    for row in rows:
        if row["method"] not in REGION_METHODS:
            continue
        cells = [row["device"], row["classes"], row["method"], *_time_cells(row)]
        if "ms_over_plain_kl_div" in row:
            q1, q3 = row["ms_over_plain_kl_div_iqr"]
            cells += [f"{row['ms_over_plain_kl_div']:.2f}", f"{q1:.2f}-{q3:.2f}"]
        else:
            cells += ["-", "-"]
        if with_memory:
            cells += _memory_cells(row, "peak_over_kl_div_regions", "")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def _time_cells(row: dict) -> list[str]:
    if "ms" not in row:
        return ["-", row["note"], "-"]
    target = TIME_TARGETS.get((row["method"], row["classes"]))
    q1, q3 = row["ms_over_kl_div_iqr"]
    return [
        f"{row['ms']:.3f}",
        f"{row['ms_over_kl_div']:.2f}" + (f" (<= {target})" if target else ""),
        f"{q1:.2f}-{q3:.2f}",
    ]


def _memory_cells(row: dict, key: str, target: str) -> list[str]:
    if row.get("peak_mib") is None:
        return ["-", "-"]
    return [f"{row['peak_mib']:.1f}", f"{row[key]:.2f}{target}" if key in row else "-"]


def repeats_for(classes: int, args: argparse.Namespace) -> int:
    """Timed repeats of a row: ``--repeats`` up to 1000 classes, above that half, >= ``--min-large-repeats``."""
    return args.repeats if classes <= 1000 else max(args.min_large_repeats, args.repeats // 2)


def measure_rows(device_name: str, classes: int, methods, args: argparse.Namespace, clock) -> list[dict]:
    """The table rows of one device and class count: time, ratios to KD and (``--memory``) peak memory."""
    names = wanted(methods, classes, args.naive_max_classes)
    repeats = repeats_for(classes, args)
    statistic = statistics.median if args.statistic == "median" else min
    # The region candidates run as a second interleaved group with kl_div KD: each repeat passes
    # over their (B, 21, C) tensors, which would leave the caches cold for whichever small
    # candidate follows them in the rotation (always the same one).
    groups = [[name for name in names if name not in REGION_METHODS]]
    if set(names) & set(REGION_METHODS):
        groups.append([REFERENCE, *(name for name in names if name in REGION_METHODS)])
    ms, ratios, notes, plain = {}, {}, {}, {}
    for group in groups:
        measured = measure_time(
            args.batch, classes, args.depth, torch.device(device_name), group, repeats, clock, statistic
        )
        for collected, new in zip((ms, ratios, notes, plain), measured):
            collected.update({name: value for name, value in new.items() if name not in collected})
    peaks = {}
    if args.memory:
        peaks = {
            name: measure_memory(name, args.batch, classes, args.depth, device_name) for name in names if name in ms
        }
    rows = []
    for name in names:
        row = {"device": device_name, "classes": classes, "batch": args.batch, "depth": args.depth, "method": name}
        if name in ms:
            ratio, q1, q3 = ratios[name]
            row.update(
                ms=round(ms[name], 4),
                ms_over_kl_div=round(ratio, 3),
                ms_over_kl_div_iqr=[round(q1, 3), round(q3, 3)],
                repeats=repeats,
            )
            if name in plain:
                ratio, q1, q3 = plain[name]
                row.update(ms_over_plain_kl_div=round(ratio, 3), ms_over_plain_kl_div_iqr=[round(q1, 3), round(q3, 3)])
        else:
            row["note"] = notes[name]
        if peaks.get(name) is not None:
            row["peak_mib"] = round(peaks[name] / 2**20, 2)
            if name in REGION_METHODS and peaks.get(REGION_REFERENCE):
                row["peak_over_kl_div_regions"] = round(peaks[name] / peaks[REGION_REFERENCE], 3)
            elif name not in REGION_METHODS and peaks.get("kd"):
                row["peak_over_kd"] = round(peaks[name] / peaks["kd"], 3)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


class _Head(torch.nn.Module):
    """A model past its last feature map: ``forward_features`` is the identity, the classifier the model's."""

    def __init__(self, classifier: torch.nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward_features(self, feature_map: torch.Tensor) -> torch.Tensor:
        return feature_map

    def get_classifier(self) -> torch.nn.Module:
        return self.classifier


PYRAMID_PARTS = ("classifier", "pyramid", "student-step")


def measure_pyramid(
    model_name: str, batch: int, device: torch.device, repeats: int, clock, statistic=statistics.median, warmup=3
) -> list[dict]:
    """SDD's classifier cost on ``model_name``'s last feature map, forward + backward, as rows.

    ``classifier``: the model's own head, global average pool + classifier (``pyramid_logits`` at
    scale 1 alone), the reference; ``pyramid``: SDD's, average pools at scales 1, 2, 4 and the
    classifier on all 21 regions (``pyramid_logits``). Both read the same feature map ``(B, D, H, W)``
    (which receives gradient, as do the classifier's weights), with a fixed output gradient.
    ``student-step``: the model's whole forward + backward from images (train mode), for scale.
    Interleaved and reported as :func:`measure_time` does, ratios over ``classifier``.
    """
    model = create_model(model_name).to(device).train()
    head = _Head(model.get_classifier())
    images = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(3)).to(device)
    with torch.no_grad():
        shape = model.forward_features(images[:2]).shape[1:]
    feature_map = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(4)).to(device)
    feature_map.requires_grad_(True)
    g = torch.Generator().manual_seed(5)
    out_grads = {
        "classifier": torch.randn(batch, 1, model.num_classes, generator=g).to(device),
        "pyramid": torch.randn(batch, REGIONS, model.num_classes, generator=g).to(device),
        "student-step": torch.randn(batch, model.num_classes, generator=g).to(device),
    }
    calls = {
        "classifier": lambda: pyramid_logits(head, feature_map, (1,)),
        "pyramid": lambda: pyramid_logits(head, feature_map, SCALES),
        "student-step": lambda: model(images),
    }

    def once(part: str) -> float:
        model.zero_grad(set_to_none=True)
        feature_map.grad = None
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        calls[part]().backward(out_grads[part])
        if device.type == "cuda":
            torch.cuda.synchronize()
        return clock() - start

    samples = {part: [] for part in PYRAMID_PARTS}
    for r in range(warmup + repeats):
        for part in PYRAMID_PARTS[r % 3 :] + PYRAMID_PARTS[: r % 3]:
            elapsed = once(part)
            if r >= warmup:
                samples[part].append(elapsed)
    ms = {part: 1e3 * statistic(v) for part, v in samples.items()}
    map_shape = " x ".join(map(str, shape))
    rows = []
    for part in PYRAMID_PARTS:
        ratio, q1, q3 = _ratios(samples, part, "classifier", statistic, ms)
        row = {"method": "pyramid", "model": model_name, "map": map_shape, "batch": batch, "part": part}
        row["ms"] = round(ms[part], 4)
        row.update(ms_over_classifier=round(ratio, 3), ms_over_classifier_iqr=[round(q1, 3), round(q3, 3)])
        if part == "pyramid":
            row["per_region"] = round(ratio / REGIONS, 3)
            extra = [p - c for p, c in zip(samples["pyramid"], samples["classifier"])]
            row["extra_over_student_step"] = round(
                statistics.median(e / s for e, s in zip(extra, samples["student-step"])), 4
            )
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def pyramid_table(rows: list[dict]) -> str:
    head = f"| device | model (last map) | part | ms | / classifier | IQR | per region (/ {REGIONS}) |"
    lines = [head, "|" + "---|" * head.count(" |")]
    for row in rows:
        q1, q3 = row["ms_over_classifier_iqr"]
        per_region = f"{row['per_region']:.2f}" if "per_region" in row else "-"
        cells = [row["device"], f"{row['model']} ({row['map']})", row["part"], f"{row['ms']:.3f}"]
        cells += [f"{row['ms_over_classifier']:.2f}", f"{q1:.2f}-{q3:.2f}", per_region]
        lines.append("| " + " | ".join(cells) + " |")
    extra = [
        f"{row['model']}: {100 * row['extra_over_student_step']:.1f}%"
        for row in rows
        if "extra_over_student_step" in row
    ]
    lines.append(
        "the pyramid's extra time (pyramid - classifier) over the student's forward + backward: " + ", ".join(extra)
    )
    return "\n".join(lines)


#: glibc's ``mallopt`` parameters: the heap top to keep before trimming, and the size from which
#: a block gets its own ``mmap`` (returned to the system, and faulted in again, at every free).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def pin_malloc() -> bool:
    """Tell glibc to keep freed memory for reuse, as jemalloc and tcmalloc do. ``True`` if it applied.

    With glibc's adaptive defaults, a large tensor may get fresh pages from the system at every
    step or reuse old ones, depending on what was freed before; the page faults then dominate
    the time of a memory-bound loss and change from run to run (KD at C = 32,000 took 23 ms pinned
    and 50-77 ms unpinned on the project's 2-core machine). Pinned, the times measure the work
    itself. A no-op where the C library has no ``mallopt`` (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(parameter, 2**31 - 1) == 1 for parameter in (M_TRIM_THRESHOLD, M_MMAP_THRESHOLD))


def header(args: argparse.Namespace) -> str:
    """The line above the table: what was measured and how."""
    ratio = "median of per-repeat ratios" if args.statistic == "median" else "ratio of minima"
    checked = (
        "the toolkit's losses with their input check (validate=True; ctkd's pure term has none), kl_div KD without"
    )
    memory = "; peak extra memory in a fresh process per candidate" if args.memory else ""
    return (
        f"torch {torch.__version__}; forward+backward, {args.statistic} of interleaved repeats "
        f"({args.repeats} for C <= 1000, {repeats_for(1001, args)} above), {args.clock} clock; "
        f"/ kl_div KD: {ratio}, IQR: their interquartile range; {checked}; B={args.batch}, d={args.depth}; "
        f"malloc {'pinned (freed memory kept)' if args.malloc_pinned else 'with glibc defaults'}{memory}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--classes", type=int, nargs="+", default=[100, 1000, 10000, 32000])
    parser.add_argument("--depth", type=int, default=7)
    parser.add_argument(
        "--repeats",
        type=int,
        default=30,
        help="timed repeats (rows over 1000 classes get half, at least --min-large-repeats)",
    )
    parser.add_argument(
        "--min-large-repeats", type=int, default=15, help="timed repeats at least, for rows over 1000 classes"
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--naive-max-classes", type=int, default=1000)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or this process's CPU time (CPU devices only)",
    )
    parser.add_argument(
        "--statistic",
        choices=("median", "min"),
        default="median",
        help="of the repeats: the median, or the minimum (the least disturbed run)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        action="append",
        help="repeatable; default: cpu, plus cuda when a GPU is visible",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure peak extra memory, one fresh subprocess per candidate",
    )
    parser.add_argument(
        "--pin-malloc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep freed memory for reuse while timing (glibc; see pin_malloc), as jemalloc does",
    )
    parser.add_argument(
        "--pyramid-models",
        nargs="*",
        default=["resnet8x4"],
        help="CIFAR models whose last map times SDD's pyramid against the plain classifier (none: skip)",
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)

    if args.memory_child:
        device = torch.device((args.device or ["cpu"])[0])
        peak = _memory_child(args.memory_child, args.batch, args.classes[0], args.depth, device)
        print(json.dumps({"peak_extra_bytes": peak}))
        return 0

    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is visible")
    if args.clock == "cpu" and "cuda" in devices:
        parser.error("--clock cpu measures CPU time; time a GPU with --clock wall")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    args.malloc_pinned = args.pin_malloc and pin_malloc()
    # Both references first: every time ratio needs kl_div KD, every memory ratio kd_loss (and
    # the region candidates kl_div KD on their rows).
    methods = tuple(dict.fromkeys(("kd", REFERENCE) + tuple(args.methods)))
    if set(methods) & set(REGION_METHODS):
        methods = tuple(dict.fromkeys((*methods, REGION_REFERENCE)))
    rows, pyramid_rows = [], []
    statistic = statistics.median if args.statistic == "median" else min
    for device_name in devices:
        for classes in args.classes:
            rows += measure_rows(device_name, classes, methods, args, clock)
        for model_name in args.pyramid_models:
            pyramid_rows += [
                {"device": device_name, **row}
                for row in measure_pyramid(
                    model_name, args.batch, torch.device(device_name), args.repeats, clock, statistic
                )
            ]
    names = {"cpu": f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"}
    if torch.cuda.is_available():
        names["cuda"] = torch.cuda.get_device_name()
    for row in rows + pyramid_rows:
        row["device"] = names[row["device"]]
    print(header(args))
    print(table(rows, args.memory))
    if any(row["method"] in REGION_METHODS for row in rows):
        print()
        print(
            f"SDD reads region logits (B, {REGIONS}, C): its time over F.kl_div KD on the same B x {REGIONS} "
            "rows of C logits (the fair reference, same normalisation: a mean over every region of every "
            "sample), and over F.kl_div KD at (B, C), the plain KD it replaces"
        )
        print(region_table(rows, args.memory))
    if pyramid_rows:
        print()
        print(
            f"SDD's classifier cost: forward+backward of the head on a model's last feature map, B={args.batch}, "
            f"{statistic.__name__} of {args.repeats} interleaved repeats; classifier = global average pool + the "
            f"model's classifier, pyramid = average pools at scales {', '.join(map(str, SCALES))} + the classifier "
            f"on all {REGIONS} regions; per region = (pyramid / classifier) / {REGIONS}"
        )
        print(pyramid_table(pyramid_rows))
    if args.json:
        args.json.write_text(json.dumps(rows + pyramid_rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
