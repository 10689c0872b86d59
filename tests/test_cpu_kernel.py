"""The compiled CPU kernels (the fused LDRRLD forward, the top-d search, TeKAP and DIST) against the torch forms."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from naive import naive_ldrrld, naive_top

from ldrrld_core import ldrrld_loss, relations
from ldrrld_core.kernels import cpu_ldrrld, torch_only
from ldrrld_core.losses import dist_loss, dist_terms, fused, tekap_loss
from ldrrld_core.relations import cached_pair_weights, top_classes

#: Tests of the kernel itself; those of the fallbacks and switches run without a compiler too.
needs_kernel = pytest.mark.skipif(
    not cpu_ldrrld.available(torch.device("cpu"), torch.float32), reason="no C compiler for the CPU kernel"
)

NAMES = ("local_kl", "rntk_kl", "pair_kl", "topd_kl", "rest_grad", "top_grad")
#: float64 to round-off; float32 to its round-off on terms as large as the tempered logit gaps (<= 10 here),
#: which the torch form meets too (both are checked against float64).
TOLERANCE = {torch.float32: {"rtol": 1e-5, "atol": 5e-6}, torch.float64: {"rtol": 1e-12, "atol": 1e-14}}


def logits(batch, classes, seed, scale=3.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(batch, classes, generator=g, dtype=torch.float64)).to(dtype)


def rows(form, student, teacher, top, depth, dtype, temperature):
    first, second, weights = cached_pair_weights(depth, 0.05, dtype=dtype)
    return form(student.to(dtype), teacher.to(dtype), top, weights, first, second, temperature, dtype)


def both_forms(student, teacher, depth, dtype, temperature=4.0, rank_by=None, **tolerance):
    """The kernel's rows and what they must equal: ``(got, [wanted, ...])``.

    In float64 the torch form; in float32 both the torch form and the float64 truth (the torch
    form in float64), so the float32 tolerance is shown to be what float32 arithmetic reaches.
    """
    top = (rank_by if rank_by is not None else student).topk(depth, 1).indices
    got = rows(cpu_ldrrld.ldrrld_rows, student, teacher, top, depth, dtype, temperature)
    assert got is not None, "the kernel declined arguments it should handle"
    wanted = [rows(fused._ldrrld_rows, student, teacher, top, depth, dtype, temperature)]
    if dtype == torch.float32:
        truth = rows(fused._ldrrld_rows, student, teacher, top, depth, torch.float64, temperature)
        wanted = [tuple(None if x is None else x.float() for x in truth)]
        torch_form = rows(fused._ldrrld_rows, student, teacher, top, depth, dtype, temperature)
        assert_rows_close(torch_form, wanted[0], dtype, **tolerance)
    return got, wanted[0]


def assert_rows_close(got, want, dtype, **tolerance):
    for name, a, b in zip(NAMES, got, want):
        if b is None:
            assert a is None, name
            continue
        assert a.dtype == b.dtype == dtype, name
        torch.testing.assert_close(a, b, **(tolerance or TOLERANCE[dtype]), msg=name)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    "batch,classes,depth",
    [(64, 100, 7), (16, 1000, 7), (8, 4096, 5), (5, 9, 9), (3, 10, 2), (4, 33, 12), (2, 300, 64), (1, 3, 2)],
)
def test_kernel_rows_equal_torch_rows(batch, classes, depth, dtype):
    student, teacher = logits(batch, classes, 1, dtype=dtype), logits(batch, classes, 2, dtype=dtype)
    assert_rows_close(*both_forms(student, teacher, depth, dtype), dtype)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("temperature", [1.0, 3.0, 8.0])
def test_kernel_rows_equal_torch_rows_ranked_by_the_teacher_at_any_temperature(dtype, temperature):
    student, teacher = logits(32, 50, 3, dtype=dtype), logits(32, 50, 4, dtype=dtype)
    got, want = both_forms(student, teacher, 6, dtype, temperature, rank_by=teacher)
    assert_rows_close(got, want, dtype)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_extreme_logits_stay_finite_and_exact(dtype):
    # Tempered gaps of hundreds (thousands in float64): exp of a gap underflows, so pairs leave
    # the ratio form for the gap form, and the remaining softmaxes hold exact zeros.
    scale = 400.0 if dtype == torch.float32 else 4000.0
    student, teacher = logits(16, 40, 5, scale, dtype), logits(16, 40, 6, scale, dtype)
    tolerance = {"rtol": 1e-5, "atol": 1e-3 if dtype == torch.float32 else 1e-9}
    got, want = both_forms(student, teacher, 7, dtype, **tolerance)
    for tensor in got:
        assert tensor is None or torch.isfinite(tensor).all()
    # A KL of a few hundred computed as differences of terms in the thousands: round-off relative to those.
    assert_rows_close(got, want, dtype, **tolerance)


@needs_kernel
def test_strided_and_half_precision_inputs_give_the_loss_of_contiguous_float32_ones():
    base_s, base_t = logits(12, 64, 7), logits(12, 64, 8)
    want = ldrrld_loss(base_s, base_t)
    wide = torch.zeros(12, 128)
    wide[:, ::2] = base_s  # every other column: a class stride of 2
    transposed = base_t.t().contiguous().t()  # column-major rows
    got = ldrrld_loss(wide[:, ::2], transposed)
    for name in ("local", "rntk", "pair_kl", "rntk_kl"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), msg=name)
    half = ldrrld_loss(base_s.bfloat16(), base_t.bfloat16())
    reference = ldrrld_loss(base_s.bfloat16().float(), base_t.bfloat16().float())
    torch.testing.assert_close(half.local, reference.local)
    assert half.local.dtype == torch.float32


@needs_kernel
def test_loss_and_gradient_through_the_kernel_equal_the_naive_reference(monkeypatch):
    student = logits(6, 15, 9, dtype=torch.float64).requires_grad_(True)
    teacher = logits(6, 15, 10, dtype=torch.float64)
    calls = []
    original = cpu_ldrrld.ldrrld_rows
    monkeypatch.setattr(cpu_ldrrld, "ldrrld_rows", lambda *args: calls.append(1) or original(*args))
    terms = ldrrld_loss(student, teacher, depth=5)
    monkeypatch.undo()
    assert calls, "ldrrld_loss on a CPU did not run the kernel"
    local, rntk = naive_ldrrld(student, teacher, 5)
    for got, want in ((terms.local, local), (terms.rntk, rntk)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)
        (grad,) = torch.autograd.grad(got, student, retain_graph=True)
        (grad_want,) = torch.autograd.grad(want, student, retain_graph=True)
        torch.testing.assert_close(grad, grad_want, rtol=1e-10, atol=1e-13)
    assert torch.autograd.gradcheck(lambda s: ldrrld_loss(s, teacher, depth=5).total(2.0, 3.0), (student,))


@needs_kernel
def test_rows_split_over_threads_give_bitwise_the_one_thread_result(monkeypatch):
    student, teacher = logits(64, 3000, 11), logits(64, 3000, 12)
    top = top_classes(student, 7)
    first, second, weights = cached_pair_weights(7, 0.05)
    args = (student, teacher, top, weights, first, second, 4.0, torch.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        assert cpu_ldrrld._threads(64, 3000) == 4  # 192,000 logits, at least 8,192 per thread
        assert cpu_ldrrld._threads(2, 3000) == 1
        split = cpu_ldrrld.ldrrld_rows(*args)
        split_top = cpu_ldrrld.top_classes(student, 7)
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(cpu_ldrrld, "ELEMENTS_PER_THREAD", 1 << 60)
    assert cpu_ldrrld._threads(64, 3000) == 1
    for name, a, b in zip(NAMES, split, cpu_ldrrld.ldrrld_rows(*args)):
        assert torch.equal(a, b), name
    assert torch.equal(split_top, cpu_ldrrld.top_classes(student, 7))


@needs_kernel
def test_pairs_out_of_row_major_order_fall_back_to_the_torch_form():
    student, teacher = logits(4, 20, 13), logits(4, 20, 14)
    top = top_classes(student, 4)
    first, second, weights = cached_pair_weights(4, 0.05)
    args = (student, teacher, top, weights.flip(0), first.flip(0), second.flip(0), 4.0, torch.float32)
    assert cpu_ldrrld.ldrrld_rows(*args) is None
    assert cpu_ldrrld.ldrrld_rows(student, teacher, top, weights, first, second, 4.0, torch.float32) is not None


@needs_kernel
def test_depths_beyond_the_kernels_run_in_torch():
    depth = cpu_ldrrld.MAX_DEPTH + 6
    student, teacher = logits(3, 90, 24, dtype=torch.float64), logits(3, 90, 25, dtype=torch.float64)
    top = top_classes(student, depth)
    first, second, weights = cached_pair_weights(depth, 0.05, dtype=torch.float64)
    assert cpu_ldrrld.ldrrld_rows(student, teacher, top, weights, first, second, 4.0, torch.float64) is None
    fused_terms, traced = (
        ldrrld_loss(student, teacher, depth=depth),
        ldrrld_loss(student, teacher, depth=depth, fused=False),
    )
    torch.testing.assert_close(fused_terms.local, traced.local, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(fused_terms.rntk, traced.rntk, rtol=1e-12, atol=1e-14)


# ---- the top-d search -------------------------------------------------------------------------


@needs_kernel
@pytest.mark.parametrize(
    "classes,depth",
    [
        (classes, depth)
        for classes in (2, 10, 65, 100, 447, 1000, 4096, 32000, 30011)
        for depth in (2, 7, 9, 64)
        if depth <= classes
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_search_equals_topk(classes, depth, dtype):
    z = torch.randperm(classes * 6, generator=torch.Generator().manual_seed(classes + depth))[: classes * 6]
    z = z.reshape(6, classes).to(dtype)  # distinct integers: no ties, exact in every dtype up to 256 classes
    if dtype == torch.bfloat16 and classes * 6 > 256:
        z = logits(6, classes, depth).to(dtype).float().unique(dim=1)[:, :classes].to(dtype)
        if z.shape[1] < depth:
            pytest.skip("too few distinct bfloat16 values")
    got = cpu_ldrrld.top_classes(z, depth)
    assert got is not None
    assert torch.equal(z.gather(1, got), z.topk(depth, 1).values)


@needs_kernel
def test_search_breaks_ties_by_the_lower_class():
    z = torch.zeros(4, 100)
    z[:, 40:47] = 1.0  # seven classes tie for the top
    z[1, 3] = 1.0
    z[2, ::9] = 2.0  # twelve classes tie above them
    got = cpu_ldrrld.top_classes(z, 8)
    want = z.sort(dim=1, descending=True, stable=True).indices[:, :8]
    assert torch.equal(got, want)
    assert torch.equal(top_classes(z, 8), want)  # relations.top_classes runs the kernel on a CPU


def tied_logits(batch: int, classes: int, dtype: torch.dtype, seed: int = 5) -> torch.Tensor:
    """Logits with many ties: bfloat16 rounding as such, other precisions rounded to halves."""
    z = logits(batch, classes, seed)
    return z.to(dtype) if dtype == torch.bfloat16 else ((z * 2).round() / 2).to(dtype)


@pytest.mark.parametrize("classes,depth", [(100, 7), (10, 10), (12, 11), (200, 9), (4096, 7), (1000, 64), (97, 3)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64], ids=str)
def test_every_search_breaks_ties_by_the_lower_class(classes, depth, dtype):
    z = tied_logits(128, classes, dtype)
    want = naive_top(z, depth)
    with torch_only():  # the torch search (two-stage at 200 and 4096 classes)
        assert torch.equal(top_classes(z, depth), want)
    assert torch.equal(relations.ranked_top(z, depth, skip_without_ties=False), want)  # what a GPU runs
    if cpu_ldrrld.available(torch.device("cpu"), torch.float32) and depth <= cpu_ldrrld.MAX_DEPTH:
        assert torch.equal(cpu_ldrrld.top_classes(z, depth), want)


@needs_kernel
def test_kernel_and_torch_form_agree_on_bfloat16_logits_with_ties():
    student, teacher = tied_logits(128, 100, torch.bfloat16, 7), tied_logits(128, 100, torch.bfloat16, 8)
    values = student.topk(8, dim=1).values
    assert (values[:, 1:] == values[:, :-1]).any(1).sum() >= 16  # ties among the top 8 in many rows
    with_kernel = ldrrld_loss(student, teacher)
    with torch_only():
        torch_form = ldrrld_loss(student, teacher)
    assert torch.equal(with_kernel.top_classes, torch_form.top_classes)
    torch.testing.assert_close(with_kernel.local, torch_form.local, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(with_kernel.rntk, torch_form.rntk, rtol=1e-5, atol=1e-6)


@needs_kernel
def test_search_counts_nan_as_minus_infinity():
    z = logits(4, 200, 15)
    z[0] = float("nan")
    z[1, ::2] = float("nan")
    z[2, 3:] = float("nan")  # three numbers: they come first, then NaN classes in class order
    got = cpu_ldrrld.top_classes(z, 7)
    assert got[0].tolist() == list(range(7))
    assert torch.equal(got[1], torch.where(z[1].isnan(), -torch.inf, z[1]).topk(7).indices)
    assert got[2].tolist() == z[2, :3].topk(3).indices.tolist() + [3, 4, 5, 6]
    assert torch.equal(got[3], z[3].topk(7).indices)


@needs_kernel
def test_search_declines_what_it_does_not_handle():
    assert cpu_ldrrld.top_classes(logits(2, 100, 16), cpu_ldrrld.MAX_DEPTH + 1) is None
    assert cpu_ldrrld.top_classes(logits(2, 5, 16), 6) is None
    assert cpu_ldrrld.top_classes(logits(2, 5, 16).to(torch.int64), 2) is None
    z = logits(3, 300, 17)
    assert torch.equal(top_classes(z, 80), z.topk(80, 1).indices)  # deeper: the torch search


# ---- building, caching and switching off ---------------------------------------------------------


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=300
    )


CHECK_FALLBACK = """
    import torch
    from ldrrld_core import ldrrld_loss
    from ldrrld_core.kernels import cpu_ldrrld
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 30, generator=g), torch.randn(4, 30, generator=g)
    terms = ldrrld_loss(s, t)
    print("available", cpu_ldrrld.available(torch.device("cpu"), torch.float32))
    print("local", float(terms.local))
