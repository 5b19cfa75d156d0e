"""The linter finds each documented pitfall, and nothing on a clean model."""

from __future__ import annotations

from torch import nn

from fitguard.models import TINY_NETWORK_HIDDEN_UNITS, LintWarning, cnn, lint, mlp


def test_clean_models_have_no_warnings() -> None:
    assert lint(mlp(64, 10, hidden=[128, 128], dropout=0.5, batchnorm=True)) == []
    assert lint(cnn(3, 10, dropout=0.5, spatial_dropout=0.2)) == []
    assert lint(mlp(2, 1, hidden=[5, 5])) == []  # tiny, but without dropout


def test_dropout_right_before_batchnorm() -> None:
    model = nn.Sequential(
        nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.BatchNorm1d(64), nn.Linear(64, 2)
    )
    assert lint(model) == [
        LintWarning(
            "dropout-before-batchnorm",
            "dropout (p=0.5) feeds batch norm '4': the variance batch norm learns in training differs at "
            "evaluation (variance shift); put dropout after batch norm",
            "2",
        )
    ]


def test_dropout_before_a_weight_layer_then_batchnorm_is_not_right_before() -> None:
    model = nn.Sequential(nn.Linear(64, 64), nn.Dropout(0.5), nn.Linear(64, 64), nn.BatchNorm1d(64), nn.Linear(64, 2))
    assert lint(model) == []


def test_dropout_before_batchnorm_in_nested_modules() -> None:
    block = nn.Sequential(nn.Conv2d(3, 32, 3), nn.Dropout2d(0.2))
    model = nn.Sequential(block, nn.Sequential(nn.BatchNorm2d(32), nn.ReLU()), nn.Conv2d(32, 32, 3))
    assert [(w.code, w.layer) for w in lint(model)] == [("dropout-before-batchnorm", "0.1")]


def test_dropout_in_a_tiny_network() -> None:
    model = mlp(2, 1, hidden=[5, 5], dropout=0.25)
    message = (
        "dropout (p=0.25) in a network of 10 hidden units (< 32): too few units remain to learn; make the "
        "network wider or drop the dropout"
    )
    assert lint(model) == [
        LintWarning("dropout-in-tiny-network", message, "dropout1"),
        LintWarning("dropout-in-tiny-network", message, "dropout2"),
    ]
    assert TINY_NETWORK_HIDDEN_UNITS == 32
    assert lint(mlp(2, 1, hidden=[16, 16], dropout=0.25)) == []  # exactly 32 hidden units is not tiny
    assert lint(mlp(2, 1, hidden=[5, 5], dropout=0.0)) == []


def test_frozen_batchnorm_left_in_train_mode() -> None:
    model = mlp(8, 2, hidden=[64], batchnorm=True)
    model.norm1.requires_grad_(False)
    model.train()
    assert lint(model) == [
        LintWarning(
            "frozen-batchnorm-train-mode",
            "batch norm has frozen parameters but is in train mode: its running mean/variance keep changing "
            "with every batch; call .eval() on it after model.train()",
            "norm1",
        )
    ]
    model.norm1.eval()
    assert lint(model) == []
    assert str(LintWarning("c", "m", "l")) == "l: m [c]"
