"""FGSM adversarial training against gradients of softmax regression written out in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fitguard.config import parse_config
from fitguard.data.tensors import TensorData
from fitguard.recipe import build_run
from fitguard.regularize import FGSM
from fitguard.train import Trainer


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def problem(rows: int = 12, features: int = 5, classes: int = 3):
    rng = np.random.default_rng(0)
    X, W, b = rng.normal(size=(rows, features)), rng.normal(size=(classes, features)), rng.normal(size=classes)
    y = rng.integers(0, classes, size=rows)
    return X, W, b, y, np.eye(classes)[y]


def linear(W: np.ndarray, b: np.ndarray) -> torch.nn.Linear:
    model = torch.nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(W))
        model.bias.copy_(torch.from_numpy(b))
    return model


def test_the_perturbation_is_epsilon_times_the_sign_of_the_input_gradient():
    X, W, b, y, Y = problem()
    # mean cross-entropy of softmax(XW' + b): d/dX = (P - Y) W / n
    expected = X + 0.2 * np.sign((softmax(X @ W.T + b) - Y) @ W / len(X))
    got = FGSM(epsilon=0.2).perturb(linear(W, b), torch.nn.functional.cross_entropy, torch.from_numpy(X),
                                    torch.from_numpy(y))
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("weight", [0.5, 1.0])
def test_one_trainer_step_descends_the_mixed_objective(weight):
    X, W, b, y, Y = problem()
    lr, epsilon, n = 0.1, 0.3, len(X)
    P = softmax(X @ W.T + b)
    X_adv = X + epsilon * np.sign((P - Y) @ W / n)
    P_adv = softmax(X_adv @ W.T + b)
    grad_W = (1 - weight) * (P - Y).T @ X / n + weight * (P_adv - Y).T @ X_adv / n
    grad_b = (1 - weight) * (P - Y).mean(axis=0) + weight * (P_adv - Y).mean(axis=0)
    model = linear(W, b)
    history = Trainer(model, optimizer="sgd", momentum=0.0, lr=lr, batch_size=n, max_epochs=1, device="cpu",
                      adversarial=FGSM(epsilon=epsilon, weight=weight)).fit(
        TensorData(torch.from_numpy(X), torch.from_numpy(y)))
    np.testing.assert_allclose(model.weight.detach().numpy(), W - lr * grad_W, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.bias.detach().numpy(), b - lr * grad_b, rtol=0, atol=1e-12)
    # the logged loss is the clean batch's, before the step
    clean = -np.log(P[np.arange(n), y]).mean()
    assert history["loss"][0] == pytest.approx(clean, rel=1e-6)  # metrics are summed in float32


def test_the_spec_section_reaches_the_trainer_and_trains_with_batch_norm_and_mixup():
    config = parse_config({"data": {"source": "digits", "train_fraction": 0.2},
                           "model": {"name": "mlp", "hidden": [16], "batchnorm": True},
                           "train": {"max_epochs": 2},
                           "remedies": {"adversarial": {"epsilon": 0.05}, "mixup": 0.2}, "tensorboard": False})
    run = build_run(config)
    assert repr(run.trainer.adversarial) == "FGSM(epsilon=0.05, weight=0.5)"
    history = run.trainer.fit(run.data.train, run.data.val)
    assert len(history) == 2 and np.isfinite(history["val_loss"][-1])


@pytest.mark.parametrize(("options", "message"), [
    ({"epsilon": 0.0}, "`epsilon` must be a finite number > 0, got 0.0"),
    ({"epsilon": float("nan")}, "`epsilon` must be a finite number > 0, got nan"),
    ({"weight": 0}, "`weight` must be a number in (0, 1], got 0"),
])
def test_bad_options_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError) as error:
        FGSM(**options)
    assert str(error.value) == message
