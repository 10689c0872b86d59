"""The seed's ImageNet table (its Table 3) and heterogeneous CIFAR-100 table (its Table 4), with a command per cell.

Every number is kept as the seed prints it (a string: ``"71.35*"`` marks the seed's own runs,
``"-"`` a number it does not give). Each column says how the toolkit runs it: a registered loss with
explicit options, the student alone (``ce``), or *quoted only* for the methods not built here
(feature distillers: AT, CRD, ReviewKD, FCFD, CAT-KD, FitNet, RKD, FOFA; IPWD, which has no public
code). ``docs/reproduce.md`` prints these tables and their commands; ``python
benchmarks/reproduce_cifar100.py seed`` lists the commands.

Sources of the settings (docs/training.md and docs/method.md cite them):

* Table 3 (ImageNet, torchvision's ResNet34 -> ResNet18 and ResNet50 -> MobileNetV1): the
  ``imagenet`` recipe (100 epochs, SGD 0.2 for batch 512, x0.1 every 30); LSKD, CTKD and DIST keep
  their authors' ImageNet settings (``-imagenet`` losses; LSKD's CE weight 0.5 for ResNet50 ->
  MobileNetV1, Sun et al., CVPR 2024); KD, DKD, WTTM, TeKAP, SDD and LDRRLD run with the loss's
  registered setting (WTTM and TeKAP published none for ImageNet; SDD's ImageNet runs used its DKD
  form, this toolkit builds the KD form), which the column's note states.
* Table 4 (CIFAR-100 at 224 x 224, timm's architectures, Hao et al., NeurIPS 2023): the OFA-KD
  recipes ``cifar100-224-cnn`` / ``cifar100-224-vit`` (docs/training.md); their KD baseline at
  T 1, DIST at beta = gamma = tau = 1, DKD at alpha 1, beta 2, T 1; OFA at eps 1 with weight 0.1
  for CNN students. Teachers are ImageNet checkpoints fine-tuned on CIFAR-100 (the user's files).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..tables import markdown_table

__all__ = [
    "SeedColumn",
    "SeedRow",
    "SeedTable",
    "TABLE3",
    "TABLE4",
    "SEED_TABLES",
    "seed_commands",
    "seed_markdown",
    "teacher_check_commands",
]

#: Methods of the seed's tables that this toolkit does not build (their numbers are quoted only).
QUOTED_ONLY = {
    "AT": "attention transfer, a feature method",
    "CRD": "contrastive representation distillation, a feature method",
    "ReviewKD": "a feature method",
    "FCFD": "a feature method",
    "CAT-KD": "class activation transfer, a feature method",
    "IPWD": "no public code (Niu et al., NeurIPS 2022)",
    "FitNet": "a feature method",
    "RKD": "relational (feature) distillation",
    "FOFA": "a feature variant of OFA, not built",
}


@dataclass(frozen=True)
class SeedColumn:
    """A method column: its title in the seed, the loss that runs it (``None``: quoted only), its options."""

    title: str
    loss: str | None
    options: Mapping[str, object] = field(default_factory=dict)
    note: str = ""

    @property
    def quoted_only(self) -> bool:
        return self.loss is None


@dataclass(frozen=True)
class SeedRow:
    """One teacher -> student pair: the seed's numbers per column, as printed.

    ``teacher_number`` and ``alone_number`` are the teacher's and the student's own accuracies the
    seed prints with the row (top-1, or ``"top-1 / top-5"`` for ImageNet).
    """

    teacher: str
    student: str
    teacher_number: str
    alone_number: str
    numbers: tuple[str, ...]
    top5: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{_file_name(self.teacher)}-{_file_name(self.student)}"


@dataclass(frozen=True)
class SeedTable:
    name: str
    title: str
    source: str
    recipe: str
    rows: tuple[SeedRow, ...]
    columns_of: tuple[tuple[SeedColumn, ...], ...]  # per row (Table 3's second pair has IPWD for CTKD)

    def __post_init__(self) -> None:
        for row, columns in zip(self.rows, self.columns_of):
            if len(row.numbers) != len(columns) or (row.top5 and len(row.top5) != len(columns)):
                raise ValueError(f"table {self.name}: row {row.key} needs one number per column")


def _quoted(title: str) -> SeedColumn:
    return SeedColumn(title, None, note=f"quoted only: {QUOTED_ONLY[title]}")


_REGISTERED = "the loss's registered setting (no ImageNet setting pinned here)"
_T3_COMMON = (
    *(_quoted(t) for t in ("AT", "CRD", "ReviewKD", "FCFD", "CAT-KD")),
    SeedColumn("KD", "kd", note=_REGISTERED),
)
_T3_TAIL = (
    SeedColumn("DKD", "dkd", note=_REGISTERED),
    SeedColumn("LSKD", "lskd-imagenet", note="the authors' ImageNet setting (T 2, CE 1 + 9 KD)"),
    SeedColumn("SDD", "sdd", note="KD form; the seed's ImageNet SDD is the DKD form (not built)"),
    SeedColumn("WTTM", "wttm", note="no ImageNet setting published"),
    SeedColumn("TeKAP", "tekap", note="no ImageNet setting published; * the seed's own run"),
    SeedColumn("LDRRLD", "ldrrld"),
)
_T3_R18 = (
    *_T3_COMMON,
    SeedColumn("CTKD", "ctkd-imagenet", note="the authors' ImageNet setting (CE 1 + KD 1, 5 curriculum epochs)"),
    *_T3_TAIL,
)
_T3_MV1 = (
    *_T3_COMMON,
    _quoted("IPWD"),
    *(
        SeedColumn("LSKD", "lskd-imagenet", {"ce_weight": 0.5}, "the authors' ResNet50 -> MobileNetV1 setting (CE 0.5)")
        if column.title == "LSKD"
        else column
        for column in _T3_TAIL
    ),
)

TABLE3 = SeedTable(
    name="seed-imagenet",
    title="ImageNet-1K top-1 / top-5 (%) (the seed's Table 3)",
    source="the seed; * marks the seed's own runs",
    recipe="imagenet",
    rows=(
        SeedRow(
            "resnet34",
            "resnet18",
            "73.31 / 91.42",
            "69.75 / 89.07",
            (
                "70.69",
                "71.17",
                "71.61",
                "72.24",
                "71.26",
                "70.66",
                "71.32",
                "71.70",
                "71.42",
                "71.44",
                "72.19",
                "71.35*",
                "71.88",
            ),
            (
                "90.01",
                "90.13",
                "90.51",
                "90.74",
                "90.45",
                "89.88",
                "90.27",
                "90.31",
                "90.29",
                "90.05",
                "-",
                "90.54*",
                "90.58",
            ),
        ),
        SeedRow(
            "resnet50",
            "mobilenet_v1",
            "76.16 / 92.87",
            "68.87 / 88.76",
            (
                "70.18",
                "71.32",
                "72.56",
                "73.37",
                "72.24",
                "70.49",
                "72.65",
                "72.05",
                "72.18",
                "72.24",
                "73.09",
                "72.87*",
                "73.12",
            ),
            (
                "89.68",
                "90.41",
                "91.00",
                "91.35",
                "91.13",
                "89.92",
                "91.08",
                "91.05",
                "90.80",
                "90.71",
                "-",
                "91.05*",
                "91.43",
            ),
        ),
    ),
    columns_of=(_T3_R18, _T3_MV1),
)

_CNN_STUDENTS = ("timm:ResNet18", "timm:MobileNetV2")


def _t4_columns(teacher: str, student: str) -> tuple[SeedColumn, ...]:
    cnn = student in _CNN_STUDENTS
    weights = {"kd_weight": 0.1, "stage_weight": 0.1} if cnn else {}
    ofa_options = {"student": student, "teacher": teacher, "num_classes": 100, "eps": 1.0, **weights}
    return (
        *(_quoted(t) for t in ("FitNet", "RKD", "CRD", "FOFA")),
        SeedColumn("KD", "kd", {"temperature": 1.0}, "OFA-KD's KD baseline: T 1"),
        SeedColumn("DKD", "dkd", {"alpha": 1.0, "beta": 2.0, "temperature": 1.0}, "OFA-KD's DKD: alpha 1, beta 2, T 1"),
        SeedColumn(
            "DIST",
            "dist",
            {"temperature": 1.0, "inter_weight": 1.0, "intra_weight": 1.0},
            "OFA-KD's DIST: beta = gamma = tau = 1",
        ),
        SeedColumn(
            "OFA",
            "ofa",
            ofa_options,
            "eps 1, weight 0.1 (CNN students)"
            if cnn
            else "eps 1; the loss's default weight 0.1 (the authors' "
            "weight for transformer/MLP students is not pinned here)",
        ),
        SeedColumn("TeKAP", "tekap", note="the loss's registered setting; * the seed's own run"),
        SeedColumn("LDRRLD", "ldrrld"),
    )


def _t4(teacher: str, student: str, t: str, alone: str, *numbers: str) -> SeedRow:
    return SeedRow(f"timm:{teacher}", f"timm:{student}", t, alone, tuple(numbers))


_T4_ROWS = (
    _t4(
        "Swin-T",
        "ResNet18",
        "89.26",
        "74.01",
        "78.87",
        "74.11",
        "77.63",
        "81.22",
        "78.74",
        "80.26",
        "77.75",
        "80.54",
        "81.38*",
        "82.17",
    ),  # noqa: E501
    _t4(
        "ViT-S",
        "ResNet18",
        "92.04",
        "74.01",
        "77.71",
        "73.72",
        "76.60",
        "80.11",
        "77.26",
        "78.10",
        "76.49",
        "80.15",
        "79.06*",
        "80.36",
    ),  # noqa: E501
    _t4(
        "Mixer-B/16",
        "ResNet18",
        "87.29",
        "74.01",
        "77.15",
        "73.75",
        "76.42",
        "80.07",
        "77.79",
        "78.67",
        "76.36",
        "79.39",
        "80.05*",
        "80.69",
    ),  # noqa: E501
    _t4(
        "Swin-T",
        "MobileNetV2",
        "89.26",
        "73.68",
        "74.28",
        "69.00",
        "79.80",
        "78.78",
        "74.68",
        "71.07",
        "72.89",
        "80.98",
        "80.23*",
        "81.64",
    ),  # noqa: E501
    _t4(
        "ViT-S",
        "MobileNetV2",
        "92.04",
        "73.68",
        "73.54",
        "68.46",
        "78.14",
        "78.87",
        "72.77",
        "69.80",
        "72.54",
        "78.45",
        "78.41*",
        "79.21",
    ),  # noqa: E501
    _t4(
        "Mixer-B/16",
        "MobileNetV2",
        "87.29",
        "73.68",
        "73.78",
        "68.95",
        "78.15",
        "78.62",
        "73.33",
        "70.20",
        "73.26",
        "78.78",
        "79.89*",
        "80.64",
    ),  # noqa: E501
    _t4(
        "ConvNeXt-T",
        "DeiT-T",
        "88.41",
        "68.00",
        "60.78",
        "69.79",
        "65.94",
        "79.59",
        "72.99",
        "74.60",
        "73.55",
        "75.76",
        "76.32*",
        "77.46",
    ),  # noqa: E501
    _t4(
        "Mixer-B/16",
        "DeiT-T",
        "87.29",
        "68.00",
        "71.05",
        "69.89",
        "65.35",
        "74.66",
        "71.36",
        "73.44",
        "71.67",
        "73.90",
        "74.83*",
        "75.31",
    ),  # noqa: E501
    _t4(
        "ConvNeXt-T",
        "Swin-P",
        "88.41",
        "72.63",
        "24.06",
        "71.73",
        "67.09",
        "80.74",
        "76.44",
        "76.80",
        "76.41",
        "78.32",
        "79.18*",
        "80.71",
    ),  # noqa: E501
    _t4(
        "Mixer-B/16",
        "Swin-P",
        "87.29",
        "72.63",
        "75.20",
        "70.82",
        "67.03",
        "78.44",
        "75.93",
        "76.39",
        "75.85",
        "78.93",
        "78.97*",
        "80.52",
    ),  # noqa: E501
    _t4(
        "ConvNeXt-T",
        "ResMLP-S12",
        "88.41",
        "66.56",
        "45.47",
        "65.82",
        "63.35",
        "83.50",
        "72.25",
        "73.22",
        "71.93",
        "75.21",
        "81.14*",
        "79.28",
    ),  # noqa: E501
    _t4(
        "Swin-T",
        "ResMLP-S12",
        "89.26",
        "66.56",
        "63.12",
        "64.66",
        "61.72",
        "80.94",
        "71.89",
        "72.82",
        "11.05",
        "73.58",
        "80.22*",
        "80.54",
    ),  # noqa: E501
)

TABLE4 = SeedTable(
    name="seed-heterogeneous",
    title="CIFAR-100 top-1 (%) with heterogeneous architectures, OFA's setting (the seed's Table 4)",
    source="the seed; * marks the seed's own runs; T is the fine-tuned teacher, S alone the student trained alone",
    recipe="cifar100-224",
    rows=_T4_ROWS,
    columns_of=tuple(_t4_columns(row.teacher, row.student) for row in _T4_ROWS),
)

SEED_TABLES = (TABLE3, TABLE4)


def _file_name(model: str) -> str:
    """A model name as a file or folder name (``timm:Mixer-B/16`` -> ``timm_Mixer-B-16``)."""
    return model.replace(":", "_").replace("/", "-")


def _recipe_of(table: SeedTable, student: str) -> str:
    if table is TABLE4:  # OFA-KD's two recipes: SGD for CNN students, AdamW and strong augmentation otherwise
        return "cifar100-224-cnn" if student in _CNN_STUDENTS else "cifar100-224-vit"
    return table.recipe


def teacher_file(table: SeedTable, teacher: str, teachers: Path) -> Path:
    """Where the kit expects a teacher's checkpoint: the user's file (torchvision's, or a fine-tuned timm one)."""
    return teachers / table.name / f"{_file_name(teacher)}.pth"


def seed_commands(
    table: SeedTable, *, teachers: Path = Path("data/teachers"), runs: Path = Path("runs/seed_tables"), seed: int = 0
) -> list[tuple[str, str, str]]:
    """``(pair, column, command)`` for every cell; a quoted-only column's command is ``"# quoted only: ..."``."""
    found, alone_done = [], set()
    for row, columns in zip(table.rows, table.columns_of):
        recipe = _recipe_of(table, row.student)
        base = ["--recipe", recipe, "--seed", str(seed)]
        if row.student not in alone_done:  # a student alone serves every teacher
            alone_done.add(row.student)
            out = runs / table.name / "alone" / f"{_file_name(row.student)}-seed{seed}"
            alone = ["train", "--model", row.student, *base, "--out-dir", str(out)]
            found.append((f"{row.student} alone", "student alone", _shell(alone)))
        for column in columns:
            label = f"{row.teacher} -> {row.student}"
            if column.quoted_only:
                found.append((label, column.title, f"# quoted only: {column.note}"))
                continue
            words = [
                "distill",
                "--teacher",
                row.teacher,
                "--model",
                row.student,
                "--loss",
                column.loss,
                *(w for key, value in column.options.items() for w in ("--loss-option", f"{key}={value}")),
                "--teacher-checkpoint",
                str(teacher_file(table, row.teacher, teachers)),
                *base,
                "--out-dir",
                str(runs / table.name / row.key / f"{column.loss}-seed{seed}"),
            ]
            found.append((label, column.title, _shell(words)))
    return found


def teacher_check_commands(
    table: SeedTable, *, teachers: Path = Path("data/teachers"), imagenet_val: Path = Path("data/imagenet/val")
) -> list[tuple[str, str]]:
    """``(teacher, command)`` checking each teacher file of ``table`` against its published top-1.

    Table 3's teachers are torchvision's files: ``ldrrld teacher check FILE --model NAME
    --imagenet-val DIR`` measures each with torchvision's evaluation transform and exits non-zero
    outside the tolerance (:mod:`.imagenet_teachers`). Table 4's teachers are the user's own
    fine-tunes, with no published number to check them against: none.
    """
    if table is not TABLE3:
        return []
    found = []
    for teacher in dict.fromkeys(row.teacher for row in table.rows):
        words = ["teacher", "check", str(teacher_file(table, teacher, teachers)), "--model", teacher]
        found.append((teacher, _shell([*words, "--imagenet-val", str(imagenet_val)])))
    return found


def _shell(words: list[str]) -> str:
    return shlex.join(["ldrrld", *words])


def seed_markdown(*, commands: bool = False) -> str:
    """Both tables as the seed prints them (and, with ``commands``, every cell's command)."""
    lines: list[str] = []
    for table in SEED_TABLES:
        lines += [f"### {table.title}", "", f"Source: {table.source}.", ""]
        if table is TABLE4:  # split by question, so each table fits a page: the feature methods the seed
            # quotes (with both models alone), then the logit methods the kit runs
            columns = table.columns_of[0]
            quoted = [k for k, column in enumerate(columns) if not column.loss]
            run = [k for k, column in enumerate(columns) if column.loss]
            head = ["teacher", "student", "T", "S alone", *(columns[k].title for k in quoted)]
            body = [
                [r.teacher, r.student, r.teacher_number, r.alone_number, *(r.numbers[k] for k in quoted)]
                for r in table.rows
            ]
            lines += ["Feature-based methods (quoted only):", "", markdown_table(head, body), ""]
            head = ["teacher", "student", *(columns[k].title for k in run)]
            body = [[r.teacher, r.student, *(r.numbers[k] for k in run)] for r in table.rows]
            body.append(["", "run as", *(columns[k].loss for k in run)])
            lines += ["Logit methods (each runs in the kit; the student alone runs as `ce`):", ""]
            lines += [markdown_table(head, body), ""]
        else:
            for row, columns in zip(table.rows, table.columns_of):
                lines += [
                    f"{row.teacher} (teacher, {row.teacher_number}) -> {row.student} (alone {row.alone_number})",
                    "",
                ]
                head = ["", *(column.title for column in columns)]
                body = [["top-1", *row.numbers]] + ([["top-5", *row.top5]] if row.top5 else [])
                body.append(["run as", *(column.loss or "quoted only" for column in columns)])
                lines += [markdown_table(head, body), ""]
        if commands:
            lines += ["```", *(f"# {pair} · {column}\n{command}" for pair, column, command in seed_commands(table))]
            lines += ["```", ""]
    return "\n".join(lines)
