"""GPU-hour estimates for every cell of the seed's Tables 3 and 4: an estimate, not a measurement.

No GPU has trained these models here, so the cost of a cell is derived, in the open, from the
models' arithmetic and an assumed GPU rate::

    GPU-hours = epochs x (train images x (3 F_student + F_teacher) + eval images x F_student)
                / (ASSUMED_TFLOPS x 1e12 x 3600)

* ``F``: forward FLOPs of one 224 x 224 image, counted by torch's ``FlopCounterMode`` on the meta
  device (nothing computed; 2 per multiply-add; convolutions, matrix products and attention, not
  the elementwise operations); ``benchmarks/model_costs.py`` prints them with the CPU
  measurements (docs/benchmarks.md).
* a training step is a forward and a backward of the student (backward about twice the forward:
  3 F) and a forward of the teacher (its logits change with every augmented batch, so they are not
  cached); each epoch also evaluates the student on the test split once. The loss itself, OFA's
  projector heads and data loading are left out (small beside the models at 224 pixels, or hidden
  behind the GPU if the loaders keep up).
* epochs and images: the cell's recipe (``imagenet``: 100 epochs of ImageNet's 1,281,167 training
  and 50,000 validation images; ``cifar100-224-*``: 300 epochs of CIFAR-100's 50,000 and 10,000).
* :data:`ASSUMED_TFLOPS`: the sustained mixed-precision training rate assumed for one
  :data:`ASSUMED_GPU`, about 22% of its 312 TFLOP/s dense fp16/bf16 peak; ResNet50's ImageNet
  training at the 2,500 to 3,000 images per second usually reported for one A100 with mixed
  precision is 3 x 8.2 GFLOPs x ~2,800 / s, about 70 TFLOP/s. Transformers often run at a higher
  share of the peak and the small students (MobileNets, Swin-P, DeiT-T) at a lower one; take the
  numbers as the order of magnitude, and scale them by 70 / (your measured TFLOP/s).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..tables import markdown_table

__all__ = [
    "ASSUMED_GPU",
    "ASSUMED_TFLOPS",
    "ESTIMATE_NOTE",
    "DATA_IMAGES",
    "CellCost",
    "forward_gflops",
    "cell_cost",
    "seed_costs",
    "cost_markdown",
    "hours",
]

ASSUMED_GPU = "NVIDIA A100 80GB (SXM)"
ASSUMED_TFLOPS = 70.0
ESTIMATE_NOTE = (
    f"estimated GPU-hours on one {ASSUMED_GPU} at an assumed sustained {ASSUMED_TFLOPS:g} TFLOP/s "
    "(mixed precision), from the models' counted FLOPs; not measured (ldrrld_core/reproduce/costs.py)"
)

#: (training images, evaluation images) of each data set of the seed's tables.
DATA_IMAGES = {"imagenet": (1_281_167, 50_000), "cifar100-224": (50_000, 10_000)}


@lru_cache(maxsize=None)
def forward_gflops(model: str, num_classes: int, image_size: int = 224) -> float:
    """Forward GFLOPs of one ``image_size`` image through the zoo's ``model`` (counted on the meta device)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models import create_model

    with torch.device("meta"):
        network = create_model(model, num_classes=num_classes).eval()
        images = torch.empty(1, 3, image_size, image_size)
    with FlopCounterMode(display=False) as counter:
        network(images)
    return counter.get_total_flops() / 1e9


@dataclass(frozen=True)
class CellCost:
    """The arithmetic of one cell's run and its estimated GPU-hours (see the module's docstring)."""

    recipe: str
    epochs: int
    train_images: int
    eval_images: int
    student_gflops: float
    teacher_gflops: float | None  # None: the student alone

    @property
    def pflops(self) -> float:
        """The run's total arithmetic, in PFLOPs (1e15)."""
        teacher = self.teacher_gflops or 0.0
        per_epoch = self.train_images * (3 * self.student_gflops + teacher) + self.eval_images * self.student_gflops
        return self.epochs * per_epoch / 1e6

    @property
    def gpu_hours(self) -> float:
        """Estimated hours on one :data:`ASSUMED_GPU` at :data:`ASSUMED_TFLOPS`."""
        return self.pflops * 1e15 / (ASSUMED_TFLOPS * 1e12 * 3600)


def cell_cost(table, row, *, alone: bool = False) -> CellCost:
    """The cost of a distillation cell of ``row`` of seed table ``table`` (``alone``: its student alone)."""
    from ..train import get_recipe
    from .seed_tables import _recipe_of

    name = _recipe_of(table, row.student)
    recipe = get_recipe(name)
    classes = 1000 if recipe.data == "imagenet" else 100
    train_images, eval_images = DATA_IMAGES[recipe.data]
    return CellCost(
        recipe=name,
        epochs=recipe.epochs,
        train_images=train_images,
        eval_images=eval_images,
        student_gflops=forward_gflops(row.student, classes),
        teacher_gflops=None if alone else forward_gflops(row.teacher, classes),
    )


def seed_costs(table) -> list[CellCost | None]:
    """One entry per item of :func:`~.seed_tables.seed_commands` of ``table``, in its order (``None``: quoted only)."""
    found, alone_done = [], set()
    for row, columns in zip(table.rows, table.columns_of):
        if row.student not in alone_done:
            alone_done.add(row.student)
            found.append(cell_cost(table, row, alone=True))
        distilled = cell_cost(table, row)
        found += [None if column.quoted_only else distilled for column in columns]
    return found


def hours(value: float) -> str:
    """GPU-hours as shown: two decimals under one hour, one above."""
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def cost_markdown(table) -> str:
    """Per pair of ``table``: the models' GFLOPs and the estimated GPU-hours of each cell the kit runs."""
    head = [
        "teacher",
        "student",
        "recipe",
        "epochs",
        "GFLOPs T / S",
        "S alone GPU-h",
        "each distillation GPU-h",
        "cells run",
        "pair total GPU-h",
    ]
    body = []
    for row, columns in zip(table.rows, table.columns_of):
        alone, distilled = cell_cost(table, row, alone=True), cell_cost(table, row)
        runs = sum(not column.quoted_only for column in columns)
        body.append(
            [
                row.teacher,
                row.student,
                distilled.recipe,
                distilled.epochs,
                f"{distilled.teacher_gflops:.2f} / {distilled.student_gflops:.2f}",
                hours(alone.gpu_hours),
                hours(distilled.gpu_hours),
                runs,
                f"{runs * distilled.gpu_hours:.0f}",
            ]
        )
    return markdown_table(head, body)
