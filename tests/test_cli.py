"""The ``ldrrld`` command line (``ldrrld study`` is tested in ``test_study.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ldrrld_core.cli import build_parser, main
from ldrrld_core.io import load_file
from ldrrld_core.losses import NOT_BUILT, list_losses
from ldrrld_core.train import list_recipes

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--epochs", "1", "--no-progress", "--quiet"]


def run_cli(capsys, *argv: str) -> tuple[int, list[str], str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def last_json(lines: list[str]) -> dict:
    return json.loads(lines[-1])


@pytest.mark.parametrize("command", ["train", "distill", "demo"])
def test_help_teaches_with_examples(command):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    text = subparsers.choices[command].format_help()
    assert "examples:" in text and f"ldrrld {command}" in text
    assert "ldrrld demo" in parser.format_help()


def test_listings(capsys):
    status, lines, _ = run_cli(capsys, "recipes")
    assert status == 0 and [line.split()[0] for line in lines] == list_recipes()
    status, lines, _ = run_cli(capsys, "recipes", "cifar100-authors")
    assert json.loads("\n".join(lines))["schedule"] == "authors"
    status, lines, _ = run_cli(capsys, "losses")
    blank = lines.index("")
    assert [line.split()[0] for line in lines[:blank]] == list_losses()
    assert [line.split()[0] for line in lines[blank + 2 :]] == list(NOT_BUILT), "IPWD and OFA say why they are absent"
    status, lines, _ = run_cli(capsys, "models", "--family", "digits")
    assert lines == ["digits: digits_cnn digits_cnn_small digits_mlp"]


def test_train_then_resume(capsys, tmp_path):
    status, lines, _ = run_cli(capsys, "train", "--recipe", "digits", "--out-dir", str(tmp_path), *QUICK)
    summary = last_json(lines)
    assert status == 0 and summary["epochs"] == 1 and summary["model"] == "digits_cnn" and summary["loss"] == "ce"
    assert {"top1", "top5", "seconds", "out_dir"} <= set(summary) and summary["out_dir"] == str(tmp_path)
    assert lines[0].split()[:2] == ["epoch", "lr"], "a history table comes before the JSON line"
    status, lines, _ = run_cli(
        capsys,
        "train",
        "--recipe",
        "digits",
        "--out-dir",
        str(tmp_path),
        "--resume",
        "--no-progress",
        "--quiet",
        "--epochs",
        "2",
    )
    assert status == 0 and last_json(lines)["epochs"] == 2
    assert [line.split()[0] for line in lines[1:-1]] == ["1", "2"], "the resumed history keeps epoch 1"


def test_distill_with_its_own_teacher_and_loss_options(capsys, tmp_path):
    status, lines, _ = run_cli(
        capsys,
        "distill",
        "--recipe",
        "digits",
        "--train-teacher",
        "--loss-option",
        "depth=5",
        "--loss-option",
        "rank_by=teacher",
        "--set",
        "warmup_epochs=0",
        "--out-dir",
        str(tmp_path),
        *QUICK,
    )
    summary = last_json(lines)
    assert status == 0 and summary["loss"] == "ldrrld" and "teacher_top1" in summary
    recipe = json.loads((tmp_path / "recipe.json").read_text())
    assert recipe["loss_options"]["ldrrld"] == {"depth": 5, "rank_by": "teacher"} and recipe["warmup_epochs"] == 0
    assert (tmp_path / "teacher" / "student.pth").exists()
    # The teacher's weights file can be handed to a second distillation.
    teacher_file = str(tmp_path / "teacher" / "student.pth")
    status, lines, _ = run_cli(
        capsys,
        "distill",
        "--recipe",
        "digits",
        "--loss",
        "kd",
        "--teacher-checkpoint",
        teacher_file,
        "--out-dir",
        "none",
        *QUICK,
    )
    assert status == 0 and last_json(lines)["teacher_top1"] == pytest.approx(summary["teacher_top1"])
    assert load_file(teacher_file)["arch"] == "digits_cnn"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["distill", "--recipe", "digits", "--loss-option", "depth=11", "--train-teacher"], "depth 11"),
        (["distill", "--recipe", "digits"], "--train-teacher"),
        (["train", "--set", "epoch=3"], "Did you mean 'epochs'"),
        (["train", "--set", "epochs"], "KEY=VALUE"),
        (["train", "--epochs", "-1"], "epochs must be an integer >= 1"),
        (["distill", "--loss", "ce"], "ldrrld train"),
    ],
)
def test_errors_exit_2_with_a_message(capsys, tmp_path, argv, message):
    status, lines, err = run_cli(capsys, *argv, "--out-dir", str(tmp_path), "--no-progress", "--quiet")
    assert status == 2 and message in err and not lines


def test_demo_compares_every_method(capsys):
    status, lines, _ = run_cli(capsys, "demo", "--epochs", "1", "--no-progress", "--quiet", "--methods", "ce", "ldrrld")
    result = last_json(lines)
    assert status == 0 and set(result["top1"]) == {"teacher", "ce", "ldrrld"}
    assert any(line.startswith("ldrrld ") for line in lines[:-1]), "a comparison table before the JSON"
    text = "\n".join(lines[:-1])
    assert "not a ranking" in text and "Study verdict:" in text, "the study's verdict beside one short run"
    assert result["lr"] == {"ce": result["lr"]["ce"], "ldrrld": result["lr"]["ldrrld"]} and result["study"]
    assert result["seconds"] == round(result["seconds"], 1)


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "ldrrld_core", "losses"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0 and "ldrrld-no-adw" in done.stdout


# ------------------------------------------------------------------ errors: one line, exit 2, no traceback
def one_error_line(err: str, command: str) -> str:
    """The error line of a failed command; fails if there is a traceback or more than one error line."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"ldrrld {command}:")]
    assert len(lines) == 1, err
    return lines[0]


