"""Penalties against independent oracles: autograd gradients, closed-form ridge, scikit-learn's Lasso."""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import Lasso
from torch import nn

from fitguard.regularize import L1, L2, ElasticNet, absolute_norm, soft_threshold, squared_norm


def _weights(values: list[list[float]]) -> nn.Linear:
    layer = nn.Linear(len(values[0]), len(values), bias=True).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(values, dtype=torch.float64))
        layer.bias.fill_(3.0)
    return layer


def _gradient(penalty, model: nn.Module) -> torch.Tensor:
    model.zero_grad()
    penalty.term(penalty.select(model)).backward()
    return model.weight.grad


def test_l2_term_and_gradient_match_formula() -> None:
    model = _weights([[1.0, -2.0, 0.5], [0.0, 4.0, -1.5]])
    w = model.weight.detach().clone()
    penalty = L2(0.3)
    assert penalty.term(penalty.select(model)).item() == pytest.approx(0.3 * float((w**2).sum()))
    torch.testing.assert_close(_gradient(penalty, model), 2 * 0.3 * w)
    assert model.bias.grad is None  # the default never touches biases


def test_l1_and_elastic_net_gradients_match_formula() -> None:
    model = _weights([[1.0, -2.0, 0.5], [0.25, 4.0, -1.5]])
    w = model.weight.detach().clone()
    torch.testing.assert_close(_gradient(L1(0.2), model), 0.2 * torch.sign(w))
    expected = 0.2 * (0.3 * torch.sign(w) + 0.7 * 2 * w)
    torch.testing.assert_close(_gradient(ElasticNet(0.2, l1_ratio=0.3), model), expected)
    net = ElasticNet(0.2, l1_ratio=0.3)
    value = 0.2 * (0.3 * float(w.abs().sum()) + 0.7 * float((w**2).sum()))
    assert net.term(net.select(model)).item() == pytest.approx(value)


def test_norm_functions() -> None:
    tensors = [torch.tensor([3.0, -4.0]), torch.tensor([[1.0], [-1.0]])]
    assert squared_norm(tensors).item() == 27.0
    assert absolute_norm(tensors).item() == 9.0


def _regression(n: int = 60, d: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator, dtype=torch.float64)
    true_w = torch.tensor([2.0, -1.5, 0.0, 0.0, 0.7, 0.0], dtype=torch.float64)[:d]
    y = X @ true_w + 0.5 * torch.randn(n, generator=generator, dtype=torch.float64)
    return X, y


def _fit(penalty, X: torch.Tensor, y: torch.Tensor, lr: float, steps: int) -> torch.Tensor:
    """Full-batch gradient descent on mean squared error + penalty, the way the Trainer applies it."""
    model = nn.Linear(X.shape[1], 1, bias=False).double()
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    params = penalty.select(model)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(X).squeeze(1), y) + penalty.term(params)
        loss.backward()
        optimizer.step()
        penalty.after_step(params, optimizer)
    return model.weight.detach().squeeze(0)


def test_l2_with_mse_converges_to_closed_form_ridge() -> None:
    X, y = _regression()
    n, d = X.shape
    lam = 0.1
    # d/dw [(1/n)||Xw - y||^2 + lam ||w||^2] = 0  <=>  (X'X + n lam I) w = X'y
    ridge = torch.linalg.solve(X.T @ X + n * lam * torch.eye(d, dtype=X.dtype), X.T @ y)
    w = _fit(L2(lam), X, y, lr=0.1, steps=600)
    torch.testing.assert_close(w, ridge, atol=1e-10, rtol=0)


