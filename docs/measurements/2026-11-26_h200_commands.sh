set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, torchvision; print(torch.__version__, torchvision.__version__)"
echo "== loss benchmark"; timeout 120 python3 benchmarks/loss_speed.py --repeats 100 --json $OUT/loss_speed.json
echo "== CUDA tests"; timeout 150 python3 -m pytest -o addopts="" -p no:cacheprovider -q tests/test_losses.py tests/test_models.py tests/test_data.py tests/test_train.py -k "cuda or CUDA or gpu" 2>&1 | tail -15
echo "== epochs"; timeout 200 python3 benchmarks/epoch_timing.py
