"""The linear probe: features from the frozen backbone once, then closed-form ridge with leave-one-out λ.

No gradient steps and no epochs: one forward pass over the data and one SVD, so it is the fastest honest
baseline for a pretrained backbone. Features are standardized with training statistics (ridge penalizes every
coefficient alike, so their scales should be comparable); classes are one-hot targets fitted in one pass and
the prediction is the arg-max.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from fitguard.transfer.backbones import extract_features

if TYPE_CHECKING:
    from fitguard.data import Dataset, TensorData
    from fitguard.linear import RidgePath

DEFAULT_LAMBDAS = tuple(float(v) for v in np.logspace(-2, 5, 29))


@dataclass(frozen=True)
class ProbeResult:
    """Accuracy per split, the chosen λ and the ridge path behind it; times in seconds.

    Args:
        accuracy: Accuracy in [0, 1] per split name (``"train"``, and ``"val"``/``"test"`` when present).
        best_lambda: The ridge λ leave-one-out cross-validation chose on the training features.
        path: The :class:`~fitguard.linear.RidgePath` fitted over every λ.
        feature_seconds: Wall time of extracting the features of every split.
        fit_seconds: Wall time of the ridge path and the predictions.
    """

    accuracy: dict[str, float]
    best_lambda: float
    path: RidgePath
    feature_seconds: float
    fit_seconds: float


def probe_features(
    train_features: torch.Tensor, train_labels: torch.Tensor, lambdas: Any = DEFAULT_LAMBDAS,
    num_classes: int | None = None,
) -> tuple[RidgePath, torch.Tensor, torch.Tensor]:
    """Ridge path (LOO λ) on standardized features; returns it with the train mean and std it standardized by.

    Args:
        train_features: the frozen body's features of the training rows (n, d).
        train_labels: their class indices (n,).
        lambdas: the ridge strengths to choose from by leave-one-out (default ``DEFAULT_LAMBDAS``).
        num_classes: the classes, for one-hot targets; None (default): the largest label + 1.

    Example:
        >>> F = torch.randn(30, 4, dtype=torch.float64); y = (F[:, 0] > 0).long()
        >>> path, mean, std = probe_features(F, y, [0.1, 1.0])
        >>> path.coefs_.shape
        torch.Size([2, 2, 4])
    """
    from fitguard.linear import one_hot, ridge_path

    features = train_features.double()
    mean = features.mean(dim=0)
    std = features.std(dim=0).clamp_min(1e-12)
    targets = one_hot(train_labels.long(), num_classes=num_classes or int(train_labels.max()) + 1)
    return ridge_path((features - mean) / std, targets, lambdas, cv="loo"), mean, std


def linear_probe(
    backbone: nn.Module, data: Dataset, lambdas: Any = DEFAULT_LAMBDAS, batch_size: int = 256
) -> ProbeResult:
    """Accuracy of ridge on the backbone's frozen features, on every split ``data`` has (train, val, test).

    Args:
        backbone: The model whose features are probed (:func:`~fitguard.transfer.extract_features`: the input of
            its last linear layer); not trained.
        data: A classification :class:`~fitguard.data.Dataset`; its training split fits the probe.
        lambdas: Ridge strengths to choose from by leave-one-out error, on features standardized by the
            training mean and std. Default 29 values log-spaced from 1e-2 to 1e5.
        batch_size: Rows per forward pass while extracting features. Default 256.

    Raises:
        ValueError: a dataset whose task is not classification.

    Example:
        >>> result = linear_probe(load_backbone("efficientnet_lite0", image_size=64), data)  # doctest: +SKIP
        >>> result.accuracy["test"]                                                          # doctest: +SKIP
    """
    if data.task != "classification":
        raise ValueError(f"linear_probe needs a classification dataset, got task {data.task!r}")
    splits: dict[str, TensorData] = {"train": data.train}
    splits.update({name: part for name, part in (("val", data.val), ("test", data.test)) if part is not None})
    started = time.perf_counter()
    features = {name: extract_features(backbone, part.X, batch_size) for name, part in splits.items()}
    extracted = time.perf_counter()
    path, mean, std = probe_features(features["train"], data.train.y.cpu(), lambdas, data.num_classes)
    accuracy = {}
    for name, part in splits.items():
        predicted = path.predict((features[name].double() - mean) / std).argmax(dim=1)
        accuracy[name] = float((predicted == part.y.cpu()).double().mean())
    return ProbeResult(accuracy, path.best_lambda_, path, extracted - started, time.perf_counter() - extracted)
