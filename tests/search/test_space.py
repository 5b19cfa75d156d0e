from __future__ import annotations

import pytest

from fitguard.config import TrainConfig
from fitguard.errors import FitguardError
from fitguard.search import Choice, Float, Int, SearchSpace, apply_point


@pytest.mark.parametrize(("params", "message"), [
    ({"lr": Float(0.0, 1e-2, log=True)}, "`lr` must be in (0, inf), got 0.0"),
    ({"dropout": Float(0.1, 1.0)}, "`dropout` must be in [0, 1), got 1.0"),
    ({"l2": Float(0.0, 1e-2, log=True)}, "`l2` on a log scale needs low > 0, got low=0.0"),
    ({"l2": Float(1e-2, 1e-3)}, "`l2` range needs low < high, got low=0.01, high=0.001"),
    ({"depth": Float(1.0, 3.0)}, "`depth` takes integers: give an integer range such as {low: 1, high: 4}"),
    ({"batchnorm": Int(0, 1)}, "`batchnorm` is true/false: give choices such as [true, false], not a range"),
    ({"dropout": Choice((0.0, -0.1))}, "dropout[1]: `dropout` must be in [0, 1), got -0.1"),
    ({"width": Choice((16, 2.5))}, "width[1]: `width` must be an integer, got 2.5"),
    ({"momentum": Choice((0.9,))}, "unknown search parameter 'momentum'; known: l1, l2, elastic_net, l1_ratio, "
     "proximal, dropout, weight_noise, batchnorm, augment, mixup, width, depth, batch_size, lr, label_smoothing"),
    ({"dropout:output.*": Choice((0.1,))}, "only penalties take a layer group after ':' (l1, l2, elastic_net), "
     "got 'dropout:output.*'"),
    ({}, "a search space needs at least one parameter, got {}"),
])
def test_bad_spaces_name_the_parameter_and_what_is_allowed(params, message) -> None:
    with pytest.raises(ValueError) as error:
        SearchSpace(params)
    assert str(error.value) == message


def test_yaml_form_round_trips_and_infers_kinds() -> None:
    data = {"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "l2": [0.0, 1e-4], "depth": {"low": 1, "high": 3},
            "batchnorm": [True, False]}
    space = SearchSpace.from_dict(data)
    assert space.params["depth"] == Int(1, 3)
    assert space.params["lr"] == Float(1e-4, 1e-2, log=True)
    assert SearchSpace.from_dict(space.to_dict()).params == space.params
    with pytest.raises(FitguardError) as error:
        SearchSpace.from_dict({"lr": {"low": 1e-4, "hi": 1e-2}})
    assert str(error.value) == "`lr` range must be {low: ..., high: ...[, log: true]}, got {'low': 0.0001, 'hi': 0.01}"


def test_apply_point_maps_every_remedy_into_the_train_config() -> None:
    recipe = TrainConfig.model_validate({"model": {"name": "mlp", "hidden": [64, 64]},
                                         "remedies": {"penalties": [{"kind": "l2", "lam": 0.5}]}})
    point = {"l2": 1e-4, "l1:output.*": 1e-5, "proximal": True, "elastic_net": 1e-3, "l1_ratio": 0.25,
             "dropout": 0.3, "weight_noise": 0.01, "batchnorm": True, "mixup": 0.2, "width": 32, "depth": 3,
             "batch_size": 16, "lr": 3e-3, "label_smoothing": 0.1, "augment": 0.5}
    config = apply_point(recipe, point)
    penalties = [(p.kind, p.lam, p.layers, p.proximal, p.l1_ratio) for p in config.remedies.penalties]
    assert penalties == [("l2", 1e-4, None, False, 0.5), ("l1", 1e-5, "output.*", True, 0.5),
                         ("elastic_net", 1e-3, None, False, 0.25)]
    assert config.model.model_extra == {"hidden": [32, 32, 32], "dropout": 0.3, "batchnorm": True}
    assert (config.train.lr, config.train.batch_size, config.train.label_smoothing) == (3e-3, 16, 0.1)
    assert config.remedies.weight_noise.sigma == 0.01 and config.remedies.mixup == 0.2
    assert config.remedies.augment == {"rotate": 7.5, "shift": 0.05, "scale": [0.95, 1.05]}
    assert recipe.remedies.penalties[0].lam == 0.5  # the recipe itself is untouched
    assert apply_point(recipe, {"l2": 0.0}).remedies.penalties == []


def test_apply_point_rejects_values_out_of_range() -> None:
    with pytest.raises(ValueError) as error:
        apply_point(TrainConfig(), {"lr": -1.0})
    assert str(error.value) == "`lr` must be in (0, inf), got -1.0"
