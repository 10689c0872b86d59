"""The numbers behind the pictures: pair weights, one sample's local relations, class relations,
feature embeddings and relation fidelity, one module each.

Nothing here imports a plotting library: :mod:`ldrrld_viz` draws what this package computes, and
the tests check each figure against these numbers. Every function is a pure function of tensors
and runs on whatever device its inputs live on (CPU or CUDA); the small results (``(d, d)``,
``(C, C)``) are returned on that device in float64 unless a docstring says otherwise.

Conventions (as in :mod:`ldrrld_core.relations`): ``N`` samples, ``C`` classes, depth ``d``,
``P = d (d - 1) / 2`` rank pairs. Per-pair quantities are ``(P,)`` vectors in the order of
:func:`~ldrrld_core.relations.rank_pairs`; :func:`pair_matrix` spreads one over a ``(d, d)`` grid.

Modules: :mod:`.weights` (IRW, ERD, ADW), :mod:`.sample` (one sample), :mod:`.class_relations`
(class-mean logits and correlations), :mod:`.features` (logits, features, t-SNE) and
:mod:`.fidelity` (relation fidelity), and :mod:`.checks`, the argument checks the figures share.
Everything is re-exported here. Functions that take a student and a teacher take the student
first: same-shape tensors by keyword only (``student_logits=``, ``teacher_logits=``), and a
``students`` mapping before the teacher's logits.
"""

from .checks import check_class_index, check_class_names, check_labels, check_students, check_superclass_of
from .class_relations import (
    GAP_DEFINITIONS,
    MAX_RELATION_CLASSES,
    MDISTILLER_GAP_SCALE,
    RELATION_KINDS,
    MatrixGap,
    class_mean_logits,
    group_boundaries,
    logit_correlation,
    matrix_gap,
    relation_gaps,
    select_classes,
    superclass_order,
)
from .features import TSNE_SINGLE_THREAD_UP_TO, ModelOutputs, collect_outputs, tsne_embedding
from .fidelity import (
    FIDELITY_CAVEAT,
    FIDELITY_HEADERS,
    RelationFidelity,
    compare_fidelity,
    fidelity_table,
    kendall_tau,
    relation_fidelity,
)
from .sample import SampleRelations, logit_gradients, sample_relations
from .weights import MAX_GRID_DEPTH, WeightMaps, pair_matrix, weight_maps

__all__ = [
    "WeightMaps",
    "weight_maps",
    "pair_matrix",
    "SampleRelations",
    "sample_relations",
    "logit_gradients",
    "MAX_RELATION_CLASSES",
    "MAX_GRID_DEPTH",
    "select_classes",
    "class_mean_logits",
    "logit_correlation",
    "MatrixGap",
    "matrix_gap",
    "GAP_DEFINITIONS",
    "MDISTILLER_GAP_SCALE",
    "RELATION_KINDS",
    "relation_gaps",
    "superclass_order",
    "group_boundaries",
    "ModelOutputs",
    "collect_outputs",
    "TSNE_SINGLE_THREAD_UP_TO",
    "tsne_embedding",
    "RelationFidelity",
    "relation_fidelity",
    "compare_fidelity",
    "fidelity_table",
    "kendall_tau",
    "FIDELITY_CAVEAT",
    "FIDELITY_HEADERS",
    "check_students",
    "check_labels",
    "check_class_index",
    "check_class_names",
    "check_superclass_of",
]