def _teacher_file(tmp_path: Path, model: str = "digits_cnn", *, nan: bool = True) -> str:
    from ldrrld_core.io import atomic_save
    from ldrrld_core.models import create_model

    state = create_model(model).state_dict()
    if nan:
        state["fc.weight"][0, 0] = float("nan")
    return str(atomic_save({"model": state}, tmp_path / f"{model}.pth"))


def _file(tmp_path: Path) -> str:
    (tmp_path / "a-file").write_text("not a folder")
    return str(tmp_path / "a-file")


# (argv with {tmp} for the scratch folder, what must be in the error line)
USER_ERRORS = [
    (["recipes", "cifar10"], "unknown recipe 'cifar10'. Did you mean 'cifar100'"),
    (["train", "--out-dir", "{file}"], "is a file, not a folder"),
    (["train", "--out-dir", "{tmp}/a-file/run"], "a part of its path is a file"),
    (["train", "--lr", "inf"], "lr must be a finite number, got inf"),
    (["train", "--set", "weight_decay=inf"], "weight_decay must be a finite number"),
    (
        ["distill", "--train-teacher", "--loss-option", "temperature=Infinity"],
        "loss_options['ldrrld']['temperature'] must be a finite number",
    ),
    (["train", "--model", "digits_mlp", "--set", 'model_options={"hiden": 32}'], "Did you mean 'hidden'"),
    (["train", "--model", "digits_mlp", "--set", 'model_options={"hidden": "wide"}'], "do not fit model"),
    (["distill", "--teacher-checkpoint", "{nan}"], "non-finite weights in 1 tensor(s): fc.weight (1 NaN"),
    (["distill", "--teacher-checkpoint", "{nan}", "--teacher-sha256", "0" * 64], "but --teacher-sha256 says"),
    (["distill", "--teacher-checkpoint", "{nan}", "--teacher-sha256", "xyz"], "64 hex digits"),
    (["train", "--device", "tpu:0"], "is not a device"),
    # a message of several lines (the keys that do not fit) comes out as one
    (["distill", "--teacher-checkpoint", "{mlp}"], "does not fit the model 'digits_cnn': 15 missing, 2 unexpected"),
]


