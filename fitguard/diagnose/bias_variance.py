"""Estimate bias², variance (and noise) of a model family by training R models on R samples of the data.

``bias_variance`` draws the samples (bootstrap or disjoint), trains ``rounds x seeds`` members — torch models
together in one vmapped ensemble (``fitguard.diagnose.ensemble``), scikit-learn estimators one by one — predicts
the test split and hands the predictions to the pure decompositions in ``fitguard.diagnose.decompose``.

With ``seeds >= 2`` every data sample is trained from several initializations, and the variance is split into
its data-sampling and initialization/optimization parts (Neal et al. 2018); for the 0-1 loss that split is of
the one-hot predictions' variance (1 - sum of squared class frequencies), not of Domingos' variance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from fitguard._validation import check_int
from fitguard.diagnose.decompose import (
    MSEDecomposition,
    ZeroOneDecomposition,
    decompose_01,
    decompose_mse,
    split_variance,
)
from fitguard.diagnose.ensemble import train_ensemble

SAMPLINGS = ("bootstrap", "disjoint")
DECOMPOSITION_LOSSES = ("mse", "0-1")


@dataclass(frozen=True)
class BiasVariance:
    """The decomposition and where it came from. ``bias2`` is bias² (mse) or Domingos' bias (0-1, its own square).

    ``train_error`` is the members' mean error on their own training samples, ``val_error`` on ``data.val``.

    Args:
        loss: ``"0-1"`` or ``"mse"``.
        rounds: Training samples drawn.
        seeds: Models per sample (different initialization and shuffling).
        expected_loss: Mean test error over all ``rounds * seeds`` models.
        bias2: Bias² (mse; with a known noise variance but no true function, the noise is taken off) or
            Domingos' bias (0-1).
        variance: Mean spread of the models' test predictions around the main prediction.
        noise: The noise part (mse with a true function or noise variance); None otherwise.
        net_variance: Domingos' net variance (0-1); None for mse.
        variance_sampling: The data-sampling part of the variance (``seeds >= 2``); None otherwise.
        variance_optimization: The initialization/optimization part (``seeds >= 2``); None otherwise.
        train_error: The models' mean error on their own training rows.
        val_error: Their mean error on the validation split; None without one.
        decomposition: The underlying :class:`MSEDecomposition` or :class:`ZeroOneDecomposition`.
        predictions: The test predictions, (members, n[, k]) (labels for 0-1).
    """

    loss: str
    rounds: int
    seeds: int
    expected_loss: float
    bias2: float
    variance: float
    noise: float | None
    net_variance: float | None
    variance_sampling: float | None
    variance_optimization: float | None
    train_error: float
    val_error: float | None
    decomposition: MSEDecomposition | ZeroOneDecomposition
    predictions: torch.Tensor


def sample_indices(n: int, rounds: int, sampling: str, generator: torch.Generator) -> torch.Tensor:
    """Row indices (rounds, m) of each round's training sample: bootstrap (m = n) or disjoint (m = n // rounds).

    Args:
        n: Rows to sample from.
        rounds: Samples to draw.
        sampling: ``"bootstrap"`` (n rows with replacement per round) or ``"disjoint"`` (non-overlapping
            rounds of ``n // rounds`` rows, at least 2).
        generator: The random generator of the draws.

    Raises:
        ValueError: an unknown sampling, or fewer than 2 rows per disjoint round.

    Example:
        >>> sample_indices(6, 3, "disjoint", torch.Generator().manual_seed(0)).shape
        torch.Size([3, 2])
    """
    if sampling == "bootstrap":
        return torch.randint(0, n, (rounds, n), generator=generator)
    if sampling == "disjoint":
        if n // rounds < 2:
            raise ValueError(f"`sampling='disjoint'` needs >= 2 rows per round, got {n} rows for {rounds} rounds")
        size = n // rounds
        return torch.randperm(n, generator=generator)[: size * rounds].reshape(rounds, size)
    raise ValueError(f"`sampling` must be one of {SAMPLINGS} or an index tensor (rounds, m), got {sampling!r}")


def _splits(data: Any) -> tuple[Any, Any, Any]:
    if isinstance(data, tuple):
        if len(data) == 2:
            return data[0], None, data[1]
        if len(data) == 3:
            return data
        raise ValueError(f"`data` as a tuple must be (train, test) or (train, val, test), got {len(data)} items")
    if not hasattr(data, "train") or getattr(data, "test", None) is None:
        raise ValueError("`data` must have .train and .test splits (a fitguard Dataset) or be a (train, test) tuple")
    return data.train, getattr(data, "val", None), data.test


def _error(loss: str, outputs: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over members of the error of ``outputs`` (members, n[, k]) against ``y``."""
    if loss == "0-1":
        labels = outputs.argmax(-1) if outputs.ndim == 3 else outputs
        return float((labels != y.to(labels.device)).double().mean())
    diff = (outputs.double() - y.double().to(outputs.device)) ** 2
    return float(diff.reshape(diff.shape[0], diff.shape[1], -1).sum(-1).mean())


def _fit_sklearn(estimator: Any, train: Any, indices: torch.Tensor, init_seeds: list[int],
                 inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Fit a clone per member; return its predictions on its own training rows, then on each of ``inputs``."""
    from sklearn.base import clone

    X, y = train.X.reshape(len(train), -1).cpu().numpy(), train.y.cpu().numpy()
    outputs: list[list[np.ndarray]] = [[] for _ in range(len(inputs) + 1)]
    for r, init_seed in enumerate(init_seeds):
        member = clone(estimator)
        if "random_state" in member.get_params():
            member.set_params(random_state=init_seed)
        rows = indices[r].cpu().numpy()
        member.fit(X[rows], y[rows])
        outputs[0].append(member.predict(X[rows]))
        for out, x in zip(outputs[1:], inputs):
            out.append(member.predict(x.reshape(x.shape[0], -1).cpu().numpy()))
    return [torch.as_tensor(np.stack(out)) for out in outputs]


def _true_values(data: Any, test: Any, true_function: Any, shape: torch.Size) -> torch.Tensor | None:
    """f at the test inputs: from ``true_function``, else from a synthetic Dataset's ``truth`` (raw inputs)."""
    if true_function is not None:
        return torch.as_tensor(true_function(test.X)).detach().cpu().double().reshape(shape)
    truth = getattr(data, "truth", None)
    if truth is None or getattr(data, "raw_test", None) is None:
        return None
    values = truth.function(data.raw_test.inputs)
    preprocessor = getattr(data, "preprocessor", None)
    if preprocessor is not None and preprocessor.target_mean:  # the targets the models learned are standardized
        values = preprocessor.encode_target(values).numpy()
    return torch.as_tensor(values).double().reshape(shape)


def _target_variance_scale(data: Any) -> float:
    """std² of a Dataset's standardized target (what a variance in the target's units is divided by), else 1."""
    preprocessor = getattr(data, "preprocessor", None)
    return float(preprocessor.target_std[0]) ** 2 if preprocessor is not None and preprocessor.target_mean else 1.0


def bias_variance(
    model_factory: Callable[[], nn.Module] | Any,
    data: Any,
    *,
    rounds: int = 20,
    sampling: str | torch.Tensor = "bootstrap",
    seeds: int = 1,
    loss: str = "0-1",
    epochs: int = 50,
    lr: float = 1e-3,
    batch_size: int = 32,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    true_function: Callable[[torch.Tensor], torch.Tensor] | None = None,
    noise_var: float | None = None,
    seed: int = 0,
    batched: bool = True,
) -> BiasVariance:
    """Decompose the test error of ``model_factory``'s models trained on ``rounds`` samples of ``data.train``.

    ``model_factory`` is a zero-argument callable returning an ``nn.Module`` (trained with cross-entropy for
    ``loss="0-1"``, MSE for ``loss="mse"``) or a scikit-learn estimator (cloned and fitted per member).
    ``sampling`` may also be an explicit index tensor (rounds, m). ``true_function`` maps test inputs to the
    noise-free target; ``noise_var`` is the known noise variance (reported as ``noise``). A synthetic
    ``Dataset`` whose ``truth`` is known (``load("synthetic_regression")``) supplies both by itself, in the units
    its models learn (a standardized target's: f and σ² are mapped as the targets were).

    Args:
        model_factory: A zero-argument callable returning a fresh ``nn.Module``, or a scikit-learn estimator.
        data: A :class:`~fitguard.data.Dataset` with train and test splits, or a ``(train, test)`` or
            ``(train, val, test)`` tuple of :class:`~fitguard.data.TensorData`.
        rounds: Training samples, >= 2. Default 20.
        sampling: ``"bootstrap"`` (default), ``"disjoint"`` or an index tensor (rounds, m) into the train rows.
        seeds: Models per sample, >= 1 (with 2 or more the variance is split into its parts). Default 1.
        loss: ``"0-1"`` (default; classification) or ``"mse"``.
        epochs: Training epochs of each network. Default 50.
        lr: Learning rate of each network. Default 1e-3.
        batch_size: Batch size of each network. Default 32.
        optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"``.
        weight_decay: The optimizer's weight decay. Default 0.
        true_function: Maps test inputs to the noise-free target (mse); None (default): a synthetic
            Dataset's own truth, if any.
        noise_var: The known noise variance (mse), >= 0; None (default): a synthetic Dataset's own, if any.
        seed: Seed of the samples and of every member's initialization and shuffling. Default 0.
        batched: Train all members at once as one grouped network (:func:`train_ensemble`). Default True.

    Raises:
        ValueError: an unknown loss or sampling, ``rounds`` < 2, ``seeds`` < 1, a negative ``noise_var``, or
            data without the needed splits.

    Example:
        >>> from fitguard.data.tensors import TensorData
        >>> X = torch.randn(60, 2); y = (X[:, 0] > 0).long()
        >>> bv = bias_variance(lambda: nn.Linear(2, 2), (TensorData(X[:40], y[:40]), TensorData(X[40:], y[40:])),
        ...                    rounds=3, epochs=2)
        >>> abs(bv.expected_loss - (bv.bias2 + bv.net_variance)) < 1e-9
        True
    """
    if loss not in DECOMPOSITION_LOSSES:
        raise ValueError(f"`loss` must be one of {DECOMPOSITION_LOSSES}, got {loss!r}")
    check_int("rounds", rounds, low=2)
    check_int("seeds", seeds, low=1)
    if noise_var is not None and noise_var < 0:
        raise ValueError(f"`noise_var` must be >= 0, got {noise_var}")
    train, val, test = _splits(data)
    generator = torch.Generator().manual_seed(seed)
    if isinstance(sampling, torch.Tensor):
        if sampling.ndim != 2 or sampling.shape[0] != rounds:
            raise ValueError(f"`sampling` as indices must have shape ({rounds}, m), got {tuple(sampling.shape)}")
        if int(sampling.min()) < 0 or int(sampling.max()) >= len(train):
            raise ValueError(f"`sampling` indices must lie in [0, {len(train)}), "
                             f"got [{int(sampling.min())}, {int(sampling.max())}]")
        indices = sampling.long()
    else:
        indices = sample_indices(len(train), rounds, sampling, generator)
    members = rounds * seeds
    member_rows = indices.repeat_interleave(seeds, dim=0)
    init_seeds = torch.randint(0, 2**31 - 1, (members,), generator=generator).tolist()
    shuffle_seeds = torch.randint(0, 2**31 - 1, (members,), generator=generator).tolist()
    inputs = [test.X] + ([val.X] if val is not None else [])
    if hasattr(model_factory, "fit") and hasattr(model_factory, "predict"):
        train_out, *outputs = _fit_sklearn(model_factory, train, member_rows, init_seeds, inputs)
    else:
        ensemble = train_ensemble(
            model_factory, train.X, train.y, member_rows, init_seeds, shuffle_seeds,
            loss="cross_entropy" if loss == "0-1" else "mse", epochs=epochs, lr=lr, batch_size=batch_size,
            optimizer=optimizer, weight_decay=weight_decay, batched=batched,
        )
        train_out = ensemble.predict_each(train.X[member_rows.to(train.X.device)]).cpu()
        outputs = [ensemble.predict(x.to(train.X.device)).cpu() for x in inputs]
        if loss == "mse" and test.y.ndim == 1:
            outputs = [out.squeeze(-1) for out in outputs]
            train_out = train_out.squeeze(-1)
    test_out = outputs[0]
    y_test = test.y.cpu()
    if loss == "0-1":
        preds = test_out.argmax(-1) if test_out.ndim == 3 else test_out.long()
        decomposition: MSEDecomposition | ZeroOneDecomposition = decompose_01(preds, y_test)
        bias2, noise, net_variance = decomposition.bias, None, decomposition.net_variance
        n_classes = int(max(int(preds.max()), int(y_test.max()))) + 1
        grid = nn.functional.one_hot(preds, n_classes).double()
    else:
        preds = test_out.double()
        f_true = _true_values(data, test, true_function, y_test.shape)
        truth = getattr(data, "truth", None)
        if true_function is None and truth is not None and noise_var is None:
            noise_var = float(truth.noise_sigma) ** 2 / _target_variance_scale(data)  # in the models' target units
        decomposition = decompose_mse(preds, y_test, f_true)
        bias2, noise, net_variance = decomposition.bias2, decomposition.noise, None
        if noise_var is not None:
            # without f_true, E[(main - y)²] = bias² + σ², so the known σ² comes off the measured bias
            bias2 = bias2 if f_true is not None else bias2 - noise_var
            noise = noise_var
        grid = preds
    split = split_variance(grid.reshape(rounds, seeds, *grid.shape[1:])) if seeds >= 2 else None
    return BiasVariance(
        loss=loss,
        rounds=rounds,
        seeds=seeds,
        expected_loss=decomposition.expected_loss,
        bias2=bias2,
        variance=decomposition.variance,
        noise=noise,
        net_variance=net_variance,
        variance_sampling=split.sampling if split else None,
        variance_optimization=split.optimization if split else None,
        train_error=_error(loss, train_out, train.y.cpu()[member_rows]),
        val_error=_error(loss, outputs[1], val.y.cpu()) if val is not None else None,
        decomposition=decomposition,
        predictions=preds,
    )
