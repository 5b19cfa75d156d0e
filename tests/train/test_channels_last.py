"""``channels_last``: the Trainer's option ("auto": on a CPU for a network with 2-d convolutions) and the spec's
``train.channels_last`` (default "auto"), which every run built from a spec -- the doctor's included -- passes on."""

import copy

import pytest
import torch
from torch import nn

from fitguard.config import TrainConfig, parse_config
from fitguard.data import TensorData, load
from fitguard.errors import FitguardError
from fitguard.models import build_network
from fitguard.recipe import build_run
from fitguard.train import Trainer
from fitguard.train.trainer import channels_last_pays


def _images(rows: int, seed: int) -> TensorData:
    generator = torch.Generator().manual_seed(seed)
    return TensorData(torch.randn(rows, 1, 8, 8, generator=generator), torch.randint(0, 3, (rows,),
                                                                                     generator=generator))


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return build_network("cnn", (1, 8, 8), 3, {"widths": [4, 8]})


def test_auto_is_channels_last_for_a_convolutional_network_on_the_cpu_and_nothing_else():
    cnn = Trainer(_cnn(), device="cpu", channels_last="auto")
    weight = [m.weight for m in cnn.model.modules() if isinstance(m, nn.Conv2d)][-1]  # 4 channels in: unambiguous
    assert cnn.channels_last and weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()  # moved, not merely flagged
    mlp = Trainer(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), device="cpu", channels_last="auto")
    assert mlp.channels_last is False
    assert Trainer(_cnn(), device="cpu").channels_last is False  # the library's default stays off
    assert channels_last_pays(nn.Conv1d(1, 2, 3), torch.device("cpu")) is False  # 2-d convolutions only
    assert channels_last_pays(_cnn(), torch.device("meta")) is False  # CUDA and others: never assumed


def test_channels_last_trains_the_same_network_as_the_default_layout_to_float_rounding():
    train, val = _images(96, 0), _images(32, 1)
    histories, logits = {}, {}
    for layout in (False, True):
        trainer = Trainer(_cnn(), optimizer="sgd", lr=0.05, batch_size=16, max_epochs=4, device="cpu",
                          channels_last=layout, seed=3)
        histories[layout] = trainer.fit(train, val)
        logits[layout] = trainer.predict(val.X)
    for key in ("loss", "val_loss", "val_accuracy"):
        assert histories[True][key] == pytest.approx(histories[False][key], rel=1e-4, abs=1e-6)
    assert torch.allclose(logits[True], logits[False], atol=1e-4)


def test_a_bad_channels_last_is_one_clear_error():
    with pytest.raises(ValueError, match=r"^`channels_last` must be True, False or 'auto', got 'yes'$"):
        Trainer(_cnn(), device="cpu", channels_last="yes")


def test_the_spec_defaults_to_auto_and_a_run_built_from_it_uses_it():
    data = load("digits", seed=0)
    config = TrainConfig(data={"source": "digits"}, model={"name": "cnn", "widths": [4]}, train={"device": "cpu"})
    assert config.train.channels_last == "auto"
    assert build_run(config, data=data).trainer.channels_last is True
    off = copy.deepcopy(config.model_dump())
    off["train"]["channels_last"] = False
    assert build_run(TrainConfig(**off), data=data).trainer.channels_last is False
    mlp = TrainConfig(data={"source": "digits"}, model={"name": "mlp", "hidden": [8]}, train={"device": "cpu"})
    assert build_run(mlp, data=data).trainer.channels_last is False
    for bad in ("sometimes", 1, "true"):
        with pytest.raises(FitguardError) as error:
            parse_config({"train": {"channels_last": bad}}, "spec.yaml")
        assert str(error.value) == f'spec.yaml: train.channels_last: must be true, false or "auto", got {bad!r}'
