"""MeanEnsemble against numbers computed by hand, and its round trip through a saved run folder."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import fitguard
from fitguard.data import load
from fitguard.models.ensemble import MeanEnsemble
from fitguard.runs import save_model


def members(count: int, out: int) -> list[nn.Module]:
    torch.manual_seed(0)
    return [nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, out)) for _ in range(count)]


def test_classification_averages_probabilities_and_its_cross_entropy_is_the_ensembles_log_loss():
    nets = members(3, 5)
    x, y = torch.randn(16, 4, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 5
    with torch.no_grad():
        output = MeanEnsemble(nets, "classification")(x)
        probabilities = np.mean([torch.softmax(net(x), 1).numpy() for net in nets], axis=0)
    np.testing.assert_allclose(torch.softmax(output, 1).numpy(), probabilities, atol=1e-6)
    np.testing.assert_allclose(output.exp().sum(1).numpy(), 1.0, atol=1e-6)  # already log-probabilities
    log_loss = -np.mean(np.log(probabilities[np.arange(16), y.numpy()]))
    assert nn.functional.cross_entropy(output, y).item() == pytest.approx(log_loss, rel=1e-5)


def test_regression_averages_outputs_and_one_member_is_that_member():
    nets = members(4, 2)
    x = torch.randn(8, 4)
    with torch.no_grad():
        expected = torch.stack([net(x) for net in nets]).mean(0)
        assert torch.allclose(MeanEnsemble(nets, "regression")(x), expected, atol=1e-6)
        single = MeanEnsemble(nets[:1], "classification")(x)
        assert torch.allclose(single, torch.log_softmax(nets[0](x), 1), atol=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    (([], "classification"), "an ensemble needs at least one member network"),
    ((members(1, 2), "ranking"), "`task` must be 'classification' or 'regression', got 'ranking'"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError) as error:
        MeanEnsemble(*args)
    assert str(error.value) == message


def test_a_saved_ensemble_reloads_with_every_member_and_predicts_the_same(tmp_path):
    data = load("digits", val=0.2, test=0.2, seed=0)
    torch.manual_seed(0)
    nets = [fitguard.models.build("mlp", data.input_shape, data.out_features, hidden=[16]) for _ in range(3)]
    ensemble = MeanEnsemble(nets, data.task).eval()
    save_model(tmp_path, ensemble, "mlp", {"hidden": [16]}, data, stem="best")
    predictor = fitguard.load(tmp_path)
    assert isinstance(predictor.model, MeanEnsemble) and len(predictor.model.members) == 3
    assert predictor.spec["ensemble"] == {"members": 3, "mirror": False}
    with torch.no_grad():
        expected = torch.softmax(ensemble(data.test.X), 1).numpy()
    np.testing.assert_allclose(predictor.predict_proba(data.raw_test.inputs), expected, atol=1e-6)
    first, second = (next(net.parameters()).flatten()[0].item() for net in nets[:2])
    assert not math.isclose(first, second)  # the members differ: the test would notice one member saved thrice
