"""Whole distillation epochs on a GPU: resnet32x4 -> resnet8x4 with KD and with LDRRLD.

Runs the real trainer (``distill``) on 20,000 synthetic CIFAR-shaped images for one epoch per
setting (batch 64 and 256, bf16 autocast and full precision), each loss twice, interleaved; the
table reports the second run of each (the first pays for cuDNN autotuning and warm-up) and the
LDRRLD / KD ratio of whole epochs. The
teacher is randomly initialised: only speed is measured here. Needs CUDA::

    PYTHONPATH=. python3 benchmarks/epoch_timing.py
"""
import json
import sys
import time

import torch

from ldrrld_core.data import load_dataset
from ldrrld_core.models import create_model
from ldrrld_core.train import distill, get_recipe

if not torch.cuda.is_available():
    sys.exit("epoch_timing.py needs a CUDA GPU; on a CPU use benchmarks/train_step.py")
print("card:", torch.cuda.get_device_name(), "| torch", torch.__version__)
data_opts = {"train_per_class": 200, "test_per_class": 50}   # 20,000 train images
t0 = time.perf_counter()
data = load_dataset("synthetic", **data_opts)
print(f"synthetic data generated in {time.perf_counter() - t0:.1f} s")
teacher = create_model("resnet32x4", num_classes=100).cuda()
rows = []
for batch in (64, 256):
    for amp in ("bf16", "none"):
        for loss in ("kd", "ldrrld", "kd", "ldrrld"):
            recipe = get_recipe("synthetic", model="resnet8x4", teacher="resnet32x4", loss=loss, epochs=1,
                                batch_size=batch, amp=amp, deterministic=False, warmup_epochs=0,
                                data_options=data_opts, lr=0.05 * batch / 64)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            run = distill(recipe, teacher=teacher, data=data, device="cuda", progress=False)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            rows.append({"batch": batch, "amp": amp, "loss": loss, "epoch_s": round(dt, 2),
                         "img_per_s": round(20000 / dt), "top1": round(run.top1, 2)})
            print(json.dumps(rows[-1]), flush=True)
print("| batch | amp | KD epoch s | LDRRLD epoch s | KD images/s | LDRRLD images/s | LDRRLD/KD |")
print("|---|---|---|---|---|---|---|")
for kd, ldrrld in zip(rows[2::4], rows[3::4]):   # the second run of each loss per setting
    print(f"| {kd['batch']} | {kd['amp']} | {kd['epoch_s']} | {ldrrld['epoch_s']} | {kd['img_per_s']} | "
          f"{ldrrld['img_per_s']} | {ldrrld['epoch_s'] / kd['epoch_s']:.2f} |")
