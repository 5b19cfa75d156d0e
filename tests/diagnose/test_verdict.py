"""The verdict rules one by one on scripted histories, and on a real small-data run with and without remedy."""

from __future__ import annotations

import math

import pytest
import torch

from fitguard.diagnose.verdict import verdict
from fitguard.diagnose.weights import layer_weights, weight_stats
from fitguard.train.history import History


def _overfitting(epochs: int = 40) -> History:
    return History([
        {"epoch": e, "loss": 1 / e, "val_loss": 1 / e + 0.02 * max(0, e - 10), "accuracy": 1.0, "val_accuracy": 0.8}
        for e in range(1, epochs + 1)
    ])


def _plateau(train_end: float, val_end: float, train_acc: float, val_acc: float, epochs: int = 40, penalty: float = 0.0) -> History:
    """Both losses decay exponentially to a plateau; no rise."""
    rows = []
    for e in range(1, epochs + 1):
        decay = math.exp(-e / 4)
        rows.append({"epoch": e, "loss": train_end + (2.3 - train_end) * decay, "val_loss": val_end + (2.3 - val_end) * decay,
                     "accuracy": train_acc, "val_accuracy": val_acc, "penalty": penalty})
    return History(rows)


def test_rule_1_onset_means_overfit_with_early_stopping_advice() -> None:
    v = verdict(_overfitting())
    assert (v.kind, v.onset_epoch) == ("overfit", 10)
    assert v.evidence[0].startswith("overfitting from epoch 10 (confidence 1.00): validation loss bottomed at")
    remedies = [r.remedy for r in v.recommendations]
    assert remedies == ["early stopping", "L2", "dropout", "more data"]
    assert [r.priority for r in v.recommendations] == [1, 2, 3, 4]
    assert v.recommendations[0].reason == "validation loss was lowest at epoch 10 (0.1); stop there and restore those weights"


def test_rule_2_memorizing_without_a_rise_is_overfit() -> None:
    v = verdict(_plateau(train_end=0.0001, val_end=0.9, train_acc=1.0, val_acc=0.75))
    assert (v.kind, v.onset_epoch) == ("overfit", None)
    assert "accuracy gap train - val = +0.250 (limit 0.1)" in v.evidence


def test_rule_2_a_gap_with_training_loss_held_up_is_not_memorizing() -> None:
    v = verdict(_plateau(train_end=0.2, val_end=0.6, train_acc=1.0, val_acc=0.85))
    assert v.kind == "good"
    assert v.recommendations == []


def test_rule_3_high_training_error_is_underfit() -> None:
    v = verdict(_plateau(train_end=1.2, val_end=1.25, train_acc=0.6, val_acc=0.58, penalty=0.4))
    assert v.kind == "underfit"
    assert "training error 0.400 > 0.1: the model does not fit its own data" in v.evidence
    assert [r.remedy for r in v.recommendations] == ["less regularization", "bigger model"]
    assert v.recommendations[1].reason == "training error 0.400: more width or depth lowers the bias"


def test_underfit_still_falling_says_train_longer_first() -> None:
    rows = [{"epoch": e, "loss": 2.0 - 0.02 * e, "val_loss": 2.05 - 0.02 * e, "accuracy": 0.5, "val_accuracy": 0.5} for e in range(1, 21)]
    v = verdict(History(rows))
    assert v.kind == "underfit"
    assert [r.remedy for r in v.recommendations] == ["train longer", "bigger model"]
    assert v.recommendations[0].reason == "training loss still falls by 0.02/epoch over the last quarter of the run, which ended at epoch 20"


def test_images_with_small_data_put_augmentation_first() -> None:
    v = verdict(_overfitting(), n_train=500, kind_of_data="image")
    assert v.recommendations[0].remedy == "augmentation"
    assert v.recommendations[0].reason.startswith("images and only 500 training samples (< 10000)")
    assert verdict(_overfitting(), n_train=50_000, kind_of_data="image").recommendations[0].remedy == "early stopping"
    assert verdict(_overfitting(), n_train=500, kind_of_data="table").recommendations[0].remedy == "early stopping"


def test_far_more_parameters_than_samples_says_shrink_then_dropout() -> None:
    v = verdict(_overfitting(), n_train=200, n_params=100_000)
    assert [r.remedy for r in v.recommendations][:2] == ["shrink the network", "dropout"]
    assert v.recommendations[0].reason == (
        "100000 parameters for 200 samples (500 per sample > 10): fewer, narrower layers leave less room to memorize"
    )
    assert "shrink the network" not in [r.remedy for r in verdict(_overfitting(), n_train=200, n_params=1_000).recommendations]


def test_large_weights_of_mixed_sign_say_l2() -> None:
    # fan_in 4: init bound 0.5; weights of ±5 are 10x it, half positive, half negative
    big_mixed = layer_weights("hidden.weight", torch.tensor([[5.0, -5.0, 0.1, 0.1], [-5.0, 5.0, 0.1, 0.1]]), q=0.5)
    v = verdict(_overfitting(), weight_stats=[big_mixed])
    assert v.recommendations[0].remedy == "L2"
    assert v.recommendations[0].reason.startswith("layer 'hidden.weight': its largest weights are 10.0x the init bound with mixed signs (balance 1.00)")
    same_sign = layer_weights("hidden.weight", torch.tensor([[5.0, 5.0, 0.1, 0.1], [5.0, 5.0, 0.1, 0.1]]), q=0.5)
    assert verdict(_overfitting(), weight_stats=[same_sign]).recommendations[0].remedy == "early stopping"


def test_bad_input_messages() -> None:
    for kwargs, message in [
        ({"kind_of_data": "text"}, "`kind_of_data` must be one of ('table', 'signal', 'image') or None, got 'text'"),
        ({"n_train": 0}, "`n_train` must be a positive integer or None, got 0"),
    ]:
        with pytest.raises(ValueError) as error:
            verdict(_overfitting(), **kwargs)
        assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        verdict(History([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}]))
    assert str(error.value) == "`history` must log 'val_loss' to be diagnosed; it has: epoch, loss"


def _digits_run(weight_decay: float, dropout: float) -> tuple:
    import fitguard.data as fd
    from fitguard.models import mlp
    from fitguard.train.trainer import Trainer

    data = fd.load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.05, seed=0)
    torch.manual_seed(0)
    model = mlp(data.in_features, data.num_classes, hidden=[256, 256], dropout=dropout)
    history = Trainer(model, lr=1e-3, batch_size=32, max_epochs=40, weight_decay=weight_decay, device="cpu", seed=0).fit(data.train, data.val)
    n_params = sum(p.numel() for p in model.parameters())
    return history, verdict(history, n_train=len(data.train), n_params=n_params, kind_of_data=data.kind, weight_stats=weight_stats(model))


def test_real_run_small_digits_wide_mlp_overfits_and_a_strong_remedy_does_not() -> None:
    history, plain = _digits_run(weight_decay=0.0, dropout=0.0)
    assert plain.kind == "overfit"
    val = history["val_loss"]
    true_min = min(range(len(val)), key=val.__getitem__) + 1
    assert abs(plain.onset_epoch - true_min) <= 3
    assert plain.recommendations[0].remedy == "augmentation"  # digits are 8x8 images, 54 training samples
    _, remedied = _digits_run(weight_decay=0.05, dropout=0.5)
    assert remedied.kind != "overfit"
    assert remedied.onset_epoch is None
