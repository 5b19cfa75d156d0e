"""The report's figures: matplotlib (Agg), labelled with units, returned as PNG bytes.

PNGs carry no software/date metadata, so the same run folder always gives the same bytes (the report rebuilds
identically).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

BASELINE, BEST, ACCENT = "#c0392b", "#1f77b4", "#7f7f7f"


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _loss_label(task: str) -> str:
    return "cross-entropy loss (nats)" if task == "classification" else "mean squared error (target units²)"


def learning_curves(history: dict[str, list[float]], task: str, onset: int | None,
                    best_epoch: int | None = None) -> bytes:
    """Training vs validation loss (and accuracy) per epoch, the overfitting onset marked.

    Args:
        history: the run's History as lists by metric (``epoch``, ``loss``, ``val_loss``, optionally accuracies).
        task: the task, which names the loss on the axis.
        onset: the epoch overfitting began, marked; None: no mark.
        best_epoch: not drawn (default None).
    """
    has_accuracy = "accuracy" in history and "val_accuracy" in history
    figure, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(11 if has_accuracy else 6.5, 3.8), squeeze=False)
    epochs = history["epoch"]
    left = axes[0][0]
    left.plot(epochs, history["loss"], color=ACCENT, label="training loss")
    left.plot(epochs, history["val_loss"], color=BASELINE, label="validation loss")
    if onset is not None:
        for ax in axes[0]:
            ax.axvline(onset, color="black", linestyle="--", linewidth=1)
        left.annotate(f"overfitting begins\n(epoch {onset})", xy=(onset, history["val_loss"][onset - 1]),
                      xytext=(10, 25), textcoords="offset points", fontsize=9,
                      arrowprops={"arrowstyle": "->", "color": "black"})
    left.set_xlabel("epoch")
    left.set_ylabel(_loss_label(task))
    left.set_title("Loss per epoch")
    left.grid(alpha=0.3)
    left.legend()
    if has_accuracy:
        right = axes[0][1]
        right.plot(epochs, [100 * a for a in history["accuracy"]], color=ACCENT, label="training accuracy")
        right.plot(epochs, [100 * a for a in history["val_accuracy"]], color=BASELINE, label="validation accuracy")
        right.set_xlabel("epoch")
        right.set_ylabel("accuracy (%)")
        right.set_title("Accuracy per epoch")
        right.grid(alpha=0.3)
        right.legend(loc="lower right")
    return _png(figure)


def compare_curves(baseline: dict[str, list[float]], best: dict[str, list[float]], task: str,
                   best_epoch: int | None, smoothing: float = 0.0) -> bytes:
    """Validation loss of the baseline and of the best recipe, with their training losses dotted (a best recipe
    trained once with no validation rows, :func:`fitguard.doctor.phases.trained_once`: its training loss alone).

    Args:
        baseline: the baseline's History as lists by metric.
        best: the best recipe's History as lists by metric.
        task: the task, which names the loss on the axis.
        best_epoch: the epoch whose weights were kept, marked; None: no mark.
        smoothing: the best recipe's label smoothing (default 0): its training loss is the smoothed one it
            optimized, which stays above zero however well it fits (its validation loss is the plain one), and its
            legend says so.
    """
    figure, ax = plt.subplots(figsize=(8, 3.8))
    ax.plot(baseline["epoch"], baseline["val_loss"], color=BASELINE, label="baseline: validation")
    ax.plot(baseline["epoch"], baseline["loss"], color=BASELINE, linestyle=":", label="baseline: training")
    if "val_loss" in best:
        ax.plot(best["epoch"], best["val_loss"], color=BEST, label="best recipe: validation")
    smoothed = f" (labels smoothed by {smoothing:g})" if smoothing else ""
    ax.plot(best["epoch"], best["loss"], color=BEST, linestyle=":", label=f"best recipe: training{smoothed}")
    if best_epoch:
        ax.axvline(best_epoch, color=BEST, linestyle="--", linewidth=1, label=f"weights kept (epoch {best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(_loss_label(task))
    ax.set_title("Baseline vs best recipe")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    return _png(figure)


def bias_variance_bars(decomposition: dict[str, Any]) -> bytes:
    """Expected loss, bias and variance of the baseline's ensemble, as bars.

    Args:
        decomposition: the bias-variance result (``loss``, ``expected_loss``, ``bias``, ``variance``...).
    """
    zero_one = decomposition["loss"] == "0-1"
    names = ["expected loss", "bias" if zero_one else "bias²", "variance", "net variance" if zero_one else "noise"]
    values = [decomposition["expected_loss"], decomposition["bias"], decomposition["variance"],
              decomposition["net_variance"] if zero_one else (decomposition.get("noise") or 0.0)]
    figure, ax = plt.subplots(figsize=(6.5, 3.5))
    bars = ax.bar(names, values, color=[ACCENT, "#2ca02c", BASELINE, "#ff7f0e"])
    ax.bar_label(bars, fmt="%.3f")
    ax.set_ylabel("0-1 error (fraction of samples)" if zero_one else "squared error (target units²)")
    ax.set_title(f"Bias–variance over {decomposition['rounds']} bootstrap models")
    low, high = min(0.0, min(values)), max(values)
    ax.set_ylim(low * 1.3, high * 1.2 if high > 0 else 1)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.grid(axis="y", alpha=0.3)
    return _png(figure)


def weight_histograms(before: np.ndarray, after: np.ndarray) -> bytes:
    """Distribution of every weight value, baseline vs best model (log counts).

    Args:
        before: the baseline's weights, flattened.
        after: the best model's weights, flattened.
    """
    figure, ax = plt.subplots(figsize=(7.5, 3.6))
    limit = float(max(np.abs(before).max(initial=0), np.abs(after).max(initial=0))) or 1.0
    bins = np.linspace(-limit, limit, 81)
    ax.hist(before, bins=bins, alpha=0.55, color=BASELINE, label=f"baseline ({before.size:,} weights)")
    ax.hist(after, bins=bins, alpha=0.55, color=BEST, label=f"best ({after.size:,} weights)")
    ax.set_yscale("log")
    ax.set_xlabel("weight value (dimensionless)")
    ax.set_ylabel("number of weights (log scale)")
    ax.set_title("Weights before and after the remedies")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(figure)


def lambda_curve(rows: Sequence[dict[str, Any]], best_lam: float | None, metric: str, folds: int = 2) -> bytes:
    """Cross-validated score against λ (log scale), ± one standard deviation across folds; with one fold, the
    validation split's score.

    Args:
        rows: the L2 cross-validation's rows (``lam``, ``mean``, ``std``).
        best_lam: the strength chosen, marked; None: no mark.
        metric: "accuracy" (shown in %) or "loss".
        folds: the folds each strength was scored on; 1: the validation split (default 2: cross-validated).
    """
    measured = [r for r in rows if r["mean"] is not None]
    figure, ax = plt.subplots(figsize=(6.5, 3.6))
    lams = [r["lam"] for r in measured]
    scale = 100.0 if metric == "accuracy" else 1.0
    means = np.asarray([r["mean"] for r in measured]) * scale
    stds = np.asarray([r["std"] or 0.0 for r in measured]) * scale
    ax.errorbar(lams, means, yerr=stds, marker="o", color=BEST, capsize=4)
    if best_lam is not None:
        ax.axvline(best_lam, color="black", linestyle="--", linewidth=1, label=f"chosen λ = {best_lam:g}")
        ax.legend()
    ax.set_xlim(min(lams) / 3, max(lams) * 3)  # one measured λ would give an empty range
    ax.set_xscale("log")
    ax.set_xlabel("λ (L2 strength, log scale)")
    where = "CV" if folds > 1 else "Validation"
    ax.set_ylabel(f"{where} accuracy (%)" if metric == "accuracy" else f"{where} score (− validation loss)")
    ax.set_title(f"Choosing λ by {folds}-fold cross-validation" if folds > 1 else "Choosing λ on the validation split")
    ax.grid(alpha=0.3)
    return _png(figure)


def architecture_scatter(trials: Sequence[dict[str, Any]], metric: str) -> bytes:
    """Validation score against parameter count per candidate network; the chosen one ringed. Each point carries a
    number and the key beside the plot names it (the names are long, "cnn 32x64x128, 2 convs a block; SGD, one cycle
    over 46 epochs, augmented", and written beside close points they ran into each other), in the table's order.

    Args:
        trials: the architecture phase's trials (``status``, ``parameters``, ``val_score``, ``details.chosen``); those
            with no score (skipped, or a recipe trained once, unscored) are left out.
        metric: "accuracy" (shown in %) or "loss" (shown negated).
    """
    done = [t for t in trials if t["status"] == "done" and t["val_score"] is not None]  # scored
    scale = 100.0 if metric == "accuracy" else 1.0
    figure, (ax, key) = plt.subplots(1, 2, figsize=(9.5, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
    lines = []
    for number, trial in enumerate(done, start=1):
        chosen = trial["details"].get("chosen", False)
        x, y = trial["parameters"], trial["val_score"] * scale
        ax.scatter(x, y, s=120 if chosen else 40, color=BEST if chosen else ACCENT,
                   edgecolors="black" if chosen else "none", zorder=3)
        ax.annotate(str(number), (x, y), xytext=(6, 3), textcoords="offset points", fontsize=8,
                    fontweight="bold" if chosen else "normal")
        name = textwrap.fill(trial["name"], 44, subsequent_indent="    ")
        lines.append(f"{number:>2}  {name}" + ("  (chosen)" if chosen else ""))
    sizes = [t["parameters"] for t in done]
    ax.set_xlim(min(sizes) / 2, max(sizes) * 2)
    ax.set_xscale("log")
    ax.margins(y=0.15)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("validation accuracy (%)" if metric == "accuracy" else "− validation loss")
    ax.set_title("Architecture: size vs validation score (chosen: ringed)")
    ax.grid(alpha=0.3)
    key.axis("off")
    key.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", fontsize=8, family="monospace",
             transform=key.transAxes)
    return _png(figure)


def augmentation_grid(original: np.ndarray, augmented: np.ndarray, labels: Sequence[str]) -> bytes:
    """Each sample image (first column) and its augmented views, in pixel units (colour images clipped to [0, 1];
    a grey image scaled to its own range).

    Args:
        original: the sample images (n, C, H, W).
        augmented: their views (n, views, C, H, W).
        labels: one label per sample, shown above its column.
    """
    n, views = original.shape[0], augmented.shape[1]
    figure, axes = plt.subplots(views + 1, n, figsize=(1.3 * n, 1.3 * (views + 1)), squeeze=False)
    for i in range(n):
        for row in range(views + 1):
            image = original[i] if row == 0 else augmented[i, row - 1]
            ax = axes[row][i]
            ax.imshow(image[0] if image.shape[0] == 1 else np.clip(image.transpose(1, 2, 0), 0, 1),
                      cmap="gray_r" if image.shape[0] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(str(labels[i])[:12], fontsize=8)
        axes[0][0].set_ylabel("original", fontsize=8)
        for row in range(1, views + 1):
            axes[row][0].set_ylabel(f"view {row}", fontsize=8)
    figure.suptitle("Training images and augmented views", fontsize=10)
    return _png(figure)
