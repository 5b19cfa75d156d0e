"""Weight statistics per layer: the source article's "large weights of different signs" made measurable.

For each weight matrix ``W`` (a parameter with 2+ dimensions; convolution kernels are flattened to
``(out_channels, -1)``, so ``fan_in`` is ``W.shape[1]``):

- ``l1``, ``l2`` (Frobenius), ``max_abs``, ``mean_abs``;
- "large" weights are the top ``q`` fraction by magnitude (at least one); ``large_sign_balance`` is
  ``2 * min(n_positive, n_negative) / n_large`` over them: 0 when they all share one sign, 1 when half are
  positive and half negative — large weights of mixed sign that cancel each other;
- ``large_to_init`` is the mean magnitude of the large weights times ``sqrt(fan_in)``, i.e. in units of
  PyTorch's default init bound ``1/sqrt(fan_in)``: values well above 1 mean the weights grew far past their init;
- ``spectral_norm`` (largest singular value) and ``stable_rank = ||W||_F² / ||W||_2²`` (between 1 and rank);
- ``sparsity``: the fraction of entries with ``|w| <= zero_tol``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerWeights:
    """Statistics of one weight matrix.

    Args:
        name: The parameter's name.
        shape: The tensor's shape.
        l1: Sum of absolute values.
        l2: Frobenius norm.
        max_abs: Largest absolute value.
        mean_abs: Mean absolute value.
        large_sign_balance: Among the largest ``q`` share of weights, ``2 * min(positives, negatives) / count``
            in [0, 1]: 1 for an even mix of signs, 0 for one sign only.
        large_to_init: Mean magnitude of those largest weights times sqrt(fan-in), i.e. in units of torch's
            default init bound 1/sqrt(fan-in).
        spectral_norm: Largest singular value of the weight reshaped to (out, fan-in).
        stable_rank: ``l2**2 / spectral_norm**2`` (0 for an all-zero matrix).
        sparsity: Share of weights at or below ``zero_tol`` in magnitude.
    """

    name: str
    shape: tuple[int, ...]
    l1: float
    l2: float
    max_abs: float
    mean_abs: float
    large_sign_balance: float
    large_to_init: float
    spectral_norm: float
    stable_rank: float
    sparsity: float


def layer_weights(name: str, weight: torch.Tensor, *, q: float = 0.05, zero_tol: float = 0.0) -> LayerWeights:
    """Statistics of one weight tensor (2+ dimensions).

    Args:
        name: The name to report (e.g. the parameter's).
        weight: The tensor, 2 or more dimensions (a kernel is reshaped to (out, fan-in)).
        q: Share of the weights, in (0, 1], counted as "large" (the largest by magnitude, at least one).
            Default 0.05.
        zero_tol: Magnitudes at or below this (>= 0) count as zeros for ``sparsity``. Default 0 (exact zeros).

    Raises:
        ValueError: ``q`` or ``zero_tol`` out of range, or a tensor of fewer than 2 dimensions.

    Example:
        >>> s = layer_weights("w", torch.tensor([[3.0, 0.0], [0.0, -4.0]]), q=0.5)
        >>> s.spectral_norm, s.stable_rank, s.large_sign_balance, s.sparsity
        (4.0, 1.5625, 1.0, 0.5)
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"`q` must be in (0, 1], got {q}")
    if zero_tol < 0.0:
        raise ValueError(f"`zero_tol` must be >= 0, got {zero_tol}")
    if weight.ndim < 2:
        raise ValueError(f"`weight` {name!r} must have 2 or more dimensions, got shape {tuple(weight.shape)}")
    matrix = weight.detach().double().reshape(weight.shape[0], -1).cpu()
    flat = matrix.flatten()
    magnitude = flat.abs()
    n_large = max(1, int(round(q * flat.numel())))
    top = torch.topk(magnitude, n_large).indices
    positive = int((flat[top] > 0).sum())
    negative = int((flat[top] < 0).sum())
    spectral = float(torch.linalg.matrix_norm(matrix, ord=2))
    frobenius = float(torch.linalg.matrix_norm(matrix))
    return LayerWeights(
        name=name,
        shape=tuple(weight.shape),
        l1=float(magnitude.sum()),
        l2=frobenius,
        max_abs=float(magnitude.max()),
        mean_abs=float(magnitude.mean()),
        large_sign_balance=2.0 * min(positive, negative) / n_large,
        large_to_init=float(magnitude[top].mean()) * math.sqrt(matrix.shape[1]),
        spectral_norm=spectral,
        stable_rank=frobenius**2 / spectral**2 if spectral > 0 else 0.0,
        sparsity=float((magnitude <= zero_tol).double().mean()),
    )


def weight_stats(model: nn.Module, *, q: float = 0.05, zero_tol: float = 0.0) -> list[LayerWeights]:
    """Statistics of every weight matrix of ``model`` (parameters with 2+ dimensions), in module order.

    Args:
        model: The network; biases and other 1-D parameters are skipped.
        q: Share of the weights, in (0, 1], counted as "large" (the largest by magnitude, at least one).
            Default 0.05.
        zero_tol: Magnitudes at or below this (>= 0) count as zeros for ``sparsity``. Default 0 (exact zeros).

    Example:
        >>> [s.name for s in weight_stats(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))]
        ['0.weight', '2.weight']
    """
    return [
        layer_weights(name, parameter, q=q, zero_tol=zero_tol)
        for name, parameter in model.named_parameters()
        if parameter.ndim >= 2
    ]


@dataclass(frozen=True)
class WeightChange:
    """One statistic of one layer before and after a remedy.

    Args:
        name: The layer's (parameter's) name.
        statistic: The :class:`LayerWeights` field compared, e.g. ``"l2"``.
        before: Its value before.
        after: Its value after.
    """

    name: str
    statistic: str
    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before != 0 else math.inf if self.after != 0 else 1.0


_NUMERIC = ("l1", "l2", "max_abs", "mean_abs", "large_sign_balance", "large_to_init", "spectral_norm", "stable_rank",
            "sparsity")


def compare(before: list[LayerWeights], after: list[LayerWeights]) -> list[WeightChange]:
    """Pair the layers of two ``weight_stats`` results by name and list every statistic before/after.

    Args:
        before: :func:`weight_stats` of the model before.
        after: :func:`weight_stats` of the model after; the same layer names.

    Raises:
        ValueError: the two lists describe different layers.

    Example:
        >>> a = [layer_weights("w", torch.eye(2) * 4)]
        >>> b = [layer_weights("w", torch.eye(2))]
        >>> [c.ratio for c in compare(a, b) if c.statistic == "max_abs"]
        [0.25]
    """
    after_by_name = {layer.name: layer for layer in after}
    missing = [layer.name for layer in before if layer.name not in after_by_name]
    if missing or len(after) != len(before):
        raise ValueError(
            f"`before` and `after` must describe the same layers, got {[layer.name for layer in before]} "
            f"and {[layer.name for layer in after]}"
        )
    changes = []
    for layer in before:
        old, new = asdict(layer), asdict(after_by_name[layer.name])
        changes.extend(WeightChange(layer.name, key, float(old[key]), float(new[key])) for key in _NUMERIC)
    return changes
