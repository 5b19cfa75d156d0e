"""bias_variance against closed-form ridge values and against mlxtend on the same bootstrap samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mlxtend.evaluate import bias_variance_decomp
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from torch import nn

from fitguard.data.tensors import TensorData
from fitguard.diagnose.bias_variance import bias_variance, sample_indices


def test_ridge_bias_and_variance_match_the_closed_form() -> None:
    """Fixed design, fresh noise per round: E[ŵ] = A XᵀX w and Cov[ŵ] = σ² A XᵀX A with A = (XᵀX + λI)⁻¹."""
    rng = np.random.default_rng(0)
    m, d, rounds, sigma, lam = 30, 5, 400, 0.5, 8.0
    X = rng.normal(size=(m, d))
    w = rng.normal(size=d)
    X_test = rng.normal(size=(400, d))
    pool_X = np.tile(X, (rounds, 1))
    pool_y = pool_X @ w + sigma * rng.normal(size=rounds * m)
    y_test = X_test @ w + sigma * rng.normal(size=400)
    train = TensorData(torch.tensor(pool_X), torch.tensor(pool_y))
    test = TensorData(torch.tensor(X_test), torch.tensor(y_test))
    bv = bias_variance(
        Ridge(alpha=lam, fit_intercept=False), (train, test), rounds=rounds, loss="mse",
        sampling=torch.arange(rounds * m).reshape(rounds, m),
        true_function=lambda x: x @ torch.tensor(w), noise_var=sigma**2,
    )
    A = np.linalg.inv(X.T @ X + lam * np.eye(d))
    bias = X_test @ (A @ X.T @ X @ w - w)
    variance = sigma**2 * np.einsum("ij,jk,ik->i", X_test, A @ X.T @ X @ A, X_test)
    # the measured bias² still holds var/R of the mean's own noise; the 1/R variance is short by (R-1)/R
    # Monte-Carlo error of a variance from R draws is about sqrt(2 / R) = 7% relative: allow 3 of those
    mc = 3 * np.sqrt(2 / rounds)
    assert bv.bias2 == pytest.approx(np.mean(bias**2) + np.mean(variance) / rounds, rel=mc)
    assert bv.variance == pytest.approx(np.mean(variance) * (rounds - 1) / rounds, rel=mc)
    assert bv.noise == sigma**2
    # on fresh test noise: expected error = bias² + variance + σ²
    assert bv.expected_loss == pytest.approx(bv.bias2 + bv.variance + sigma**2, rel=mc)


def _mlxtend_bootstrap(n: int, rounds: int, seed: int) -> torch.Tensor:
    """The rows mlxtend's _draw_bootstrap_sample draws, in its order."""
    rng = np.random.RandomState(seed)
    return torch.tensor(np.stack([rng.choice(np.arange(n), size=n, replace=True) for _ in range(rounds)]))


@pytest.mark.parametrize(
    ("estimator", "loss", "mlxtend_loss"),
    [(KNeighborsClassifier(3), "0-1", "0-1_loss"), (KNeighborsRegressor(4), "mse", "mse")],
)
def test_agrees_with_mlxtend_on_the_same_bootstrap_samples(estimator, loss: str, mlxtend_loss: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 4))
    if loss == "0-1":
        y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(np.int64) + (X[:, 2] > 1)
    else:
        y = X[:, 0] + np.sin(3 * X[:, 1])
    X_train, y_train, X_test, y_test = X[:100], y[:100], X[100:], y[100:]
    expected = bias_variance_decomp(estimator, X_train, y_train, X_test, y_test, loss=mlxtend_loss, num_rounds=25,
                                    random_seed=7)
    bv = bias_variance(
        estimator,
        (TensorData(torch.tensor(X_train), torch.tensor(y_train)),
         TensorData(torch.tensor(X_test), torch.tensor(y_test))),
        rounds=25, loss=loss, sampling=_mlxtend_bootstrap(100, 25, 7),
    )
    assert (bv.expected_loss, bv.bias2, bv.variance) == pytest.approx(expected, rel=1e-12)


def _blobs(seed: int = 0) -> tuple[TensorData, TensorData, TensorData]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(300, 2, generator=g)
    y = ((X[:, 0] * X[:, 1] > 0).long() + (X[:, 0] > 1).long())
    return TensorData(X[:150], y[:150]), TensorData(X[150:200], y[150:200]), TensorData(X[200:], y[200:])


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def test_torch_models_batched_and_sequential_give_the_same_decomposition() -> None:
    data = _blobs()
    kwargs = dict(rounds=3, seeds=2, epochs=3, lr=0.01, batch_size=32, seed=4)
    together = bias_variance(_mlp, data, **kwargs)
    apart = bias_variance(_mlp, data, batched=False, **kwargs)
    assert torch.equal(together.predictions, apart.predictions)
    assert together.expected_loss == pytest.approx(together.bias2 + together.net_variance)
    assert together.variance_sampling is not None and together.variance_optimization > 0
    assert together.val_error is not None and 0 <= together.train_error <= 1


def test_mse_variance_split_sums_to_the_variance() -> None:
    train, val, test = _blobs()
    regression = tuple(TensorData(d.X, d.X[:, 0] * 2 - d.X[:, 1]) for d in (train, val, test))
    bv = bias_variance(lambda: nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)), regression,
                       rounds=3, seeds=3, loss="mse", epochs=2, lr=0.01, sampling="disjoint")
    assert bv.predictions.shape == (9, 100)
    assert bv.variance == pytest.approx(bv.variance_sampling + bv.variance_optimization)
    assert bv.expected_loss == pytest.approx(bv.bias2 + bv.variance)


def test_sampling_schemes() -> None:
    g = torch.Generator().manual_seed(0)
    disjoint = sample_indices(10, 3, "disjoint", g)
    assert disjoint.shape == (3, 3) and len(set(disjoint.flatten().tolist())) == 9
    boot = sample_indices(10, 4, "bootstrap", g)
    assert boot.shape == (4, 10) and int(boot.min()) >= 0 and int(boot.max()) < 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "hinge"}, "`loss` must be one of ('mse', '0-1'), got 'hinge'"),
        ({"rounds": 1}, "`rounds` must be an integer >= 2, got 1"),
        ({"seeds": 0}, "`seeds` must be an integer >= 1, got 0"),
        ({"sampling": "jackknife"},
         "`sampling` must be one of ('bootstrap', 'disjoint') or an index tensor (rounds, m), got 'jackknife'"),
        ({"sampling": torch.zeros(3, 5, dtype=torch.long)}, "`sampling` as indices must have shape (2, m), got (3, 5)"),
        ({"sampling": torch.full((2, 5), 150)}, "`sampling` indices must lie in [0, 150), got [150, 150]"),
        ({"rounds": 100, "sampling": "disjoint"},
         "`sampling='disjoint'` needs >= 2 rows per round, got 150 rows for 100 rounds"),
    ],
)
def test_bad_input_messages(kwargs: dict, message: str) -> None:
    arguments = dict(rounds=2) | kwargs
    with pytest.raises(ValueError) as error:
        bias_variance(_mlp, _blobs(), **arguments)
    assert str(error.value) == message


def test_data_without_a_test_split_is_refused() -> None:
    with pytest.raises(ValueError) as error:
        bias_variance(_mlp, object(), rounds=2)
    assert str(error.value) == ("`data` must have .train and .test splits (a fitguard Dataset) "
                                "or be a (train, test) tuple")
