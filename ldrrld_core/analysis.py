"""The numbers behind the pictures: pair weights, one sample's local relations, class relations,
feature embeddings and relation fidelity.

Nothing here imports a plotting library: :mod:`ldrrld_viz` draws what this module computes, and
the tests check each figure against these numbers. Every function is a pure function of tensors
and runs on whatever device its inputs live on (CPU or CUDA); the small results (``(d, d)``,
``(C, C)``) are returned on that device in float64 unless a docstring says otherwise.

Conventions (as in :mod:`ldrrld_core.relations`): ``N`` samples, ``C`` classes, depth ``d``,
``P = d (d - 1) / 2`` rank pairs. Per-pair quantities are ``(P,)`` vectors in the order of
:func:`~ldrrld_core.relations.rank_pairs`; :func:`pair_matrix` spreads one over a ``(d, d)`` grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import torch
from torch import Tensor, nn

from .losses import dkd_loss, kd_loss, ldrrld_loss
from .losses.checks import check_depth, check_logit_pair, check_non_negative, check_positive
from .relations import adw_weights, num_pairs, rank_pairs, top_classes

__all__ = [
    "WeightMaps", "weight_maps", "pair_matrix",
    "SampleRelations", "sample_relations", "logit_gradients",
    "class_mean_logits", "logit_correlation", "MatrixGap", "matrix_gap", "RELATION_KINDS", "relation_gaps",
    "superclass_order", "group_boundaries",
    "ModelOutputs", "collect_outputs", "tsne_embedding",
    "RelationFidelity", "relation_fidelity", "compare_fidelity", "fidelity_table",
]


# --------------------------------------------------------------------------------------------
# Pair weights


def pair_matrix(values: Tensor, depth: int, diagonal: float = 0.0) -> Tensor:
    """Spread per-pair values over a symmetric rank grid: ``(..., P) -> (..., d, d)``.

    ``out[..., p, q] = out[..., q, p] = values[..., k]`` for the ``k``-th pair ``(p, q)`` of
    :func:`~ldrrld_core.relations.rank_pairs`; the diagonal (a rank with itself, never a pair)
    holds ``diagonal`` (use ``float("nan")`` to leave those cells blank in a heatmap).
    """
    if values.shape[-1] != num_pairs(depth):
        raise ValueError(f"expected {num_pairs(depth)} pair values for depth {depth} (d (d - 1) / 2), "
                         f"got a last axis of {values.shape[-1]}")
    first, second = rank_pairs(depth, device=values.device)
    out = values.new_full((*values.shape[:-1], depth, depth), diagonal)
    out[..., first, second] = values
    out[..., second, first] = values
    return out


@dataclass(frozen=True)
class WeightMaps:
    """IRW, ERD and their product ADW for every rank pair of one depth.

    Attributes:
        depth, decay, scale, offset: the settings (``d``, ``gamma``, IRW's ``a`` and ``c``).
        irw, erd, adw: ``(d, d)`` float64, symmetric with a zero diagonal; entry ``[p, q]`` is the
            weight of the pair of ranks ``p + 1`` and ``q + 1`` (``adw = irw * erd``).
        share: ``(P,)`` the share of one sample's local term that each pair carries when every
            pair (and the top-d set) has the same KL: ``w_p / (sum_q w_q + 1)``.
        topd_share: the share the top-d set term carries then, ``1 / (sum_q w_q + 1)``;
            ``share.sum() + topd_share == 1``.
    """

    depth: int
    decay: float
    scale: float
    offset: float
    irw: Tensor
    erd: Tensor
    adw: Tensor
    share: Tensor
    topd_share: float

    def by_distance(self) -> Tensor:
        """ADW as curves over rank distance: ``(d - 1, d - 1)``; row ``i - 1`` holds the pairs that
        start at rank ``i``, column ``k - 1`` distance ``k``: ``ADW(i, i + k)``, NaN where ``i + k > d``."""
        d, device = self.depth, self.adw.device
        start = torch.arange(d - 1, device=device)[:, None]                     # rank i - 1
        end = start + torch.arange(1, d, device=device)[None, :]                # rank i + k - 1
        return torch.where(end < d, self.adw[start, end.clamp(max=d - 1)], math.nan)

    def summary(self) -> dict[str, int | float]:
        """Where the weight goes, in a few numbers (shares of the local term with equal KLs).

        ``pairs``: how many; ``pair (1,2)``: the top pair's share; ``pairs with rank 1``: the
        share of every pair that involves the top class; ``top-d set``: the top-d term's share.
        """
        first, _ = rank_pairs(self.depth, device=self.share.device)
        return {"d": self.depth, "decay": self.decay, "pairs": int(self.share.numel()),
                "pair (1,2)": float(self.share[0]),
                "pairs with rank 1": float(self.share[first == 0].sum()),
                "top-d set": self.topd_share}

    def irw_by_distance(self) -> Tensor:
        """IRW over rank distance ``k = 1 .. d - 1``: ``(d - 1,)``. It depends on the distance only."""
        return self.irw[0, 1:]


def weight_maps(depth: int = 7, decay: float = 0.05, *, scale: float = 2.0,
                offset: float = 1.5) -> WeightMaps:
    """The IRW, ERD and ADW grids of a depth, computed with the loss's own weight function."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ValueError(f"depth must be an integer >= 2, got {depth!r}")
    check_non_negative("decay", decay)
    check_positive("scale", scale)
    check_non_negative("offset", offset)
    grids = {name: adw_weights(depth, decay, scale=scale, offset=offset, weighting=name,
                               dtype=torch.float64) for name in ("irw", "erd", "adw")}
    first, second = rank_pairs(depth)
    weights = grids["adw"][first, second]
    total = float(weights.sum()) + 1.0
    return WeightMaps(depth=depth, decay=float(decay), scale=float(scale), offset=float(offset),
                      share=weights / total, topd_share=1.0 / total, **grids)


# --------------------------------------------------------------------------------------------
# One sample


@dataclass(frozen=True)
class SampleRelations:
    """The local relations of one sample, as LDRRLD sees them. Tensors are float64 on the input's device.

    Attributes:
        depth, temperature: the settings.
        top_classes: ``(d,)`` the selected classes, highest rank first.
        teacher_global, student_global: ``(d,)`` the probabilities of those classes under the
            softmax over all ``C`` classes (at temperature ``T``).
        teacher_local, student_local: ``(d,)`` the softmax over the ``d`` selected classes only.
        teacher_pair, student_pair: ``(d, d)`` the two-class distributions: entry ``[p, q]`` is
            the probability of rank ``p + 1`` in the pair with rank ``q + 1``,
            ``sigmoid((z[p] - z[q]) / T)``; ``[p, q] + [q, p] = 1``, diagonal 0.5.
        pair_kl: ``(P,)`` KL of every pair's two-class distributions (teacher || student).
        pair_weights: ``(P,)`` the weight of every pair.
        contribution: ``(P,)`` what each pair adds to this sample's local term,
            ``T^2 w_p KL_p / (P + 1)``.
        topd_kl: KL of the top-d softmaxes; ``topd_contribution = T^2 topd_kl / (P + 1)``.
        local: this sample's local term, ``contribution.sum() + topd_contribution``; equal to
            ``ldrrld_loss(...).local`` for a batch of this one sample.
        rntk: this sample's remaining non-target term, ``T^2 KL`` over the ``C - d`` other classes.
    """

    depth: int
    temperature: float
    top_classes: Tensor
    teacher_global: Tensor
    student_global: Tensor
    teacher_local: Tensor
    student_local: Tensor
    teacher_pair: Tensor
    student_pair: Tensor
    pair_kl: Tensor
    pair_weights: Tensor
    contribution: Tensor
    topd_kl: float
    topd_contribution: float
    local: float
    rntk: float


def _one_sample(student_logits: Tensor, teacher_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Check two ``(C,)`` logit vectors and return them as float64 ``(1, C)`` rows."""
    for name, x in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        if not isinstance(x, Tensor) or x.dim() != 1:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must be the 1-D logits (classes,) of one sample, got {shape}; "
                             "pick a row with logits[i]")
    student, teacher = student_logits.detach().double()[None], teacher_logits.detach().double()[None]
    check_logit_pair(student, teacher)
    return student, teacher


def _pair_probabilities(top_logits: Tensor) -> Tensor:
    """``(d,) -> (d, d)``: ``sigmoid(z[p] - z[q])``, the two-class softmax of every pair of tempered logits."""
    return torch.sigmoid(top_logits[:, None] - top_logits[None, :])


def sample_relations(student_logits: Tensor, teacher_logits: Tensor, *, depth: int = 7,
                     temperature: float = 4.0, decay: float = 0.05, irw_scale: float = 2.0,
                     irw_offset: float = 1.5, weighting: str = "adw",
                     rank_by: str = "student") -> SampleRelations:
    """Take one sample apart the way the LDRRLD loss does: ``(C,), (C,) -> SampleRelations``.

    The selection, pair KLs, weights and totals come from :func:`~ldrrld_core.losses.ldrrld_loss`
    itself (run in float64), so the picture shows exactly what the loss computes.
    """
    student, teacher = _one_sample(student_logits, teacher_logits)
    terms = ldrrld_loss(student, teacher, depth=depth, temperature=temperature, decay=decay,
                        irw_scale=irw_scale, irw_offset=irw_offset, weighting=weighting,
                        rank_by=rank_by)
    top = terms.top_classes[0]
    scale = temperature ** 2 / (num_pairs(depth) + 1)
    z_s, z_t = student[0] / temperature, teacher[0] / temperature
    weights, pair_kl = terms.pair_weights, terms.pair_kl[0]
    topd_kl = float(terms.topd_kl[0])
    contribution = scale * weights * pair_kl
    return SampleRelations(
        depth=depth, temperature=float(temperature), top_classes=top,
        teacher_global=z_t.softmax(0)[top], student_global=z_s.softmax(0)[top],
        teacher_local=z_t[top].softmax(0), student_local=z_s[top].softmax(0),
        teacher_pair=_pair_probabilities(z_t[top]), student_pair=_pair_probabilities(z_s[top]),
        pair_kl=pair_kl, pair_weights=weights,
        contribution=contribution, topd_kl=topd_kl, topd_contribution=scale * topd_kl,
        local=float(contribution.sum()) + scale * topd_kl, rntk=float(terms.rntk))


def logit_gradients(student_logits: Tensor, teacher_logits: Tensor, target: int, *,
                    temperature: float = 4.0, depth: int = 7, decay: float = 0.05,
                    alpha: float = 10.5, beta: float = 7.0, dkd_alpha: float = 1.0,
                    dkd_beta: float = 8.0) -> dict[str, Tensor]:
    """The gradient each distillation loss puts on each student logit of one sample.

    Returns ``{"KD": g, "DKD": g, "LDRRLD": g}``, each ``(C,)`` float64: the derivative of the
    loss's distillation part (no cross-entropy) with respect to ``student_logits``: KD is
    ``T^2 KL``, DKD ``dkd_alpha TCKD + dkd_beta NCKD``, LDRRLD ``alpha L_local + beta L_rntk``.
    A negative entry means the loss pushes that logit up. Every loss is a KL between softmaxes,
    so each gradient sums to zero (adding a constant to all logits changes nothing).
    """
    student, teacher = _one_sample(student_logits, teacher_logits)
    label = torch.tensor([int(target)], device=student.device)
    objectives = {
        "KD": lambda s: kd_loss(s, teacher, temperature),
        "DKD": lambda s: dkd_loss(s, teacher, label, dkd_alpha, dkd_beta, temperature),
        "LDRRLD": lambda s: ldrrld_loss(s, teacher, depth=depth, temperature=temperature,
                                        decay=decay).total(alpha, beta),
    }
    gradients = {}
    for name, objective in objectives.items():
        s = student.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(s), s)
        gradients[name] = grad[0]
    return gradients


# --------------------------------------------------------------------------------------------
# Inter-class relations


def class_mean_logits(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> Tensor:
    """The class-mean logit matrix: ``(N, C), (N,) -> (K, C)`` float64.

    Row ``k`` is the mean logit vector of the samples labelled ``k``; ``K`` is ``num_classes``
    (default ``C``). Every class needs at least one sample.
    """
    if logits.dim() != 2 or labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    count = logits.shape[1] if num_classes is None else int(num_classes)
    labels = labels.to(logits.device).long()
    sizes = torch.bincount(labels, minlength=count)
    if sizes.shape[0] > count:
        raise ValueError(f"labels go up to {int(labels.max())} but num_classes is {count}")
    if bool((sizes == 0).any()):
        empty = torch.nonzero(sizes == 0).flatten().tolist()
        raise ValueError(f"class(es) {empty[:10]} have no samples, so they have no mean logits; "
                         "evaluate on a larger split (e.g. the whole test set)")
    sums = logits.new_zeros(count, logits.shape[1], dtype=torch.float64)
    return sums.index_add_(0, labels, logits.detach().double()) / sizes[:, None]


def logit_correlation(logits: Tensor) -> Tensor:
    """Pearson correlation between the logits of every two classes over samples: ``(N, C) -> (C, C)``.

    Symmetric, values in ``[-1, 1]``, ones on the diagonal. A class whose logit never changes has
    no correlation: its row and column are NaN.
    """
    if logits.dim() != 2 or logits.shape[0] < 2:
        raise ValueError(f"expected logits (N, C) with N >= 2 samples, got {tuple(logits.shape)}")
    values = logits.detach().double()
    centred = values - values.mean(0)
    norms = centred.norm(dim=0)
    unit = centred / torch.where(norms > 0, norms, math.nan)
    return (unit.T @ unit).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class MatrixGap:
    """How far a student's relation matrix is from the teacher's.

    Attributes:
        teacher, student: the two matrices, same shape.
        gap: ``|teacher - student|``, elementwise.
        max, mean: of ``gap`` (NaN cells ignored).
    """

    teacher: Tensor
    student: Tensor
    gap: Tensor
    max: float
    mean: float


def matrix_gap(teacher: Tensor, student: Tensor) -> MatrixGap:
    """The absolute difference of two relation matrices with its max and mean (the KD literature's view)."""
    if teacher.shape != student.shape:
        raise ValueError(f"the matrices differ in shape: teacher {tuple(teacher.shape)}, "
                         f"student {tuple(student.shape)}; compute both on the same classes")
    gap = (teacher.double() - student.double().to(teacher.device)).abs()
    valid = gap[~gap.isnan()]
    if valid.numel() == 0:
        raise ValueError("the matrices have no finite cells to compare")
    return MatrixGap(teacher=teacher, student=student, gap=gap, max=float(valid.max()),
                     mean=float(valid.mean()))


#: The inter-class relation matrices :func:`relation_gaps` compares.
RELATION_KINDS = ("class_mean", "correlation")


def relation_gaps(teacher_logits: Tensor, students: Mapping[str, Tensor], *, kind: str = "class_mean",
                  labels: Tensor | None = None, num_classes: int | None = None) -> dict[str, MatrixGap]:
    """Each student's relation matrix against the teacher's, by name: ``{name: MatrixGap}``.

    Args:
        teacher_logits: ``(N, C)``; ``students`` maps names to ``(N, C)`` logits on the same samples.
        kind: ``"class_mean"`` (:func:`class_mean_logits`, needs ``labels``) or ``"correlation"``
            (:func:`logit_correlation`).
        labels, num_classes: for ``"class_mean"``.
    """
    if kind == "class_mean":
        if labels is None:
            raise ValueError("kind='class_mean' needs the labels (N,) of the samples")
        relation = lambda logits: class_mean_logits(logits, labels, num_classes)  # noqa: E731
    elif kind == "correlation":
        relation = logit_correlation
    else:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(RELATION_KINDS)}")
    if not students:
        raise ValueError("give at least one student to compare with the teacher")
    teacher = relation(teacher_logits)
    return {name: matrix_gap(teacher, relation(logits)) for name, logits in students.items()}


def superclass_order(superclass_of: Tensor) -> Tensor:
    """An order of the classes that groups them by superclass: ``(C,) -> (C,)`` long.

    Classes of superclass 0 come first, then 1, ...; within a superclass the class order is kept.
    Index a matrix with it on both axes (``m[order][:, order]``) to make the groups visible.
    """
    return torch.sort(superclass_of.long(), stable=True).indices


def group_boundaries(groups: Tensor) -> list[int]:
    """Positions where a sorted group sequence changes: ``[i for i in 1..n-1 if g[i] != g[i-1]]``."""
    change = torch.nonzero(groups[1:] != groups[:-1]).flatten() + 1
    return change.tolist()


# --------------------------------------------------------------------------------------------
# Features and embeddings


@dataclass(frozen=True)
class ModelOutputs:
    """What a model says about a data set, gathered on the CPU.

    Attributes:
        logits: ``(N, C)`` float32.
        labels: ``(N,)`` long.
        features: ``(N, D)`` float32 penultimate features, or ``None`` for a model without
            ``penultimate`` and ``get_classifier``.
    """

    logits: Tensor
    labels: Tensor
    features: Tensor | None


@torch.no_grad()
def collect_outputs(model: nn.Module, batches: Iterable, *, device: torch.device | str | None = None,
                    max_samples: int | None = None) -> ModelOutputs:
    """Run ``model`` in eval mode over ``(x, y)`` batches and gather logits, labels and features.

    ``batches`` is any iterable of ``(inputs, labels)`` pairs (a ``DataLoader``, the toolkit's
    loader, a list). Models of the zoo give their penultimate features from the same pass
    (``penultimate`` then ``get_classifier``); other models give logits only. ``device``
    defaults to the model's; the model's train/eval mode is restored afterwards.
    """
    if device is None:
        first_param = next(model.parameters(), None)
        device = first_param.device if first_param is not None else torch.device("cpu")
    with_features = hasattr(model, "penultimate") and hasattr(model, "get_classifier")
    logits, labels, features, seen = [], [], [], 0
    was_training = model.training
    model.eval()
    try:
        for x, y in batches:
            x = x.to(device, non_blocking=True)
            if with_features:
                feature = model.penultimate(x)
                logits.append(model.get_classifier()(feature).float().cpu())
                features.append(feature.float().cpu())
            else:
                logits.append(model(x).float().cpu())
            labels.append(torch.as_tensor(y).long().cpu())
            seen += x.shape[0]
            if max_samples is not None and seen >= max_samples:
                break
    finally:
        model.train(was_training)
    if not logits:
        raise ValueError("the batches are empty: nothing to evaluate")
    keep = slice(0, max_samples)
    return ModelOutputs(logits=torch.cat(logits)[keep], labels=torch.cat(labels)[keep],
                        features=torch.cat(features)[keep] if with_features else None)


#: Up to this many points, t-SNE runs on one thread: a team of threads costs more than it saves on
#: a small map, and on a busy machine far more.
TSNE_SINGLE_THREAD_UP_TO = 5000


def tsne_embedding(features: Tensor, *, seed: int = 0, perplexity: float = 30.0) -> Tensor:
    """A 2-D t-SNE map of features (scikit-learn, PCA start, fixed seed): ``(N, D) -> (N, 2)`` float64 CPU.

    The perplexity is lowered to ``(N - 1) / 3`` for small ``N`` (t-SNE needs more neighbours
    than that). The same features and seed give the same map, whatever the number of threads.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    if features.dim() != 2 or features.shape[0] < 4:
        raise ValueError(f"t-SNE needs features (N, D) with at least 4 samples, got {tuple(features.shape)}")
    check_positive("perplexity", perplexity)
    points = features.detach().double().cpu().numpy()
    tsne = TSNE(n_components=2, init="pca", random_state=seed, learning_rate="auto",
                perplexity=min(float(perplexity), (points.shape[0] - 1) / 3))
    with threadpool_limits(1 if points.shape[0] <= TSNE_SINGLE_THREAD_UP_TO else None):
        return torch.from_numpy(tsne.fit_transform(points)).double()


# --------------------------------------------------------------------------------------------
# Relation fidelity


@dataclass(frozen=True)
class RelationFidelity:
    """How well a student keeps the teacher's local relations on the teacher's top-d classes.

    For each sample the teacher ranks its ``d`` largest logits; the student is then judged on
    those same classes. Per pair ``(i, j)`` of teacher ranks (``(P,)``, pair order of
    :func:`~ldrrld_core.relations.rank_pairs`):

    Attributes:
        depth, temperature: the settings.
        pair_kl: ``(P,)`` mean over samples of the pair's two-class KL (teacher || student) at ``T``.
        pair_agreement: ``(P,)`` fraction of samples where the student orders the two classes as the
            teacher does (a tie counts one half).
        kendall: ``(N,)`` Kendall's tau between the teacher's and the student's order of the
            teacher's top-d classes (1: same order, -1: reversed).
        spearman: ``(N,)`` Spearman's rho of the same two orders.
        topd_overlap: ``(N,)`` fraction of the teacher's top-d classes that are also in the student's.
        top1_agreement: ``(N,)`` 1 where the student's top class is the teacher's.
    """

    depth: int
    temperature: float
    pair_kl: Tensor
    pair_agreement: Tensor
    kendall: Tensor
    spearman: Tensor
    topd_overlap: Tensor
    top1_agreement: Tensor

    def summary(self) -> dict[str, float]:
        """One number per measure, averaged over pairs and samples."""
        return {"pair_kl": float(self.pair_kl.mean()),
                "pair_agreement": float(self.pair_agreement.mean()),
                "kendall_tau": float(self.kendall.mean()),
                "spearman_rho": float(self.spearman.mean()),
                "topd_overlap": float(self.topd_overlap.mean()),
                "top1_agreement": float(self.top1_agreement.mean())}


def relation_fidelity(teacher_logits: Tensor, student_logits: Tensor, *, depth: int = 7,
                      temperature: float = 4.0) -> RelationFidelity:
    """Measure how well a student keeps the teacher's local relations: ``(N, C), (N, C) -> RelationFidelity``."""
    teacher, student = teacher_logits.detach().double(), student_logits.detach().double()
    check_logit_pair(student, teacher)
    check_depth(depth, teacher.shape[1])
    check_positive("temperature", temperature)
    terms = ldrrld_loss(student, teacher, depth=depth, temperature=temperature,
                        weighting="uniform", rank_by="teacher", validate=False)
    top = terms.top_classes                                                    # (N, d) teacher order
    s_top = student.gather(1, top)                                             # (N, d)
    first, second = rank_pairs(depth, device=top.device)
    agree = (s_top[:, first] > s_top[:, second]).double() + 0.5 * (s_top[:, first] == s_top[:, second]).double()
    order = torch.argsort(s_top, dim=1, descending=True, stable=True)          # (N, d)
    student_rank = torch.argsort(order, dim=1).double()                        # rank of each class
    teacher_rank = torch.arange(depth, dtype=torch.float64, device=top.device)
    spearman = 1 - 6 * ((student_rank - teacher_rank) ** 2).sum(1) / (depth * (depth ** 2 - 1))
    in_student_top = torch.zeros_like(student, dtype=torch.bool).scatter_(1, top_classes(student, depth), True)
    return RelationFidelity(
        depth=depth, temperature=float(temperature), pair_kl=terms.pair_kl.mean(0),
        pair_agreement=agree.mean(0), kendall=2 * agree.mean(1) - 1, spearman=spearman,
        topd_overlap=in_student_top.gather(1, top).double().mean(1),
        top1_agreement=(student.argmax(1) == top[:, 0]).double())


def compare_fidelity(teacher_logits: Tensor, students: Mapping[str, Tensor], *, depth: int = 7,
                     temperature: float = 4.0) -> dict[str, RelationFidelity]:
    """:func:`relation_fidelity` of several students against one teacher, by name (same samples)."""
    return {name: relation_fidelity(teacher_logits, logits, depth=depth, temperature=temperature)
            for name, logits in students.items()}


def fidelity_table(fidelities: Mapping[str, RelationFidelity]) -> list[dict[str, object]]:
    """One row per student: ``{"student": name, **fidelity.summary()}``, in the mapping's order."""
    return [{"student": name, **fidelity.summary()} for name, fidelity in fidelities.items()]