def test_proximal_l1_converges_to_sklearn_lasso_with_same_zeros() -> None:
    X, y = _regression()
    lam = 0.3
    # (1/n)||y - Xw||^2 + lam ||w||_1 = 2 * [(1/(2n))||y - Xw||^2 + (lam / 2) ||w||_1]: sklearn's alpha = lam / 2
    lasso = Lasso(alpha=lam / 2, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(X.numpy(), y.numpy())
    expected = torch.from_numpy(lasso.coef_)
    w = _fit(L1(lam, proximal=True), X, y, lr=0.1, steps=600)
    assert int((expected == 0).sum()) >= 2  # the test only means something if the lasso zeroes weights
    assert torch.equal(w == 0, expected == 0)
    torch.testing.assert_close(w, expected, atol=1e-8, rtol=0)


def test_subgradient_l1_leaves_no_exact_zeros() -> None:
    X, y = _regression()
    w = _fit(L1(0.3), X, y, lr=0.01, steps=600)
    assert int((w == 0).sum()) == 0


def test_proximal_term_is_zero_and_plain_l1_after_step_does_nothing() -> None:
    model = _weights([[0.05, -2.0]])
    proximal = L1(1.0, proximal=True)
    assert proximal.term(proximal.select(model)).item() == 0.0
    plain = L1(1.0)
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.weight.grad = torch.zeros_like(model.weight)  # the optimizer's step leaves the weights where they are
    optimizer.step()
    plain.after_step(plain.select(model), optimizer)
    assert torch.equal(model.weight, before)
    proximal.after_step(proximal.select(model), optimizer)
    torch.testing.assert_close(model.weight.detach(), torch.tensor([[0.0, -1.9]], dtype=torch.float64))


def test_decoupled_l2_is_a_weight_decay_group_equal_to_the_loss_term_for_sgd() -> None:
    penalty = L2(0.05, decoupled=True)
    coupled_model = _weights([[1.0, -2.0], [0.5, 3.0]])
    decoupled_model = _weights([[1.0, -2.0], [0.5, 3.0]])
    assert penalty.term(penalty.select(decoupled_model)).item() == 0.0
    assert penalty.param_group_weight_decay() == 0.1
    assert penalty.param_group_weight_decay("adamw") == 0.1

    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    coupled = L2(0.05)
    optimizer = torch.optim.SGD(coupled_model.parameters(), lr=0.1)
    (coupled_model(x).square().mean() + coupled.term(coupled.select(coupled_model))).backward()
    optimizer.step()

    group = penalty.param_group(penalty.select(decoupled_model))
    optimizer = torch.optim.SGD([group, {"params": [decoupled_model.bias], "weight_decay": 0.0}], lr=0.1)
    decoupled_model(x).square().mean().backward()
    optimizer.step()
    torch.testing.assert_close(decoupled_model.weight, coupled_model.weight)


@pytest.mark.parametrize(
    "penalty",
    [
        L2(0.01),
        L2(0.01, layers=["output.*", "*.bias"], decoupled=True),
        L1(1e-4, layers="0.weight", proximal=True),
        ElasticNet(0.1, l1_ratio=0.25, layers="*"),
    ],
)
def test_get_config_round_trips(penalty) -> None:
    config = penalty.get_config()
    clone = type(penalty)(**config)
    assert clone.get_config() == config
    assert repr(clone) == repr(penalty)


def test_arguments_are_stored_as_given() -> None:
    layers = ["output.*", "*.bias"]
    penalty = L2(1, layers=layers)
    assert penalty.layers is layers
    assert penalty.get_config() == {"lam": 1, "layers": ["output.*", "*.bias"], "decoupled": False}
    assert repr(L1(0.5, proximal=True)) == "L1(lam=0.5, layers=None, proximal=True, decoupled=False)"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: L2(-1.0), "`lam` must be a finite number >= 0, got -1.0"),
        (lambda: L2(float("nan")), "`lam` must be a finite number >= 0, got nan"),
        (lambda: L1(float("inf")), "`lam` must be a finite number >= 0, got inf"),
        (lambda: L1("0.1"), "`lam` must be a finite number >= 0, got '0.1'"),
        (lambda: L2(True), "`lam` must be a finite number >= 0, got True"),
        (lambda: ElasticNet(0.1, l1_ratio=1.5), "`l1_ratio` must be a number in [0, 1], got 1.5"),
        (lambda: ElasticNet(0.1, l1_ratio=-0.1), "`l1_ratio` must be a number in [0, 1], got -0.1"),
        (lambda: L2(0.1, decoupled="yes"), "`decoupled` must be True or False, got 'yes'"),
        (lambda: L1(0.1, proximal=1), "`proximal` must be True or False, got 1"),
        (
            lambda: L1(0.1, decoupled=True),
            "`decoupled=True` is only supported by L2 (weight decay is the gradient of an L2 penalty); "
            "apply L1 in the loss or with `proximal=True`",
        ),
        (
            lambda: ElasticNet(0.1, decoupled=True),
            "`decoupled=True` is only supported by L2 (weight decay is the gradient of an L2 penalty); "
            "apply ElasticNet in the loss",
        ),
        (lambda: L2(0.1, layers=""), "`layers` must be a non-empty glob such as 'output.*', got ''"),
        (lambda: L2(0.1, layers=[]), "`layers` must be a glob or a non-empty list of globs, got []"),
        (lambda: L2(0.1, layers=3), "`layers` must be a glob or a non-empty list of globs, got 3"),
        (lambda: L2(0.1, layers=["a.*", 3]), "`layers[1]` must be a non-empty glob string, got 3"),
    ],
)
def test_bad_arguments_raise_one_clear_line(make, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        make()
    assert str(raised.value) == message


def test_unknown_optimizer_for_weight_decay() -> None:
    with pytest.raises(ValueError) as raised:
        L2(0.1, decoupled=True).param_group_weight_decay("rmsprop")
    assert str(raised.value) == "`optimizer` must be one of 'sgd', 'adam', 'adamw', got 'rmsprop'"


def _sparse_regression() -> tuple[torch.Tensor, torch.Tensor]:
    """100 rows, 40 features, 8 of them informative: at lam = 0.2 the lasso zeroes 29 weights."""
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(100, 40, generator=generator, dtype=torch.float64)
    true_w = torch.zeros(40, dtype=torch.float64)
    true_w[:8] = 2 * torch.randn(8, generator=generator, dtype=torch.float64)
    return X, X @ true_w + 0.5 * torch.randn(100, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize(
    ("optimizer", "options"),
    [
        ("sgd", {"momentum": 0.0, "lr": 0.1}),
        ("sgd", {"momentum": 0.9, "lr": 0.01}),  # the Trainer's default momentum
        ("adam", {"lr": 0.01}),
        ("adamw", {"lr": 0.01}),  # weight_decay=0 (the Trainer's default): no oracle has AdamW's own decay
    ],
    ids=["sgd", "momentum-sgd", "adam", "adamw"],
)
def test_trainer_with_proximal_l1_reaches_the_lasso_under_every_optimizer(optimizer: str, options: dict) -> None:
    from fitguard.data.tensors import TensorData
    from fitguard.train.trainer import Trainer

    X, y = _sparse_regression()
    lam = 0.2
    # the Trainer minimizes (1/n)||y - Xw||^2 + lam ||w||_1 = 2 * [(1/(2n))||y - Xw||^2 + (lam/2) ||w||_1],
    # and sklearn's Lasso minimizes the bracket with alpha: alpha = lam / 2
    lasso = Lasso(alpha=lam / 2, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(X.numpy(), y.numpy())
    expected = torch.from_numpy(lasso.coef_).float()
    assert int((expected == 0).sum()) == 29  # the test only means something if the lasso zeroes weights
    model = nn.Linear(X.shape[1], 1, bias=False)  # float32, as a user's model is
    nn.init.zeros_(model.weight)
    trainer = Trainer(
        model, loss="mse", optimizer=optimizer, batch_size=len(X), max_epochs=2000,
        penalties=[L1(lam, proximal=True)], device="cpu", **options,
    )
    trainer.fit(TensorData(X.float(), y.float().unsqueeze(1)))
    w = model.weight.detach().squeeze(0)
    assert torch.equal(w == 0, expected == 0)
    torch.testing.assert_close(w, expected, atol=1e-4, rtol=0)  # measured: within 5e-7 for all four


@pytest.mark.parametrize(("optimizer", "decoupled"), [("sgd", False), ("adam", False), ("adamw", True)])
def test_frozen_weights_stay_bit_identical_under_proximal_l1_and_l2(optimizer: str, decoupled: bool) -> None:
    from fitguard.data.tensors import TensorData
    from fitguard.train.trainer import Trainer

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    model[0].requires_grad_(False)  # a frozen backbone layer; the default selection still names its weight
    frozen = {name: p.detach().clone() for name, p in model[0].named_parameters()}
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(64, 6, generator=generator)
    data = TensorData(X, X[:, :1] - X[:, 1:2] + 0.1 * torch.randn(64, 1, generator=generator))
    penalties = [L1(0.05, proximal=True), L2(0.01, decoupled=decoupled)]
    Trainer(model, loss="mse", optimizer=optimizer, lr=0.01, batch_size=16, max_epochs=20, penalties=penalties,
            device="cpu").fit(data)
    for name, p in model[0].named_parameters():
        assert torch.equal(p, frozen[name]), name
    assert int((model[2].weight == 0).sum()) > 0  # the penalties did act on the trainable layers


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_each_parameter_group_is_thresholded_with_its_own_learning_rate(momentum: float) -> None:
    from fitguard.transfer.training import discriminative_lr

    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2), nn.Linear(2, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    model[0].requires_grad_(False)  # frozen after the optimizer was built: it must not move either
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    discriminative_lr(optimizer, model, 0.1)  # head (last layer) at lr 0.1, body at 0.01, as transfer does
    for p in model.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None  # the optimizer's step moves nothing
    optimizer.step()
    penalty = L1(0.5, proximal=True, layers="*.weight")
    penalty.after_step(penalty.select(model), optimizer)
    scale = 0.5 / (1 - momentum)  # lam times the heavy-ball step multiplier
    assert torch.equal(model[0].weight, torch.ones(3, 3))
    torch.testing.assert_close(model[1].weight, torch.full((2, 3), 1 - 0.01 * scale))
    torch.testing.assert_close(model[2].weight, torch.full((2, 2), 1 - 0.1 * scale))
    assert torch.equal(model[2].bias, torch.ones(2))  # not selected


def test_adam_thresholds_each_coordinate_by_its_own_second_moment() -> None:
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 1.0, 1.0]], dtype=torch.float64))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    gradient = torch.tensor([[0.5, 2.0, 1e-3]], dtype=torch.float64)
    model.weight.grad = gradient.clone()
    optimizer.step()
    after_adam = model.weight.detach().clone()
    L1(0.1, proximal=True).after_step([("weight", model.weight)], optimizer)
    # after one step Adam's bias-corrected v-hat is g^2: the threshold is lam * lr / (|g| + eps)
    threshold = 0.1 * 0.01 / (gradient.abs() + 1e-8)
    torch.testing.assert_close(model.weight.detach(), soft_threshold(after_adam, threshold))
    assert model.weight[0, 2] == 0  # a near-zero gradient: a threshold of ~1, the weight is zeroed


def test_unsupported_optimizer_is_named() -> None:
    model = nn.Linear(2, 1)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.1)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    penalty = L1(0.1, proximal=True)
    with pytest.raises(ValueError) as raised:
        penalty.after_step(penalty.select(model), optimizer)
    assert str(raised.value) == (
        "proximal L1 needs the optimizer's step size, known for SGD, Adam, AdamW; got RMSprop"
    )


def test_several_penalties_with_their_own_lambda_per_layer_group() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    penalties = [L2(0.1, layers="0.weight"), L1(0.01, layers="2.weight")]
    total = sum(p.term(p.select(model)) for p in penalties)
    expected = 0.1 * model[0].weight.square().sum() + 0.01 * model[2].weight.abs().sum()
    torch.testing.assert_close(total, expected)