"""


def test_without_a_compiler_the_torch_form_runs_after_one_warning(tmp_path):
    done = run_python(CHECK_FALLBACK, CC=str(tmp_path / "no-such-cc"), PATH="", LDRRLD_CACHE_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "available False" in done.stdout
    assert done.stderr.count("LDRRLD's CPU kernel is unavailable") == 1 and "no C compiler found" in done.stderr
    g = torch.Generator().manual_seed(0)
    with_kernel = ldrrld_loss(torch.randn(4, 30, generator=g), torch.randn(4, 30, generator=g))
    torch_form = float(done.stdout.split("local ")[1])
    assert torch_form == pytest.approx(float(with_kernel.local), rel=1e-5)


def test_a_compiler_that_fails_is_reported_and_the_torch_form_runs(tmp_path):
    compiler = tmp_path / "broken-cc"
    compiler.write_text("#!/bin/sh\necho 'error: this compiler is broken' >&2\nexit 1\n")
    compiler.chmod(0o755)
    done = run_python(CHECK_FALLBACK, CC=str(compiler), LDRRLD_CACHE_DIR=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr
    assert "available False" in done.stdout and "this compiler is broken" in done.stderr
    assert not list((tmp_path / "cache").glob("*"))  # no half-written library left behind


def test_switched_off_by_the_environment():
    done = run_python(CHECK_FALLBACK, LDRRLD_CPU_KERNEL="0")
    assert done.returncode == 0, done.stderr
    assert "available False" in done.stdout and "unavailable" not in done.stderr


@needs_kernel
def test_the_library_is_built_once_and_reused(tmp_path, monkeypatch, caplog):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LDRRLD_CACHE_DIR", str(cache))
    compiler = cpu_ldrrld._compiler()
    record = cpu_ldrrld.record_path(torch.float64, compiler)
    assert record.parent == cache and not cache.exists()
    cpu_ldrrld._load(torch.float64)
    assert (cache.stat().st_mode & 0o777) == 0o700  # created private
    digest = record.read_text().strip()
    path = cpu_ldrrld.library_path(torch.float64, compiler, digest)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    built = path.stat().st_mtime_ns
    monkeypatch.setattr(cpu_ldrrld, "_compile", lambda *a: pytest.fail("compiled again"))
    cpu_ldrrld._load(torch.float64)
    assert path.stat().st_mtime_ns == built
    assert sorted(p.name for p in cache.iterdir()) == sorted([path.name, record.name])  # no temporary files left


# ------------------------------------------------------------- the cache: only what this installation built
PLANTED = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) { close(creat(MARKER, 0600)); }
int ldrrld_top_classes(void) { return 0; }
int ldrrld_rows(void) { return 0; }
"""