@pytest.mark.parametrize("argv, message", USER_ERRORS, ids=[" ".join(argv[:3]) for argv, _ in USER_ERRORS])
def test_user_errors_are_one_line_with_exit_2(capsys, tmp_path, argv, message):
    values = {"tmp": str(tmp_path), "file": _file(tmp_path), "nan": "", "mlp": ""}
    if any("{nan}" in arg for arg in argv):
        values["nan"] = _teacher_file(tmp_path)
    if any("{mlp}" in arg for arg in argv):
        values["mlp"] = _teacher_file(tmp_path, "digits_mlp", nan=False)
    for name, value in values.items():
        argv = [arg.replace("{" + name + "}", value) for arg in argv]
    extra = [] if argv[0] == "recipes" else ["--no-progress", "--quiet", "--epochs", "1"]
    extra += [] if "--out-dir" in argv or argv[0] == "recipes" else ["--out-dir", "none"]
    status, lines, err = run_cli(capsys, *argv, *extra)
    assert status == 2 and not lines
    assert message in one_error_line(err, argv[0])


# Input and output paths of the wrong kind: each message names the option, the path and the remedy
# (a --json folder was told "Pass a file path such as DIR/checkpoint.pth"; a --recipe-file folder "no
# recipe file at DIR"; a --resume folder without latest.pth "train or download the model first").
# (argv with {dir} an empty folder and {file} a file, what the error line must say)
PATH_ERRORS = [
    (
        ["recipes", "digits", "--json", "{dir}"],
        "--json {dir} is a folder, not a file; give --json the path of a file, such as {dir}/digits.json",
    ),
    (["recipes", "digits", "--json", "{file}/x.json"], "--json {file}/x.json: {file} is a file, not a folder"),
    (["train", "--recipe-file", "{dir}", *QUICK], "--recipe-file {dir} is a folder, not a recipe file"),
    (
        ["train", "--recipe-file", "{dir}/r.json", *QUICK],
        "--recipe-file {dir}/r.json: no such recipe file; write one with",
    ),
    (["train", "--resume", "{dir}", "--out-dir", "none", *QUICK], "--resume {dir} is a folder without a latest.pth"),
    (
        ["distill", "--teacher-checkpoint", "{dir}", "--out-dir", "none", *QUICK],
        "--teacher-checkpoint {dir} is a folder, not a checkpoint file",
    ),
    (["sweep", "--quick", "--out-dir", "{file}", "--no-progress"], "--out-dir {file} is a file, not a folder"),
    (
        ["study", "--quick", "--out-dir", "{file}/study", "--no-progress"],
        "--out-dir {file}/study: {file} is a file, not a folder",
    ),
    (["teacher", "check", "{dir}"], "'{dir}' is a folder, not a checkpoint file; give the file inside it"),
    (
        ["train", "--data-root", "{file}", "--data", "cifar100", "--out-dir", "none", *QUICK],
        "--data-root {file} is a file, not a folder; give --data-root the folder holding the downloaded data sets",
    ),
    (["runs", "table", "{file}"], "{file} is a file, not a run folder; give a run's folder (holding summary.json)"),
]


@pytest.mark.parametrize(
    "argv, message", PATH_ERRORS, ids=[" ".join(argv[:2]) + f" {i}" for i, (argv, _) in enumerate(PATH_ERRORS)]
)
def test_path_errors_name_the_option_the_path_and_the_remedy(capsys, tmp_path, argv, message):
    values = {"dir": str(tmp_path / "folder"), "file": _file(tmp_path)}
    (tmp_path / "folder").mkdir()
    for name, value in values.items():
        argv = [arg.replace("{" + name + "}", value) for arg in argv]
        message = message.replace("{" + name + "}", value)
    status, lines, err = run_cli(capsys, *argv)
    line = one_error_line(err, argv[0])
    assert status == 2 and not lines and message in line and "checkpoint.pth" not in line


def test_a_full_disk_under_json_does_not_blame_the_out_dir(capsys, tmp_path, monkeypatch):
    import errno

    import ldrrld_core.io as io

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r.json"))

    monkeypatch.setattr(io, "atomic_write", disk_full)
    status, _, err = run_cli(capsys, "recipes", "digits", "--json", str(tmp_path / "r.json"))
    line = one_error_line(err, "recipes")
    assert status == 1 and f"No space left on device: {tmp_path / 'r.json'}; free some space" in line
    assert "--out-dir" not in line and "checkpoint" not in line


def test_a_folder_or_a_path_through_a_file_is_refused_by_every_writer(tmp_path):
    from ldrrld_core.io import atomic_write_text

    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match=r"it is a folder, not a file; give the path of a file") as caught:
        atomic_write_text("x", tmp_path / "folder")
    assert "checkpoint.pth" not in str(caught.value)
    blocking = _file(tmp_path)
    with pytest.raises(ValueError, match=rf"{blocking} is a file, not a folder"):
        atomic_write_text("x", f"{blocking}/sub/x.json")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without a GPU")
