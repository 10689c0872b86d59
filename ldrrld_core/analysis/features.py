"""What a model says about a data set (logits, labels, penultimate features) and t-SNE maps of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor, nn

from ..losses.checks import check_positive

__all__ = ["ModelOutputs", "collect_outputs", "TSNE_SINGLE_THREAD_UP_TO", "tsne_embedding"]


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
def collect_outputs(
    model: nn.Module, batches: Iterable, *, device: torch.device | str | None = None, max_samples: int | None = None
) -> ModelOutputs:
    """Run ``model`` in eval mode over ``(x, y)`` batches and gather logits, labels and features.

    ``batches`` is any iterable of ``(inputs, labels)`` pairs (a ``DataLoader``, the toolkit's
    loader, a list). Models of the zoo give their penultimate features from the same pass
    (``penultimate`` then ``get_classifier``); other models give logits only. ``device``
    defaults to the model's; the model's train/eval mode is restored afterwards.
    """
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1
    ):
        raise ValueError(f"max_samples must be an integer >= 1 or None (every sample), got {max_samples!r}")
    if device is None:
        first_param = next(model.parameters(), None)
        device = first_param.device if first_param is not None else torch.device("cpu")
    with_features = hasattr(model, "penultimate") and hasattr(model, "get_classifier")
    logits, labels, features, seen = [], [], [], 0
    was_training = model.training
    model.eval()
    try:
        for x, y in batches:
            y = torch.as_tensor(y)
            if y.dim() != 1 or y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"a batch holds {x.shape[0]} inputs but labels of shape {tuple(y.shape)}; "
                    "each batch must be (inputs, labels) with one label per input"
                )
            x = x.to(device, non_blocking=True)
            if with_features:
                feature = model.penultimate(x)
                logits.append(model.get_classifier()(feature).float().cpu())
                features.append(feature.float().cpu())
            else:
                logits.append(model(x).float().cpu())
            labels.append(y.long().cpu())
            seen += x.shape[0]
            if max_samples is not None and seen >= max_samples:
                break
    finally:
        model.train(was_training)
    if not logits:
        raise ValueError("the batches are empty: nothing to evaluate")
    keep = slice(0, max_samples)
    return ModelOutputs(
        logits=torch.cat(logits)[keep],
        labels=torch.cat(labels)[keep],
        features=torch.cat(features)[keep] if with_features else None,
    )


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
    tsne = TSNE(
        n_components=2,
        init="pca",
        random_state=seed,
        learning_rate="auto",
        perplexity=min(float(perplexity), (points.shape[0] - 1) / 3),
    )
    with threadpool_limits(1 if points.shape[0] <= TSNE_SINGLE_THREAD_UP_TO else None):
        return torch.from_numpy(tsne.fit_transform(points)).double()
