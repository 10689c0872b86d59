# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Reproducing the paper's CIFAR-100 tables
#
# The paper reports two CIFAR-100 tables that this toolkit should reproduce: KD, DKD and LDRRLD for
# six teacher/student pairs, and an ablation of the adaptive decay weight (ADW) for four more.
# Each cell is a 240-epoch run on a GPU, with a teacher from the literature's standard checkpoints.
#
# `benchmarks/reproduce_cifar100.py` is the kit that does it: it knows the pairs and the paper's
# numbers, prints the exact `ldrrld` command of every run, runs them (resuming interrupted ones)
# and writes a table with the paper's number beside each measured one. This notebook walks through
# it and, since a real reproduction takes GPU-days, runs the kit's **fast mode**: the same commands
# on tiny synthetic data for one epoch, which checks every step but says nothing about accuracy.

# %%
from ldrrld_viz.notebook import setup

nb = setup(seed=0)
nb

# %% [markdown]
# The kit is a script beside the loss benchmark; importing it gives its functions.

# %%
import sys
import tempfile
from pathlib import Path

root = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "benchmarks" / "reproduce_cifar100.py").exists())
sys.path.insert(0, str(root / "benchmarks"))
import reproduce_cifar100 as kit  # noqa: E402

assert [table.name for table in kit.TABLES] == ["main", "ablation"]

# %% [markdown]
# ## 1. The pairs and the paper's numbers
#
# Every model name is one of the zoo's (`ldrrld models --family cifar`). The main table's numbers are
# a second-hand summary of the paper and only approximate; the ablation comes from the poster.
# Note that vgg13 -> vgg8 appears in both, with different LDRRLD numbers (75.06 and 74.46): the
# kit runs it once and shows both.

# %%
print(kit.paper_markdown())
assert len(kit.MAIN.rows) == 6 and len(kit.ABLATION.rows) == 4

# %% [markdown]
# ## 2. The runs a full reproduction needs
#
# One run per cell and seed. A student trained alone (the ablation's first column) does not depend
# on the teacher, so MobileNetV2 alone serves both of its rows; the shared vgg13 -> vgg8 LDRRLD run
# is also made once. With three seeds that is 84 runs of 240 epochs.

# %%
full = kit.Settings(seeds=(0, 1, 2))
every_pair = kit.select_pairs(None)
runs = kit.cells(full, every_pair)
print(f"{len(every_pair)} pairs, {len(runs)} runs with seeds {list(full.seeds)}")
print(sorted({cell.loss for cell in runs}))
assert len(runs) == 3 * 28

# %% [markdown]
# Here are the exact commands for one pair and one seed. Each distils from the standard teacher file
# `data/teachers/<name>_vanilla/ckpt_epoch_240.pth`, uses the `cifar100-authors` preset (the
# authors' effective learning-rate schedule, as the paper's numbers were made with it), downloads
# CIFAR-100 if it is missing and resumes from its own folder, so rerunning a command after a crash
# continues the run and rerunning a finished one does nothing.

# %%
one = kit.Settings()
for line in kit.commands(one, kit.select_pairs(["resnet32x4-resnet8x4"])):
    print(line)
assert all("--teacher-checkpoint data/teachers/resnet32x4_vanilla/ckpt_epoch_240.pth" in line
           for line in kit.commands(one, kit.select_pairs(["resnet32x4-resnet8x4"])))

# %% [markdown]
# On a GPU machine the same happens in one go, with `python benchmarks/reproduce_cifar100.py run
# --teachers data/teachers` (add `--only resnet32x4-resnet8x4` for one pair, `--seeds 0 1 2` for
# three seeds). Before the first run it checks that every teacher file it will need is there, so a
# missing file fails in a second rather than after the first day.
#
# ## 3. The fast run
#
# Fast mode swaps CIFAR-100 for 20 synthetic classes of 8x8 images, trains one epoch and makes
# stand-in teachers (one epoch each, saved in the standard layout). By default it runs the pair
# vgg13 -> vgg8, which appears in both tables and so needs every method: KD, DKD, LDRRLD, LDRRLD
# without ADW and the student alone.

# %%
scratch = tempfile.TemporaryDirectory()
fast = kit.Settings.for_fast(scratch.name)
fast_pairs = kit.select_pairs(None, fast=True)
for line in kit.commands(fast, fast_pairs)[:1]:
    print(line.replace(scratch.name, "<scratch>"))
summaries = kit.run(fast, fast_pairs)
assert len(summaries) == 5 and all(s["epochs"] == 1 and s["data"] == "synthetic" for s in summaries)

# %% [markdown]
# ## 4. The filled table
#
# `write_results` reads every finished run (a run counts once it reached the epochs it was started
# for) and writes `results.md` and `results.json`. With several seeds a measured cell shows the mean
# and the standard deviation over the finished ones; cells without a finished run stay empty.
# The fast numbers sit near chance (5% for 20 classes) and compare with nothing: only the layout
# and the plumbing are being checked here.

# %%
results = kit.write_results(fast)
print(kit.markdown(results))
vgg = [row for table in results["tables"] for row in table["rows"] if row["student"] == "vgg8"]
assert all(cell["measured"] is not None for row in vgg for cell in row["cells"])
assert sum(cell["measured"] is None for table in results["tables"] for row in table["rows"]
           for cell in row["cells"]) == 30 - 6, "the other 24 of the 30 cells are still empty"
assert (Path(scratch.name) / "results.md").exists()

# %%
scratch.cleanup()

# %% [markdown]
# ## What to run on a GPU
#
# ```bash
# # the teachers: mdistiller's cifar_teachers.tar (or CRD's fetch script), unpacked into data/teachers
# python benchmarks/reproduce_cifar100.py commands --teachers data/teachers --seeds 0 1 2 > runs.sh
# bash runs.sh                                        # or split the lines over several GPUs
# python benchmarks/reproduce_cifar100.py table --seeds 0 1 2
# ```
#
# `docs/reproduce.md` has the details: where the teachers come from, the schedule presets, how long
# a run takes and how the table reads.
