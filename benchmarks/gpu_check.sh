#!/usr/bin/env bash
# The GPU check: a few minutes on a lent GPU, run from anywhere inside the repository.
#
#   bash benchmarks/gpu_check.sh                      # every part
#   PARTS="card step" bash benchmarks/gpu_check.sh    # some parts
#   OUT=/some/folder bash benchmarks/gpu_check.sh     # also write gpu_check.log and the JSON there
#
# Parts, in order (each under a time limit: TIMEOUT_<part> seconds if set, else PART_TIMEOUT,
# default 240):
#   card   the card's name, memory and driver (nvidia-smi)
#   torch  the torch, torchvision and CUDA versions python3 sees
#   loss   benchmarks/loss_speed.py: KD, LDRRLD and the naive loss, forward + backward
#   step   benchmarks/train_step.py --device cuda: one training step resnet32x4 -> resnet8x4,
#          KD and LDRRLD, batch 64 and 256, bf16 autocast, channels-last
#   epoch  benchmarks/epoch_timing.py: whole synthetic-data epochs through the real trainer
#   tests  the CUDA tests (pytest -k cuda), if pytest is installed
# and, only when named in PARTS:
#   compile  the step benchmark at batch 256 with torch.compile (a minute or more of compiling)
#
# It uses the machine's own python3 and torch and installs nothing: PYTHONPATH points at this
# checkout, and nothing imported needs more than torch, torchvision, numpy, scikit-learn and
# tqdm (the notebook side, ldrrld_viz, is never imported). A part that fails is reported and the
# next one runs; the exit status is the number of parts that failed.

set -u

cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 LDRRLD_FAST=0
PYTHON=${PYTHON:-python3}
PARTS=${PARTS:-card torch loss step epoch tests}
PART_TIMEOUT=${PART_TIMEOUT:-240}

tee_pid=
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    exec > >(tee -a "$OUT/gpu_check.log") 2>&1
    tee_pid=$!
fi

json_to() {  # the --json option of a benchmark, when there is an OUT folder to put it in
    if [ -n "${OUT:-}" ]; then printf -- '--json %q' "$OUT/$1"; fi
}

command_of() {  # the shell command of one part
    case "$1" in
        card)  echo "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv" ;;
        torch) echo "$PYTHON -c 'import torch, torchvision; print(\"torch\", torch.__version__, \"| torchvision\", torchvision.__version__, \"| CUDA\", torch.version.cuda, \"| GPU:\", torch.cuda.get_device_name() if torch.cuda.is_available() else \"none visible\")'" ;;
        loss)  echo "$PYTHON benchmarks/loss_speed.py --repeats 100 $(json_to loss_speed.json)" ;;
        step)  echo "$PYTHON benchmarks/train_step.py --device cuda $(json_to train_step.json)" ;;
        epoch) echo "$PYTHON benchmarks/epoch_timing.py" ;;
        tests) echo "$PYTHON -m pytest tests -q -k cuda -o addopts= -p no:cacheprovider --continue-on-collection-errors" ;;
        compile) echo "$PYTHON benchmarks/train_step.py --device cuda --batch 256 --compile $(json_to train_step_compiled.json)" ;;
        *)     return 1 ;;
    esac
}

passed=() failed=()
started=$(date +%s)
echo "== GPU check of $(git rev-parse --short HEAD 2>/dev/null || echo 'an unknown commit') on $(hostname), $(date -u '+%Y-%m-%d %H:%M UTC')"
for part in $PARTS; do
    echo
    if ! command=$(command_of "$part"); then
        echo "== $part: unknown part (known: card torch loss step epoch tests compile)"
        failed+=("$part(unknown)")
        continue
    fi
    echo "== $part: $command"
    limit_name="TIMEOUT_$part"
    limit=${!limit_name:-$PART_TIMEOUT}
    part_start=$(date +%s)
    timeout "$limit" bash -c "$command"
    status=$?
    seconds=$(( $(date +%s) - part_start ))
    if [ "$status" -eq 0 ]; then
        echo "== $part: ok in ${seconds} s"
        passed+=("$part")
    else
        reason="exit $status"
        [ "$status" -eq 124 ] && reason="timed out after ${limit} s"
        echo "== $part: FAILED ($reason) in ${seconds} s"
        failed+=("$part($reason)")
    fi
done

echo
echo "== done in $(( $(date +%s) - started )) s; ok: ${passed[*]:-none}; failed: ${failed[*]:-none}"
if [ -n "$tee_pid" ]; then  # let tee write the last lines before the log is read
    exec >&- 2>&-
    wait "$tee_pid"
fi
exit "${#failed[@]}"
