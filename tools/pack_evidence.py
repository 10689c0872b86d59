"""Pack the finished runs and teachers of an evidence set into ``docs/evidence.tar.xz``.

    python tools/pack_evidence.py runs/evidence          # after `ldrrld study --evidence --out-dir runs/evidence`

The archive holds every run file (``*/runs/**/*.json``) and every cached teacher
(``*/teachers/**``) of the folder, nothing else (no checkpoints, no reports), packed
deterministically (sorted names, no timestamps or owners), so the same runs give the same bytes.
Unpacked into a folder, it lets ``ldrrld study --evidence --out-dir FOLDER`` continue or
re-render the evidence on another machine without training anything again::

    mkdir -p runs/evidence && tar -xJf docs/evidence.tar.xz -C runs/evidence
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ldrrld_core.io import atomic_write  # noqa: E402

ARCHIVE = ROOT / "docs" / "evidence.tar.xz"


def members(folder: Path) -> list[Path]:
    """The run files and teacher files under ``folder``, sorted."""
    runs = [p for p in folder.glob("*/runs/**/*.json") if p.is_file()]
    teachers = [p for p in folder.glob("*/teachers/**/*") if p.is_file() and p.suffix in (".json", ".pth")]
    return sorted(runs + teachers)


def pack(folder: Path, archive: Path = ARCHIVE) -> Path:
    """Write ``archive`` from ``folder``'s run and teacher files; returns its path."""
    paths = members(folder)
    if not paths:
        raise SystemExit(f"no run files under {folder}/*/runs/: run `ldrrld study --evidence --out-dir {folder}` first")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
            tar.addfile(info, io.BytesIO(data))
    atomic_write(archive, lambda stream: stream.write(buffer.getvalue()))
    print(f"{archive}: {len(paths)} files, {archive.stat().st_size / 1e6:.1f} MB")
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the --out-dir of `ldrrld study --evidence`")
    parser.add_argument("--archive", type=Path, default=ARCHIVE, help=f"where to write (default {ARCHIVE})")
    args = parser.parse_args(argv)
    pack(args.folder, args.archive)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
