"""The baseline's diagnosis as plain data for the summary: verdict, onset, gap, weight statistics, bias–variance.

Bias–variance uses the validation split as its held-out set: the test split stays untouched until the end.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from fitguard.data import Dataset
from fitguard.diagnose import bias_variance, verdict, weight_stats
from fitguard.models import build_network
from fitguard.models.imported import is_import_path
from fitguard.train import History


def diagnose(history: History, model: nn.Module, data: Dataset, parameters: int) -> dict[str, Any]:
    """Verdict (kind, onset epoch, gap, evidence, ranked recommendations), the last epoch's training and validation
    accuracies (None without them or where not finite) and per-layer weight statistics.

    Args:
        history: the baseline's History.
        model: the trained baseline (its weights are summarized).
        data: the dataset (split sizes and kind).
        parameters: the baseline's parameter count.
    """
    stats = weight_stats(model)
    found = verdict(history, n_train=len(data.train), n_params=parameters, n_val=len(data.val), kind_of_data=data.kind,
                    weight_stats=stats)
    last = {name: history[name][-1] for name in ("accuracy", "val_accuracy") if name in history.keys()}
    accuracy = {name: last[name] if math.isfinite(last.get(name, math.nan)) else None
                for name in ("accuracy", "val_accuracy")}
    return {
        "kind": found.kind,
        "onset_epoch": found.onset_epoch,
        "gap": float(found.gap),
        "train_accuracy": accuracy["accuracy"],
        "val_accuracy": accuracy["val_accuracy"],
        "evidence": list(found.evidence),
        "recommendations": [asdict(r) for r in found.recommendations],
        "weights": [_layer(s) for s in stats],
    }


def _layer(stats: Any) -> dict[str, Any]:
    row = asdict(stats)
    row["shape"] = list(row["shape"])
    return row


def sentence(diagnosis: dict[str, Any]) -> str:
    """The verdict in one sentence.

    Args:
        diagnosis: what :func:`diagnose` returned.

    Example:
        >>> from textwrap import fill
        >>> print(fill(sentence({"kind": "overfit", "onset_epoch": 12, "gap": 0.8, "train_accuracy": 1.0,
        ...                      "val_accuracy": 0.85}), 100))
        The baseline overfits from epoch 12: its last epoch's accuracy is 1.000 on its training rows and
        0.850 on validation, and its validation loss exceeds training loss by 0.800.
        >>> sentence({"kind": "overfit", "onset_epoch": None, "gap": 0.8})  # no classes: the losses alone
        'The baseline overfits by the end of training: validation loss exceeds training loss by 0.800.'
    """
    kind, onset, gap = diagnosis["kind"], diagnosis["onset_epoch"], diagnosis.get("gap")
    train, val = diagnosis.get("train_accuracy"), diagnosis.get("val_accuracy")
    # what a reader weighs first, where there are classes: the two accuracies (the training one taken over the last
    # epoch's batches, in training mode, as the verdict reads it), then the losses' gap, whose size means little alone
    scores = (f"its last epoch's accuracy is {train:.3f} on its training rows and {val:.3f} on validation"
              if train is not None and val is not None else None)
    if kind == "overfit":
        where = f"from epoch {onset}" if onset else "by the end of training"
        losses = (f"validation loss exceeds training loss by {gap:.3f}"
                  if gap is not None and math.isfinite(gap) and gap > 0 else None)
        if scores and losses:
            return f"The baseline overfits {where}: {scores}, and its {losses}."
        return f"The baseline overfits {where}" + (f": {scores or losses}." if scores or losses else ".")
    if kind == "underfit":
        return "The baseline underfits: it does not fit even its own training data well" + (
            f" ({scores})." if scores else ".")
    return "The baseline generalizes well: no sign of overfitting or underfitting" + (
        f" ({scores})." if scores else ".")


def ensemble_decomposition(data: Dataset, model_name: str, options: dict[str, Any], *, rounds: int, epochs: int,
                           lr: float, batch_size: int, seed: int, device: str | torch.device = "cpu") -> dict[str, Any]:
    """0-1 (or MSE) bias and variance of the baseline architecture over ``rounds`` bootstrap samples.

    Args:
        data: the dataset; members train on bootstrap samples of the training split and are scored on validation.
        model_name: the baseline's builder.
        options: its options.
        rounds: bootstrap samples (ensemble members).
        epochs: epochs each member trains.
        lr: the members' learning rate.
        batch_size: the members' batch size.
        seed: seeds the samples and the members.
        device: where the members train (the doctor's training device; default "cpu").
    """
    started = time.perf_counter()
    classification = data.task == "classification"

    imported = is_import_path(model_name)

    def factory() -> nn.Module:
        return build_network(model_name, data.input_shape, data.out_features, options, data.preprocessor.embeddings)

    has_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in factory().modules())
    # a user's network may not survive torch.func's stacked (batched) training: train it one model at a time
    val = data.val.to(device)
    result = bias_variance(
        factory, (data.train.to(device), val, val), rounds=rounds, loss="0-1" if classification else "mse",
        epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, batched=not (has_norm or imported),
    )
    variance = result.net_variance if classification else result.variance
    return {
        "loss": result.loss, "rounds": rounds, "epochs": epochs, "held_out": "validation split",
        "expected_loss": float(result.expected_loss), "bias": float(result.bias2), "variance": float(result.variance),
        "net_variance": float(variance), "noise": result.noise, "train_error": float(result.train_error),
        "seconds": time.perf_counter() - started,
    }
