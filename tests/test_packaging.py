"""The package builds without a deprecation warning of this project's own (pyproject.toml is current), with its data."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_build_prints_no_deprecation_warning(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "source"  # a copy: the build's own build/ and egg-info stay out of the checkout
    for package in ("ldrrld_core", "ldrrld_viz"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "-v",
            "-w",
            str(tmp_path / "wheel"),
            str(source),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = build.stdout + build.stderr
    assert build.returncode == 0, output[-3000:]
    wheels = list((tmp_path / "wheel").glob("ldrrld-*.whl"))
    assert wheels, "no wheel was built"
    with zipfile.ZipFile(wheels[0]) as wheel:  # the CPU kernel compiles from its source at first use
        assert "ldrrld_core/kernels/cpu_ldrrld.c" in wheel.namelist()
    warnings = [line for line in output.splitlines() if "deprecat" in line.lower()]
    assert not warnings, "\n".join(warnings)