def build_library(tmp_path: Path, source: str, name: str, marker: Path | None = None) -> Path:
    """A shared library compiled from ``source`` (``MARKER`` defined as the path ``marker``)."""
    (tmp_path / f"{name}.c").write_text(source)
    library = tmp_path / f"{name}.so"
    define = [f'-DMARKER="{marker}"'] if marker else []
    subprocess.run(
        [cpu_ldrrld._compiler(), "-shared", "-fPIC", *define, str(tmp_path / f"{name}.c"), "-o", str(library)],
        check=True,
        timeout=120,
    )
    return library


def built_library(cache: Path, dtype=torch.float32) -> Path:
    """The library the build record in ``cache`` names."""
    compiler = cpu_ldrrld._compiler()
    digest = (cache / cpu_ldrrld.record_path(dtype, compiler).name).read_text().strip()
    return cache / cpu_ldrrld.library_path(dtype, compiler, digest).name


@needs_kernel
def test_a_library_someone_else_put_in_the_cache_is_never_loaded(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "planted-code-ran"
    first = run_python(CHECK_FALLBACK, LDRRLD_CACHE_DIR=str(cache))
    assert "available True" in first.stdout, first.stderr
    target = built_library(cache)
    planted = build_library(tmp_path, PLANTED, "planted", marker)
    target.unlink()
    shutil.copy(planted, target)  # the name is predictable: other code under it
    second = run_python(CHECK_FALLBACK, LDRRLD_CACHE_DIR=str(cache))
    assert not marker.exists(), "code from a library this installation did not build ran"
    assert second.returncode == 0 and "available True" in second.stdout, second.stderr
    assert "does not match its build record" in second.stderr
    assert second.stdout.split("local ")[1] == first.stdout.split("local ")[1]


@needs_kernel
def test_a_truncated_library_is_built_again_instead_of_crashing_the_process(tmp_path):
    cache = tmp_path / "cache"
    first = run_python(CHECK_FALLBACK, LDRRLD_CACHE_DIR=str(cache))
    assert "available True" in first.stdout, first.stderr
    library = built_library(cache)
    library.chmod(0o700)
    library.write_bytes(library.read_bytes()[: library.stat().st_size // 2])
    second = run_python(CHECK_FALLBACK, LDRRLD_CACHE_DIR=str(cache))
    assert second.returncode == 0, second.stderr  # a bus error without the check
    assert "available True" in second.stdout and "does not match its build record" in second.stderr
    assert second.stdout.split("local ")[1] == first.stdout.split("local ")[1]


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_cache_folder_others_may_write_is_refused(tmp_path, monkeypatch, caplog, mode):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(mode)
    monkeypatch.setenv("LDRRLD_CACHE_DIR", str(cache))
    monkeypatch.setattr(cpu_ldrrld, "_libraries", {})
    monkeypatch.setattr(cpu_ldrrld, "_compile", lambda *a: pytest.fail("built into a shared folder"))
    with caplog.at_level(logging.WARNING, logger=cpu_ldrrld.__name__):
        assert not cpu_ldrrld.available(torch.device("cpu"), torch.float32)
    assert "may be written by other users" in caplog.text and str(cache) in caplog.text


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="changing a folder's owner needs root")
def test_a_cache_folder_of_another_user_is_refused(tmp_path, monkeypatch, caplog):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, 12345, 12345)
    monkeypatch.setenv("LDRRLD_CACHE_DIR", str(cache))
    monkeypatch.setattr(cpu_ldrrld, "_libraries", {})
    with caplog.at_level(logging.WARNING, logger=cpu_ldrrld.__name__):
        assert not cpu_ldrrld.available(torch.device("cpu"), torch.float32)
    assert "belongs to another user (uid 12345)" in caplog.text


def test_a_relative_cache_path_is_ignored(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("LDRRLD_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    with caplog.at_level(logging.WARNING, logger=cpu_ldrrld.__name__):
        assert cpu_ldrrld._cache_dir() == tmp_path / ".cache" / "ldrrld"
    assert "XDG_CACHE_HOME='relative/cache' is not an absolute path" in caplog.text
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cpu_ldrrld._cache_dir() == tmp_path / "xdg" / "ldrrld"
    monkeypatch.setenv("LDRRLD_CACHE_DIR", "here")
    assert cpu_ldrrld._cache_dir() == tmp_path / "xdg" / "ldrrld"


# --------------------------------------------------- every build or load failure: one warning, the torch form
def fake_compiler(tmp_path: Path, script: str) -> Path:
    compiler = tmp_path / "fake-cc"
    compiler.write_text("#!/bin/sh\n" + script)
    compiler.chmod(0o755)
    return compiler


def assert_falls_back_once(done: subprocess.CompletedProcess, reason: str) -> None:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "available False" in done.stdout
    assert done.stderr.count("LDRRLD's CPU kernel is unavailable") == 1 and reason in done.stderr, done.stderr


def test_a_compiler_printing_text_that_is_not_utf8_falls_back(tmp_path):
    compiler = fake_compiler(tmp_path, "printf 'erreur: \\377\\376 fichier introuvable\\n' >&2\nexit 1\n")
    done = run_python(CHECK_FALLBACK, CC=str(compiler), LDRRLD_CACHE_DIR=str(tmp_path / "cache"))
    assert_falls_back_once(done, "fichier introuvable")


@needs_kernel
def test_a_library_without_the_entry_points_falls_back(tmp_path):
    empty = build_library(tmp_path, "int unrelated(void) { return 0; }\n", "empty")
    compiler = fake_compiler(tmp_path, f'while [ "$1" != -o ]; do shift; done\ncp {empty} "$2"\n')
    done = run_python(CHECK_FALLBACK, CC=str(compiler), LDRRLD_CACHE_DIR=str(tmp_path / "cache"))
    assert_falls_back_once(done, "undefined symbol: ldrrld_top_classes")


def test_a_hanging_compiler_is_given_up_and_a_slow_build_says_it_is_building(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CC", str(fake_compiler(tmp_path, "sleep 60\n")))
    monkeypatch.setenv("LDRRLD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cpu_ldrrld, "_libraries", {})
    monkeypatch.setattr(cpu_ldrrld, "BUILD_TIMEOUT", 2.0)
    monkeypatch.setattr(cpu_ldrrld, "SLOW_BUILD_NOTICE", 0.5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=cpu_ldrrld.__name__):
        for _ in range(3):
            assert not cpu_ldrrld.available(torch.device("cpu"), torch.float32)
    assert time.monotonic() - started < 10  # one try, not one per call nor one per set of flags
    assert caplog.text.count("compiling LDRRLD's CPU kernel") == 1
    assert caplog.text.count("unavailable") == 1 and "did not finish within 2 s" in caplog.text


def test_each_process_warns_once_when_the_kernel_is_unavailable(monkeypatch, caplog):
    monkeypatch.setattr(cpu_ldrrld, "_libraries", {})
    monkeypatch.setattr(cpu_ldrrld, "_compiler", lambda: None)
    with caplog.at_level(logging.WARNING, logger=cpu_ldrrld.__name__):
        for _ in range(3):
            assert not cpu_ldrrld.available(torch.device("cpu"), torch.float32)
    assert caplog.text.count("unavailable") == 1
    student, teacher = logits(3, 12, 18).requires_grad_(True), logits(3, 12, 19)
    terms = ldrrld_loss(student, teacher, depth=4)  # the torch form
    local, rntk = naive_ldrrld(student.double(), teacher.double(), 4)
    torch.testing.assert_close(terms.local.double(), local, rtol=1e-5, atol=1e-6)


@needs_kernel
def test_torch_only_switches_the_kernels_off_for_a_block(monkeypatch):
    student, teacher = logits(8, 40, 20), logits(8, 40, 21)
    with_kernel = ldrrld_loss(student, teacher)
    calls = []
    original = fused._ldrrld_rows
    monkeypatch.setattr(fused, "_ldrrld_rows", lambda *args: calls.append(1) or original(*args))
    with torch_only():
        assert not cpu_ldrrld.available(torch.device("cpu"), torch.float32)
        without = ldrrld_loss(student, teacher)
    monkeypatch.undo()
    assert calls == [1] and cpu_ldrrld.available(torch.device("cpu"), torch.float32)
    torch.testing.assert_close(without.local, with_kernel.local)
    torch.testing.assert_close(without.rntk, with_kernel.rntk)


@needs_kernel
@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads the process's memory map (Linux)")
def test_the_kernel_shares_torchs_openmp_runtime():
    # Built with -fopenmp, the kernel needs libgomp.so.1: the loader must reuse the copy torch
    # loaded, so both share one thread pool instead of competing for the cores. A fresh process:
    # other libraries (scikit-learn's) bring OpenMP runtimes of their own.
    done = run_python("""
        import json
        import torch
        from ldrrld_core.kernels import cpu_ldrrld
        assert cpu_ldrrld.available(torch.device("cpu"), torch.float32)
        with open("/proc/self/maps") as maps:
            print(json.dumps(sorted({line.split()[-1] for line in maps if "omp" in line.rsplit("/", 1)[-1]})))
    """)
    assert done.returncode == 0, done.stderr
    mapped = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(mapped) == 1 and "torch" in mapped[0], mapped


@pytest.mark.skipif(
    not any(shutil.which(name) for name in ("g++", "c++", "clang++")), reason="torch.compile on a CPU needs C++"
)
def test_torch_compile_traces_the_whole_loss_in_one_graph():
    # The kernel steps aside while torch.compile traces (a C call would break the graph).
    student, teacher = logits(8, 60, 22).requires_grad_(True), logits(8, 60, 23)
    compiled = torch.compile(lambda s, t: ldrrld_loss(s, t, validate=False).total(), fullgraph=True)
    got = compiled(student, teacher)
    torch.testing.assert_close(got, ldrrld_loss(student, teacher).total())
    (grad,) = torch.autograd.grad(got, student)
    (want,) = torch.autograd.grad(ldrrld_loss(student, teacher).total(), student)
    torch.testing.assert_close(grad, want)


@needs_kernel
@pytest.mark.parametrize("real", ["float", "double"])
def test_the_kernel_is_clean_under_address_and_undefined_behaviour_sanitizers(real, tmp_path):
    # tests/fixtures/cpu_kernel_harness.c calls both entry points on exactly sized buffers over
    # shapes that reach every path (plain and two-stage search, loop tails, d == C, d = 64, NaN).
    harness = Path(__file__).parent / "fixtures" / "cpu_kernel_harness.c"
    program = tmp_path / f"harness_{real}"
    build = subprocess.run(
        [cpu_ldrrld._compiler(), "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
        + ["-fopenmp", "-std=c11", f"-DREAL={real}", f"-DREAL_IS_DOUBLE={int(real == 'double')}"]
        + [str(harness), str(cpu_ldrrld._SOURCE), "-o", str(program), "-lm"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0:
        pytest.skip(f"no sanitizer build here: {build.stderr.strip()[-200:]}")
    done = subprocess.run(
        [str(program)], capture_output=True, text=True, timeout=300, env={"ASAN_OPTIONS": "detect_leaks=0"}
    )
    assert done.returncode == 0 and "runtime error" not in done.stderr, done.stderr[-3000:]


# ---- the kernels of two baselines: TeKAP's rows and DIST's correlations --------------------------


def baseline_value_and_grad(name, student, teacher, noise):
    """The loss and its gradient in the student's logits, as a user calls the pure function."""
    student = student.detach().requires_grad_()
    if name == "tekap":
        value = tekap_loss(student, teacher, noise)
    elif name == "dist":
        value = dist_loss(student, teacher, inter_weight=1.5, intra_weight=0.5)
    else:  # DIST's two terms weighted apart
        inter, intra = dist_terms(student, teacher)
        value = 2 * inter + intra
    return value.detach(), torch.autograd.grad(value, student)[0]


@needs_kernel
@pytest.mark.parametrize("name", ["tekap", "dist", "dist-terms"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("batch,classes", [(256, 100), (16, 1000), (48, 20000), (1, 2), (3, 7), (5, 300)])
def test_baseline_kernels_equal_the_torch_forms(name, dtype, batch, classes):
    # (48, 20000) runs TeKAP's torch form in blocks of rows and DIST's with batch sums as matrix
    # products; (1, 2) has constant columns, where alpha is 1 / eps and must multiply an exact 0.
    student, teacher = logits(batch, classes, 30, dtype=dtype), logits(batch, classes, 31, dtype=dtype)
    noise = torch.randn(3, batch, classes, generator=torch.Generator().manual_seed(32), dtype=dtype)
    got = baseline_value_and_grad(name, student, teacher, noise)
    with torch_only():
        want = baseline_value_and_grad(name, student, teacher, noise)
        if dtype == torch.float32:  # the float64 truth: the kernel is as close to it as the torch form
            truth = baseline_value_and_grad(name, student.double(), teacher.double(), noise.double())
    if dtype == torch.float64:
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-14)
        return
    for a, b, exact in zip(got, want, truth):
        scale = exact.abs().max().item()
        kernel_error, torch_error = (a.double() - exact).abs().max().item(), (b.double() - exact).abs().max().item()
        # float32 round-off on terms of order max(1, |value|): what the torch form meets too
        assert kernel_error <= max(2 * torch_error, 1e-5 * max(scale, 1.0)), (kernel_error, torch_error, scale)


@needs_kernel
def test_baseline_kernels_read_strided_logits_and_noise():
    wide = logits(32, 250, 40)
    student, teacher = wide[:, :100], wide[:, 150:]  # rows 250 apart
    noise = torch.randn(100, 32, 3, generator=torch.Generator().manual_seed(41)).permute(2, 1, 0)  # no unit stride
    for name in ("tekap", "dist"):
        got = baseline_value_and_grad(name, student, teacher, noise)
        want = baseline_value_and_grad(name, student.contiguous(), teacher.contiguous(), noise.contiguous())
        for a, b in zip(got, want):
            assert torch.equal(a, b), name


@needs_kernel
def test_baseline_kernels_split_over_threads_give_bitwise_the_one_thread_result(monkeypatch):
    student, teacher = logits(64, 3000, 50), logits(64, 3000, 51)
    noise = torch.randn(3, 64, 3000, generator=torch.Generator().manual_seed(52))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        assert cpu_ldrrld._threads(64, 3000) == 4
        split = {name: baseline_value_and_grad(name, student, teacher, noise) for name in ("tekap", "dist")}
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(cpu_ldrrld, "ELEMENTS_PER_THREAD", 1 << 60)
    for name, results in split.items():
        for a, b in zip(results, baseline_value_and_grad(name, student, teacher, noise)):
            assert torch.equal(a, b), name
