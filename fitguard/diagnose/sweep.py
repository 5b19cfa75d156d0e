"""Bias and variance against model complexity: the source article's U-shaped picture, measured.

``complexity_sweep`` runs ``bias_variance`` once per value of width, depth or λ (weight decay) and keeps, per
value, the parameter count, train/val/test error, bias² and variance. ``smallest_within(eps)`` picks the smallest
network (by parameter count) whose validation error is within ``eps`` of the best; ``plot_sweep`` draws it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from fitguard.diagnose.bias_variance import bias_variance

PARAMS = ("width", "depth", "lambda")


@dataclass(frozen=True)
class SweepPoint:
    """One complexity value; ``bias2`` is bias² (mse) or Domingos' bias (0-1).

    Args:
        value: The swept value (width, depth or λ).
        n_params: Parameters of the network built for it.
        train_error: The members' mean error on their own training rows.
        val_error: Their mean validation error; None without a validation split.
        test_error: The expected test loss of the decomposition.
        bias2: Bias² (mse) or Domingos' bias (0-1).
        variance: The variance part.
    """

    value: float
    n_params: int
    train_error: float
    val_error: float | None
    test_error: float
    bias2: float
    variance: float


@dataclass(frozen=True)
class ComplexitySweep:
    """The sweep over ``param`` and its points, in the order of the values given.

    Args:
        param: ``"width"``, ``"depth"`` or ``"lambda"``.
        loss: The decomposition's loss, ``"0-1"`` or ``"mse"``.
        points: One :class:`SweepPoint` per value.
    """

    param: str
    loss: str
    points: list[SweepPoint]

    def smallest_within(self, eps: float) -> SweepPoint:
        """The point with the fewest parameters whose validation error is at most the best plus ``eps``.

        Args:
            eps: the validation error allowed above the best, >= 0.

        Raises:
            ValueError: when ``eps`` is negative or a point has no validation error.

        Example:
            >>> pts = [SweepPoint(8, 100, 0.1, 0.30, 0.3, 0.2, 0.1), SweepPoint(64, 900, 0.0, 0.26, 0.25, 0.1, 0.15)]
            >>> ComplexitySweep("width", "0-1", pts).smallest_within(0.05).value
            8
        """
        if eps < 0:
            raise ValueError(f"`eps` must be >= 0, got {eps}")
        if any(p.val_error is None for p in self.points):
            raise ValueError("`smallest_within` needs validation errors: sweep data that has a .val split")
        best = min(p.val_error for p in self.points)  # type: ignore[type-var]
        within = [p for p in self.points if p.val_error <= best + eps]  # type: ignore[operator]
        return min(within, key=lambda p: (p.n_params, p.val_error))


def complexity_sweep(
    builder: Callable[[Any], nn.Module],
    data: Any,
    *,
    param: str,
    values: Sequence[float],
    rounds: int = 5,
    **options: Any,
) -> ComplexitySweep:
    """``bias_variance`` of ``builder(value)`` for each value; for ``param="lambda"`` the value is the weight decay.

    ``options`` go to ``bias_variance`` (loss, seeds, sampling, epochs, lr, batch_size, seed, ...).

    Args:
        builder: ``builder(value)`` returns a fresh network for one value (for ``"lambda"`` the value is only the
            weight decay, and the builder may ignore it).
        data: What :func:`bias_variance` takes: a Dataset or a (train, test) / (train, val, test) tuple.
        param: ``"width"`` (integers >= 1), ``"depth"`` (integers >= 0) or ``"lambda"`` (weight decay >= 0).
        values: The values to sweep, at least one.
        rounds: Training samples per value (:func:`bias_variance`'s ``rounds``). Default 5.
        **options: Further :func:`bias_variance` options (not ``weight_decay`` when sweeping λ).

    Raises:
        ValueError: an unknown ``param``, no values, a value out of range, or ``weight_decay`` with ``"lambda"``.

    Example:
        >>> import torch
        >>> from fitguard.data.tensors import TensorData
        >>> X = torch.randn(60, 2); y = (X[:, 0] > 0).long()
        >>> d = (TensorData(X[:40], y[:40]), TensorData(X[40:], y[40:]))
        >>> s = complexity_sweep(lambda w: nn.Sequential(nn.Linear(2, w), nn.ReLU(), nn.Linear(w, 2)), d,
        ...                      param="width", values=[2, 8], rounds=2, epochs=1)
        >>> [p.n_params for p in s.points]
        [12, 42]
    """
    if param not in PARAMS:
        raise ValueError(f"`param` must be one of {PARAMS}, got {param!r}")
    if not values:
        raise ValueError("`values` must hold at least one value, got []")
    if param == "lambda" and "weight_decay" in options:
        raise ValueError("`weight_decay` is the swept value when `param='lambda'`; do not pass it as well")
    for i, value in enumerate(values):
        if param in ("width", "depth") and (not isinstance(value, int) or value < (1 if param == "width" else 0)):
            raise ValueError(f"`values[{i}]` = {value!r}, must be an integer >= {1 if param == 'width' else 0} "
                             f"for {param}")
        if param == "lambda" and value < 0:
            raise ValueError(f"`values[{i}]` = {value!r}, must be >= 0 for lambda")
    points = []
    for value in values:
        extra = {"weight_decay": float(value)} if param == "lambda" else {}
        bv = bias_variance(lambda v=value: builder(v), data, rounds=rounds, **options, **extra)
        n_params = sum(p.numel() for p in builder(value).parameters())
        points.append(SweepPoint(value, n_params, bv.train_error, bv.val_error, bv.expected_loss, bv.bias2,
                                 bv.variance))
    return ComplexitySweep(param, options.get("loss", "0-1"), points)


def plot_sweep(sweep: ComplexitySweep, path: str | Path) -> Path:
    """Train/test error, bias² and variance against the swept value, saved as a PNG at ``path``.

    Args:
        sweep: The :class:`ComplexitySweep` to draw.
        path: The PNG file to write (its folder is created).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [p.value for p in sweep.points]
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    axes.plot(xs, [p.train_error for p in sweep.points], "o-", label="train error")
    axes.plot(xs, [p.test_error for p in sweep.points], "o-", label="test error")
    axes.plot(xs, [p.bias2 for p in sweep.points], "s--", label="bias²" if sweep.loss == "mse" else "bias (0-1)")
    axes.plot(xs, [p.variance for p in sweep.points], "^--", label="variance")
    if all(x > 0 for x in xs) and max(xs) / min(xs) >= 8:
        axes.set_xscale("log", base=10 if sweep.param == "lambda" else 2)
    axes.set_xlabel({"width": "hidden width", "depth": "hidden layers", "lambda": "λ (weight decay)"}[sweep.param])
    axes.set_ylabel("squared error" if sweep.loss == "mse" else "0-1 error")
    axes.set_title(f"Bias–variance against {sweep.param}")
    axes.grid(alpha=0.3)
    axes.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
