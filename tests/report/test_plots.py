"""The report's loss plot says when the best recipe's training loss is a smoothed one."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from fitguard.report import plots


@pytest.mark.parametrize(("smoothing", "label"), [(0.0, "best recipe: training"),
                                                  (0.1, "best recipe: training (labels smoothed by 0.1)")])
def test_the_best_recipes_training_loss_is_named_smoothed_when_it_is(monkeypatch, smoothing, label):
    drawn = []
    monkeypatch.setattr(plots, "_png", lambda figure: drawn.append(figure) or b"")
    history = {"epoch": [1, 2], "loss": [1.0, 0.6], "val_loss": [1.1, 0.8]}
    plots.compare_curves(history, history, "classification", None, smoothing=smoothing)
    _, labels = drawn[0].axes[0].get_legend_handles_labels()
    plt.close(drawn[0])
    assert labels == ["baseline: validation", "baseline: training", "best recipe: validation", label]
