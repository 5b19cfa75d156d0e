"""Bias–variance decomposition of a predictions tensor, knowing nothing of training.

``preds`` holds the test-set predictions of ``R`` models trained on different samples of the data (and/or with
different seeds): shape ``(R, n_test)`` or ``(R, n_test, k)``.

Squared loss (averaged over test points, the output dimensions ``k`` summed):

    main_i    = mean_r preds[r, i]
    loss      = mean_{r,i} |preds[r, i] - y_i|²          = bias² + variance          (exact)
    bias²     = mean_i |main_i - y_i|²
    variance  = mean_{r,i} |preds[r, i] - main_i|²        (1/R, so the identity is exact: mlxtend's definition)

With the noise-free target ``f_true`` known, ``bias²`` is measured against ``f_true`` instead and
``noise = mean_i |y_i - f_true_i|²``; then ``loss ≈ bias² + variance + noise`` in expectation over the noise.

0-1 loss (Domingos 2000, "A unified bias-variance decomposition"):

    main_i         = the mode of preds[:, i] (ties go to the smallest label, as mlxtend's argmax(bincount))
    bias_i         = 1[main_i != y_i]                      (0/1, so bias_i = bias_i²)
    V_i            = mean_r 1[preds[r, i] != main_i]
    variance       = mean_i V_i                            (mlxtend's avg_var)
    unbiased_var   = mean_i (1 - bias_i) V_i               (variance that adds to the error)
    biased_var     = mean_i bias_i V_i                     (variance that removes error)
    net_variance   = unbiased_var - mean_i bias_i c_i V_i, c_i = P(pred = y_i | pred != main_i)
    loss           = bias + net_variance                   (exact; c_i = 1 for two classes -> unbiased - biased)

``split_variance`` splits the variance of a ``(D, S, n[, k])`` grid (D data samples x S seeds) by the law of total
variance into the data-sampling part and the initialization/optimization part (Neal et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MSEDecomposition:
    """Squared-loss decomposition; ``noise`` is None unless the true function was given.

    Args:
        expected_loss: Mean squared error over rounds and test points (output dimensions summed).
        bias2: Squared error of the main (mean) prediction, against ``y`` or the true function.
        variance: Mean squared spread of the rounds' predictions around the main prediction.
        noise: Mean squared distance of ``y`` from the true function; None (default) without it.
    """

    expected_loss: float
    bias2: float
    variance: float
    noise: float | None = None


@dataclass(frozen=True)
class ZeroOneDecomposition:
    """Domingos' 0-1 loss decomposition; ``bias`` is the error rate of the main (mode) prediction.

    Args:
        expected_loss: Mean 0-1 error over rounds and test points.
        bias: Share of test points whose main prediction is wrong.
        variance: Mean share of rounds that disagree with the main prediction.
        unbiased_variance: The variance on points the main prediction gets right (it adds error).
        biased_variance: The variance on points it gets wrong (it can remove error).
        net_variance: ``unbiased_variance`` minus the variance that does remove error (see the module text);
            ``expected_loss = bias + net_variance``.
    """

    expected_loss: float
    bias: float
    variance: float
    unbiased_variance: float
    biased_variance: float
    net_variance: float


def _check_preds(preds: torch.Tensor, y: torch.Tensor, *, labels: bool) -> None:
    if preds.ndim not in ((2,) if labels else (2, 3)):
        allowed = "(R, n_test)" if labels else "(R, n_test) or (R, n_test, k)"
        raise ValueError(f"`preds` must have shape {allowed}, got {tuple(preds.shape)}")
    if preds.shape[0] < 1:
        raise ValueError(f"`preds` must hold at least one round, got shape {tuple(preds.shape)}")
    if tuple(y.shape) != tuple(preds.shape[1:]):
        raise ValueError(
            f"`y` must have shape {tuple(preds.shape[1:])} to match `preds` {tuple(preds.shape)}, got {tuple(y.shape)}"
        )


def _per_point(squared: torch.Tensor, n_point_dims: int) -> torch.Tensor:
    """Sum squared errors over output dimensions so each test point has one number."""
    return squared.reshape(*squared.shape[:n_point_dims], -1).sum(-1)


def decompose_mse(preds: torch.Tensor, y: torch.Tensor, f_true: torch.Tensor | None = None) -> MSEDecomposition:
    """Squared-loss bias² and variance of ``preds`` (R, n[, k]) against targets ``y`` (n[, k]).

    Args:
        preds: Predictions of R models on the same n test points, (R, n) or (R, n, k).
        y: The test targets, (n,) or (n, k).
        f_true: The noise-free target at the test points, shaped as ``y``; when given, bias² is measured
            against it and ``noise`` is reported. Default None.

    Raises:
        ValueError: shapes that do not match.

    Example:
        >>> d = decompose_mse(torch.tensor([[1.0, 2.0], [3.0, 2.0]]), torch.tensor([2.0, 0.0]))
        >>> (d.expected_loss, d.bias2, d.variance)
        (2.5, 2.0, 0.5)
    """
    _check_preds(preds, y, labels=False)
    if f_true is not None and tuple(f_true.shape) != tuple(y.shape):
        raise ValueError(f"`f_true` must have the shape of `y` {tuple(y.shape)}, got {tuple(f_true.shape)}")
    preds = preds.double()
    y = y.double()
    main = preds.mean(0)
    expected_loss = _per_point((preds - y) ** 2, 2).mean()
    variance = _per_point((preds - main) ** 2, 2).mean()
    if f_true is None:
        bias2 = _per_point((main - y) ** 2, 1).mean()
        return MSEDecomposition(float(expected_loss), float(bias2), float(variance))
    f_true = f_true.double()
    bias2 = _per_point((main - f_true) ** 2, 1).mean()
    noise = _per_point((y - f_true) ** 2, 1).mean()
    return MSEDecomposition(float(expected_loss), float(bias2), float(variance), float(noise))


def main_prediction(labels: torch.Tensor) -> torch.Tensor:
    """The mode over rounds of integer ``labels`` (R, n); ties go to the smallest label.

    Args:
        labels: Predicted class labels >= 0 of R rounds on n points, an integer tensor (R, n).

    Example:
        >>> main_prediction(torch.tensor([[0, 2], [1, 2], [1, 0]])).tolist()
        [1, 2]
    """
    n_labels = int(labels.max()) + 1
    counts = torch.zeros(n_labels, labels.shape[1], dtype=torch.long, device=labels.device)
    counts.scatter_add_(0, labels.long(), torch.ones_like(labels, dtype=torch.long))
    # argmax returns the first maximum, i.e. the smallest label among ties
    return counts.argmax(0)


def decompose_01(preds: torch.Tensor, y: torch.Tensor) -> ZeroOneDecomposition:
    """Domingos' 0-1 decomposition of predicted labels ``preds`` (R, n) (or scores (R, n, k), argmaxed).

    Args:
        preds: Integer labels (R, n), or class scores (R, n, k) reduced by argmax.
        y: The true integer labels (n,), >= 0.

    Raises:
        ValueError: shapes that do not match, float labels, or negative labels.

    Example:
        >>> d = decompose_01(torch.tensor([[0, 1], [0, 0], [1, 1]]), torch.tensor([0, 0]))
        >>> round(d.expected_loss, 4), d.bias, round(d.net_variance, 4)
        (0.5, 0.5, 0.0)
    """
    if preds.ndim == 3:
        preds = preds.argmax(-1)
    _check_preds(preds, y, labels=True)
    if preds.dtype.is_floating_point or y.dtype.is_floating_point:
        raise ValueError(
            f"`preds` and `y` must be integer class labels for the 0-1 loss, got {preds.dtype} and {y.dtype}"
        )
    if int(preds.min()) < 0 or int(y.min()) < 0:
        raise ValueError("`preds` and `y` must be class labels >= 0, got a negative label")
    preds = preds.long()
    y = y.long().to(preds.device)
    main = main_prediction(preds)
    biased = (main != y).double()
    off_main = (preds != main).double()
    per_point_variance = off_main.mean(0)
    hits_off_main = ((preds == y) & (preds != main)).double().sum(0)
    # c_i V_i = P(pred = y_i, pred != main_i): on a biased point only a prediction equal to y is right
    weighted_biased = biased * hits_off_main / preds.shape[0]
    unbiased_variance = ((1.0 - biased) * per_point_variance).mean()
    biased_variance = (biased * per_point_variance).mean()
    return ZeroOneDecomposition(
        expected_loss=float((preds != y).double().mean()),
        bias=float(biased.mean()),
        variance=float(per_point_variance.mean()),
        unbiased_variance=float(unbiased_variance),
        biased_variance=float(biased_variance),
        net_variance=float(unbiased_variance - weighted_biased.mean()),
    )


@dataclass(frozen=True)
class VarianceSplit:
    """Total variance = data-sampling part + initialization/optimization part (law of total variance).

    Args:
        total: Variance over all D*S models.
        sampling: Variance across data samples of the seed-averaged prediction.
        optimization: Mean over data samples of the variance across seeds.
    """

    total: float
    sampling: float
    optimization: float


def split_variance(grid: torch.Tensor) -> VarianceSplit:
    """Split the variance of predictions ``grid`` (D data samples, S seeds, n[, k]), Neal et al. 2018.

    ``optimization`` = mean over data samples of the variance across seeds (same data, different init);
    ``sampling`` = variance across data samples of the seed-averaged prediction. Both use 1/count, so they
    sum to the variance over all D*S models exactly. For labels, pass one-hot predictions.

    Args:
        grid: Predictions (D, S, n) or (D, S, n, k): D data samples by S seeds.

    Raises:
        ValueError: a grid of another rank.

    Example:
        >>> s = split_variance(torch.tensor([[[0.0], [2.0]], [[4.0], [6.0]]]))
        >>> (s.total, s.sampling, s.optimization)
        (5.0, 4.0, 1.0)
    """
    if grid.ndim not in (3, 4):
        raise ValueError(f"`grid` must have shape (D, S, n_test) or (D, S, n_test, k), got {tuple(grid.shape)}")
    grid = grid.double()
    data_means = grid.mean(1)
    overall = data_means.mean(0)
    optimization = _per_point((grid - data_means[:, None]) ** 2, 3).mean()
    sampling = _per_point((data_means - overall) ** 2, 2).mean()
    total = _per_point((grid - overall) ** 2, 3).mean()
    return VarianceSplit(float(total), float(sampling), float(optimization))