def test_device_cuda_without_a_gpu(capsys):
    status, _, err = run_cli(capsys, "train", "--device", "cuda", "--out-dir", "none")
    assert status == 2 and "asks for a GPU, but torch sees none" in one_error_line(err, "train")


def test_debug_adds_the_traceback_before_the_same_line(capsys):
    status, _, plain = run_cli(capsys, "recipes", "cifar10")
    for argv in (["--debug", "recipes", "cifar10"], ["recipes", "cifar10", "--debug"]):
        status, _, err = run_cli(capsys, *argv)
        assert status == 2 and "Traceback (most recent call last)" in err and "get_recipe" in err
        assert err.strip().splitlines()[-1] == plain.strip()


def test_disk_errors_and_internal_errors_are_one_line(capsys, tmp_path, monkeypatch):
    import errno

    import torch

    import ldrrld_core.cli.listings as listings

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    status, lines, err = run_cli(capsys, "train", "--out-dir", str(tmp_path / "run"), *QUICK)
    assert status == 1 and not lines
    assert "No space left on device; free some space" in one_error_line(err, "train")
    assert not (tmp_path / "run" / ".lock").exists() and not list((tmp_path / "run").glob(".*.tmp"))
    monkeypatch.undo()

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    status, _, err = run_cli(capsys, "train", "--out-dir", str(tmp_path / "ro"), *QUICK)
    assert status == 2 and "Read-only file system; choose a writable out_dir" in one_error_line(err, "train")
    monkeypatch.undo()

    monkeypatch.setattr(listings, "run_losses", lambda args: 1 / 0)
    status, _, err = run_cli(capsys, "losses")
    line = one_error_line(err, "losses")
    assert status == 1 and "internal error: ZeroDivisionError" in line and "--debug" in line


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_exits_130_with_one_line_and_a_resumable_checkpoint(tmp_path):
    import signal
    import time

    from ldrrld_core.train import load_training_state

    argv = [
        sys.executable,
        "-m",
        "ldrrld_core",
        "train",
        "--recipe",
        "digits",
        "--epochs",
        "400",
        "--threads",
        "1",
        "--out-dir",
        str(tmp_path),
        "--no-progress",
        "--quiet",
    ]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C acts as in a terminal even where the shell ignores SIGINT (a background `make test &`).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (tmp_path / "latest.pth").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the run never saved an epoch"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130 and out == ""
    assert "interrupted; the run's latest.pth keeps its last finished epoch" in one_error_line(err, "train")
    assert load_training_state(tmp_path)["epoch"] >= 1 and not (tmp_path / ".lock").exists()


