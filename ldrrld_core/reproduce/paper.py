"""The paper's two CIFAR-100 tables: the pairs, the method columns and the published numbers.

* **main**: KD, DKD and LDRRLD top-1 for six teacher -> student pairs. The KD numbers are the
  ones the CRD paper (Tian et al., ICLR 2020) reports and DKD's those of the DKD paper (Zhao et
  al., CVPR 2022; resnet110 -> resnet20 is not in it), as the LDRRLD paper quotes them; the
  whole row comes from a second-hand summary of the paper and is approximate.
* **ablation**: the student alone, LDRRLD without and with ADW for four pairs (the poster).

Only the LDRRLD columns were produced by the LDRRLD authors' code; nothing says with which
schedule the quoted KD and DKD numbers were made beyond their own papers' recipes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tables import markdown_table

__all__ = ["Pair", "Column", "PaperTable", "MAIN", "ABLATION", "TABLES", "paper_number", "paper_markdown"]


@dataclass(frozen=True)
class Pair:
    """A teacher and a student of the model zoo."""

    teacher: str
    student: str

    @property
    def key(self) -> str:
        """``teacher-student``, as ``--only`` takes it and the run folders are named."""
        return f"{self.teacher}-{self.student}"

    @property
    def label(self) -> str:
        return f"{self.teacher} -> {self.student}"


@dataclass(frozen=True)
class Column:
    """One method column: its title in the paper and the loss that runs it (``ce``: the student alone)."""

    title: str
    loss: str


@dataclass(frozen=True)
class PaperTable:
    """A table of the paper: one row of top-1 accuracies (%) per pair, one column per method."""

    name: str
    title: str
    source: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Pair, tuple[float, ...]], ...]

    def __post_init__(self) -> None:
        if any(len(numbers) != len(self.columns) for _, numbers in self.rows):
            raise ValueError(f"table {self.name}: every row needs one number per column")

    @property
    def pairs(self) -> tuple[Pair, ...]:
        return tuple(pair for pair, _ in self.rows)


MAIN = PaperTable(
    name="main",
    title="CIFAR-100 top-1 (%): KD, DKD and LDRRLD",
    source="the paper's main table as summarised second-hand (approximate); its KD column quotes the CRD "
    "paper, its DKD column the DKD paper",
    columns=(Column("KD", "kd"), Column("DKD", "dkd"), Column("LDRRLD", "ldrrld")),
    rows=(
        (Pair("resnet56", "resnet20"), (70.66, 71.97, 72.20)),
        (Pair("resnet110", "resnet20"), (70.67, 70.91, 71.98)),
        (Pair("resnet32x4", "resnet8x4"), (73.33, 76.32, 77.20)),
        (Pair("wrn_40_2", "wrn_16_2"), (74.92, 76.24, 76.35)),
        (Pair("vgg13", "vgg8"), (72.98, 74.68, 75.06)),
        (Pair("resnet32x4", "ShuffleV1"), (74.07, 76.45, 76.46)),
    ),
)

ABLATION = PaperTable(
    name="ablation",
    title="CIFAR-100 top-1 (%): the adaptive decay weight (ADW) ablation",
    source="the ablation table of the ICCV 2025 poster",
    columns=(Column("student alone", "ce"), Column("without ADW", "ldrrld-no-adw"), Column("with ADW", "ldrrld")),
    rows=(
        (Pair("vgg13", "vgg8"), (70.50, 74.25, 74.46)),
        (Pair("ResNet50", "MobileNetV2"), (64.60, 68.95, 69.27)),
        (Pair("resnet32x4", "MobileNetV2"), (64.60, 69.23, 69.52)),
        (Pair("resnet32x4", "ShuffleV2"), (71.82, 76.92, 77.07)),
    ),
)

TABLES = (MAIN, ABLATION)


def paper_number(teacher: str | None, student: str, loss: str) -> list[tuple[str, float]]:
    """Every paper number for ``student`` trained with ``loss`` (from ``teacher``): ``[(table name, top-1)]``.

    A student trained alone (``ce``) matches whatever the teacher. The list is empty when no
    table has the cell, and has two entries for vgg13 -> vgg8 with LDRRLD (75.06 and 74.46).
    """
    found = []
    for table in TABLES:
        for pair, numbers in table.rows:
            for column, number in zip(table.columns, numbers):
                same_teacher = loss == "ce" or pair.teacher == teacher
                if pair.student == student and column.loss == loss and same_teacher:
                    found.append((table.name, number))
    return list(dict.fromkeys(found))


def paper_markdown() -> str:
    """The paper's tables alone, as the kit will fill them (no measured column)."""
    lines = []
    for table in TABLES:
        head = ["teacher -> student", *(column.title for column in table.columns)]
        rows = [[pair.label, *(f"{n:.2f}" for n in numbers)] for pair, numbers in table.rows]
        lines += [f"### {table.title}", "", f"Source: {table.source}.", "", markdown_table(head, rows), ""]
    return "\n".join(lines)
