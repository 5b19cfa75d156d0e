"""Weight noise (perturb/restore) and input noise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitguard.errors import FitguardError
from fitguard.models import mlp
from fitguard.regularize import InputNoise, WeightNoise


def _model() -> nn.Module:
    torch.manual_seed(0)
    return mlp(5, 3, hidden=[16], batchnorm=True)


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def test_gradient_is_taken_at_noisy_weights_and_clean_weights_come_back_exactly() -> None:
    model = _model()
    x, y = torch.randn(32, 5, generator=torch.Generator().manual_seed(1)), torch.arange(32) % 3
    clean = {k: v.clone() for k, v in model.state_dict().items()}
    noise = WeightNoise(0.2)
    params = noise.select(model)

    noise.perturb(params, torch.Generator().manual_seed(7))
    noisy = {name: p.detach().clone() for name, p in params}
    _loss(model, x, y).backward()
    noise.restore(params)
    noisy_grads = [p.grad.clone() for _, p in params]
    for key, value in model.state_dict().items():
        if key.endswith("weight") and "norm" not in key:
            assert torch.equal(value, clean[key]), key

    # oracle: a twin model whose weights are set to the noisy values directly
    twin = _model()
    twin.load_state_dict(clean)
    with torch.no_grad():
        for name, value in noisy.items():
            twin.get_parameter(name).copy_(value)
    _loss(twin, x, y).backward()
    for (name, _), grad in zip(params, noisy_grads):
        assert torch.equal(grad, twin.get_parameter(name).grad)

    model.zero_grad()
    _loss(model, x, y).backward()
    assert not torch.equal(params[0][1].grad, noisy_grads[0])


def test_eval_outputs_are_unchanged_by_a_perturb_restore_cycle() -> None:
    # no batch norm here: its running statistics legitimately move with any training forward pass
    torch.manual_seed(0)
    model = mlp(5, 3, hidden=[16], dropout=0.2)
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(2))
    model.eval()
    before = model(x)
    noise = WeightNoise(0.5, relative=True)
    params = noise.select(model)
    model.train()
    noise.perturb(params, torch.Generator().manual_seed(3))
    model(x).sum().backward()
    noise.restore(params)
    model.eval()
    assert torch.equal(model(x), before)


def test_same_generator_seed_gives_the_same_noise() -> None:
    draws = []
    for _ in range(2):
        model = _model()
        noise = WeightNoise(0.1)
        params = noise.select(model)
        noise.perturb(params, torch.Generator().manual_seed(11))
        draws.append([p.detach().clone() for _, p in params])
        noise.restore(params)
    assert all(torch.equal(a, b) for a, b in zip(*draws))


@pytest.mark.parametrize("relative", [False, True])
def test_noise_scale_is_absolute_or_relative_to_each_layer(relative: bool) -> None:
    layer = nn.Linear(300, 300, bias=False)
    with torch.no_grad():
        layer.weight.normal_(0.0, 3.0, generator=torch.Generator().manual_seed(0))
    clean = layer.weight.detach().clone()
    noise = WeightNoise(0.1, relative=relative)
    params = noise.select(layer)
    noise.perturb(params, torch.Generator().manual_seed(5))
    drawn = (layer.weight.detach() - clean).std().item()
    noise.restore(params)
    expected = 0.1 * clean.std(correction=0).item() if relative else 0.1
    assert drawn == pytest.approx(expected, rel=0.02)


def test_protocol_errors() -> None:
    model = _model()
    noise = WeightNoise(0.1)
    params = noise.select(model)
    with pytest.raises(FitguardError) as raised:
        noise.restore(params)
    assert str(raised.value) == "WeightNoise.restore() called without a perturb() before it"
    noise.perturb(params)
    with pytest.raises(FitguardError) as raised:
        noise.perturb(params)
    assert str(raised.value) == "WeightNoise.perturb() called twice without restore(); the clean weights would be lost"
    with pytest.raises(FitguardError) as raised:
        noise.restore(params[:1])
    assert str(raised.value) == "WeightNoise.restore() got 1 parameters but perturb() saved 2"


def test_config_round_trip_and_validation() -> None:
    noise = WeightNoise(0.05, relative=True, layers=["linear1.*"])
    assert WeightNoise(**noise.get_config()).get_config() == noise.get_config()
    assert InputNoise(**InputNoise(0.3).get_config()).get_config() == {"sigma": 0.3}
    for make, message in [
        (lambda: WeightNoise(-0.1), "`sigma` must be a finite number >= 0, got -0.1"),
        (lambda: WeightNoise(0.1, relative="yes"), "`relative` must be True or False, got 'yes'"),
        (lambda: InputNoise(float("nan")), "`sigma` must be a finite number >= 0, got nan"),
    ]:
        with pytest.raises(ValueError) as raised:
            make()
        assert str(raised.value) == message


def test_input_noise_statistics_and_purity() -> None:
    x = torch.ones(2000, 8)
    noisy = InputNoise(0.5)(x, torch.Generator().manual_seed(0))
    assert torch.equal(x, torch.ones(2000, 8))
    assert (noisy - x).std().item() == pytest.approx(0.5, rel=0.03)
    assert (noisy - x).mean().item() == pytest.approx(0.0, abs=0.02)
    again = InputNoise(0.5)(x, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    assert InputNoise(0.0)(x) is x
    augmented, labels = InputNoise(0.5).augment(x, torch.arange(2000), torch.Generator().manual_seed(0))
    assert torch.equal(augmented, noisy) and torch.equal(labels, torch.arange(2000))
    with pytest.raises(ValueError) as raised:
        InputNoise(0.1)(torch.ones(2, 2, dtype=torch.long))
    assert str(raised.value) == "InputNoise needs floating-point features, got a tensor of dtype torch.int64"


def test_trainer_trains_differently_with_noise_and_predicts_with_clean_weights() -> None:
    from fitguard.data.tensors import TensorData
    from fitguard.train.trainer import Trainer

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(64, 5, generator=generator)
    data = TensorData(X, (X[:, 0] > 0).long())
    losses = []
    for noise in (None, WeightNoise(0.3)):
        torch.manual_seed(0)
        model = mlp(5, 2, hidden=[16])
        trainer = Trainer(model, lr=0.01, batch_size=16, max_epochs=3, weight_noise=noise, device="cpu", seed=0)
        losses.append(trainer.fit(data)["loss"])
    assert losses[0] != losses[1]
    model.eval()
    with torch.no_grad():
        expected = model(X)
    assert torch.equal(trainer.predict(X), expected)