def test_importing_the_cli_or_asking_for_help_does_not_import_torchvision():
    code = (
        "import sys, contextlib, io\n"
        "import ldrrld_core.cli as cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    cli.main(['--help'])\n"
        "heavy = ('torchvision', 'torch._dynamo', 'sklearn', 'PIL.Image')\n"
        "heavy = sorted(module for module in heavy if module in sys.modules)\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_resuming_a_distillation_with_its_own_teacher_keeps_that_teacher(capsys, tmp_path):
    argv = [
        "distill",
        "--recipe",
        "digits",
        "--train-teacher",
        "--out-dir",
        str(tmp_path),
        "--no-progress",
        "--quiet",
        "--epochs",
        "2",
        "--set",
        "warmup_epochs=0",
    ]
    status, lines, _ = run_cli(capsys, *argv, "--set", "save_every=1")
    first = last_json(lines)
    teacher_history = (tmp_path / "teacher" / "history.json").read_text()  # timings: a retrain changes them
    # Interrupted after epoch 2 of 2 in effect: resuming finds the teacher run finished and keeps it.
    status, lines, err = run_cli(capsys, *argv, "--set", "save_every=1", "--resume")
    assert status == 0, err
    assert (tmp_path / "teacher" / "history.json").read_text() == teacher_history, "the teacher was retrained"
    assert last_json(lines)["teacher_top1"] == first["teacher_top1"]


def test_startup_benchmark_reports_a_ratio():
    """benchmarks/cli_startup.py runs (one repeat here) and reports the ratio it is meant to measure."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cli_startup.py"), "--repeats", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["medians"]) == {"import torch", "ldrrld --help"} and result["target"] == 1.2
    assert result["ratio"] == pytest.approx(result["medians"]["ldrrld --help"] / result["medians"]["import torch"])
    assert "| `ldrrld --help` |" in done.stdout


def _git(folder: Path, *arguments: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *arguments],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_version_prints_the_release_and_the_commit_of_a_checkout(capsys, tmp_path, monkeypatch):
    from ldrrld_core import __version__, provenance

    assert main(["--version"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"ldrrld {__version__}")
    if (ROOT / ".git").exists():  # this checkout, asked independently
        dirty = "+dirty" if _git(ROOT, "status", "--porcelain", "--untracked-files=no") else ""
        assert line == f"ldrrld {__version__} (commit {_git(ROOT, 'rev-parse', '--short', 'HEAD')}{dirty})"

    monkeypatch.setattr(provenance, "_ROOT", tmp_path)  # not a checkout: the version alone
    assert provenance.version_line() == f"ldrrld {__version__}"
    _git(tmp_path, "init", "-q")
    (tmp_path / "tracked.txt").write_text("one\n")
    _git(tmp_path, "add", "tracked.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    short = _git(tmp_path, "rev-parse", "--short", "HEAD")
    (tmp_path / "untracked.txt").write_text("not part of the source\n")
    assert provenance.version_line() == f"ldrrld {__version__} (commit {short})"
    assert provenance.source_commit() == _git(tmp_path, "rev-parse", "HEAD"), "the study records the full hash"
    (tmp_path / "tracked.txt").write_text("two\n")
    assert provenance.version_line() == f"ldrrld {__version__} (commit {short}+dirty)"


# ------------------------------------------------------------------ nothing ignored, nothing lost
def test_set_model_on_train_is_the_model_trained(capsys, tmp_path):
    status, lines, err = run_cli(
        capsys,
        "train",
        "--recipe",
        "digits",
        "--set",
        "model=digits_mlp",
        "--epochs",
        "1",
        "--out-dir",
        "none",
        "--no-progress",
        "--quiet",
    )
    assert status == 0, err
    assert last_json(lines)["model"] == "digits_mlp"  # the recipe's teacher, digits_cnn, before the fix


def test_a_finished_run_is_not_overwritten_unless_asked(capsys, tmp_path):
    out = str(tmp_path / "run")
    common = ("train", "--recipe", "digits", "--epochs", "1", "--out-dir", out, "--no-progress", "--quiet")
    assert run_cli(capsys, *common)[0] == 0
    recipe = (tmp_path / "run" / "recipe.json").read_text()
    status, _, err = run_cli(capsys, *common, "--lr", "0.1")
    assert status == 2 and "holds a run of other settings (lr: 0.02 in" in one_error_line(err, "train")
    assert (tmp_path / "run" / "recipe.json").read_text() == recipe  # the stored run is kept
    assert run_cli(capsys, *common, "--lr", "0.1", "--overwrite")[0] == 0
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["lr"] == 0.1
    assert run_cli(capsys, *common, "--lr", "0.1")[0] == 0  # the same settings: trained again


def test_a_closed_stdout_is_an_error_and_a_closed_pipe_ends_quietly():
    command = [sys.executable, "-m", "ldrrld_core", "recipes", "digits"]
    closed = subprocess.run(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        pass_fds=(),
        preexec_fn=lambda: __import__("os").close(1),
    )
    assert closed.returncode == 2  # exit 0 having written nothing, before the fix
    assert closed.stderr.strip() == "ldrrld recipes: error: standard output is closed; nothing can be written"
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader.stdout.close()  # the reader goes away before a byte is read, as `| head -0` does
    assert reader.wait(timeout=120) == 141
    assert reader.stderr.read() == ""


def test_version_answers_without_importing_torch():
    """`ldrrld --version` is instant: it needs neither torch nor the parser whose choices import it."""
    script = (
        "import sys\n"
        "from ldrrld_core.cli import main\n"
        "status = main(['--version'])\n"
        "assert status == 0 and 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ldrrld ")
    import ldrrld_core

    assert ldrrld_core.__version__ in done.stdout and "LDRRLDLoss" in dir(ldrrld_core)
