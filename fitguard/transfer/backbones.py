"""Loading a pretrained backbone and giving it a head sized to the target classes.

``load_backbone(source)`` takes an ``nn.Module``, a weights file (safetensors, or a torch state dict read with
``weights_only=True``: a pickle that would run code is refused), or the name of a pretrained ImageNet network
that loads offline from an installed package (see ``fitguard.transfer.sources``). A fitguard run folder is
turned into a module first, by the caller (``fitguard.runs.backbone_module``): transfer knows nothing of runs.
Freezing is by layer blocks (``fitguard.transfer.blocks``); training helpers (discriminative learning
rates, gradual unfreezing) are in ``fitguard.transfer.training``; the ridge linear probe in
``fitguard.transfer.probe``.

Example:
    >>> from fitguard.models import cnn
    >>> model = load_backbone(cnn(1, 10, widths=[4]), num_classes=3)
    >>> model.output.out_features
    3
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fitguard._validation import check_int
from fitguard.errors import FitguardError
from fitguard.transfer.blocks import freeze, hold_batchnorm, layer_blocks
from fitguard.transfer.model import TransferModel
from fitguard.transfer.sources import NAMED_BACKBONES, load_named, read_weights

__all__ = ["describe", "extract_features", "last_linear", "load_backbone", "new_head"]

BATCHNORM_MODES = ("eval", "train")


def last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's last ``nn.Linear`` in registration order: the classifier a new head replaces.

    Args:
        model: the network.

    Raises:
        ValueError: the model has no ``nn.Linear``.
    """
    found = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not found:
        raise ValueError(f"the model ({type(model).__name__}) has no nn.Linear layer to replace with a new head")
    return found[-1]


def new_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the last linear layer by a freshly initialized one with ``num_classes`` outputs; returns ``model``.

    Args:
        model: The network, changed in place; its last ``nn.Linear`` in registration order is replaced by one
            with the same inputs, bias, device and dtype.
        num_classes: Outputs of the new head, >= 1.

    Raises:
        ValueError: a model without an ``nn.Linear``, or one that is a single ``nn.Linear``.

    Example:
        >>> new_head(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), 5)[2]
        Linear(in_features=8, out_features=5, bias=True)
    """
    check_int("num_classes", num_classes, low=1)
    name, old = last_linear(model)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    fresh = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    fresh.to(device=old.weight.device, dtype=old.weight.dtype)
    if child == "":  # the model is itself a Linear
        raise ValueError("the model is a single nn.Linear; there is no backbone left once its head is replaced")
    setattr(parent, child, fresh)
    return model


@torch.no_grad()
def extract_features(model: nn.Module, X: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """What the model feeds its classifier (the input of its last linear layer), in eval mode, on CPU.

    Args:
        model: The network; a :class:`~fitguard.transfer.TransferModel` gives its ``features``, any other model
            the (flattened) input of its last ``nn.Linear``. Its training mode is restored afterwards.
        X: Input rows, moved batch by batch to the model's device.
        batch_size: Rows per forward pass. Default 256.

    Returns:
        A float32 CPU tensor of shape (len(X), features).

    Example:
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> extract_features(model, torch.zeros(5, 3)).shape
        torch.Size([5, 4])
    """
    was_training = model.training
    model.eval()
    captured: list[torch.Tensor] = []
    hook = None
    if not isinstance(model, TransferModel):
        hook = last_linear(model)[1].register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    device = next(model.parameters()).device
    chunks = []
    try:
        for start in range(0, len(X), batch_size):
            batch = X[start : start + batch_size].to(device)
            if isinstance(model, TransferModel):
                chunks.append(model.features(batch).float().cpu())
            else:
                model(batch)
                chunks.append(captured.pop().float().flatten(1).cpu())
    finally:
        if hook is not None:
            hook.remove()
        model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0)


def _weights_into(architecture: nn.Module | None, state: dict[str, torch.Tensor], source: Path,
                  num_classes: int | None) -> nn.Module:
    if architecture is None:
        raise ValueError(
            f"{source} holds weights only; pass `architecture=` the nn.Module (or backbone name) they belong to"
        )
    model = load_named(architecture) if isinstance(architecture, str) else architecture
    own = model.state_dict()
    head_keys: set[str] = set()
    if num_classes is not None:
        # the source task's classifier is replaced anyway, so a different number of classes is no mismatch
        name = last_linear(model)[0]
        head_keys = {f"{name}.weight", f"{name}.bias"}
        state = {k: v for k, v in state.items() if k not in head_keys or v.shape == own[k].shape}
    missing = sorted(set(own) - set(state) - head_keys)
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(state) & set(own) if state[k].shape != own[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
                           for label, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", wrong)) if keys)
        raise FitguardError(f"the weights in {source} do not fit the {type(model).__name__} architecture: {detail}")
    model.load_state_dict(state, strict=False)
    return model


def load_backbone(
    source: str | Path | nn.Module,
    *,
    architecture: nn.Module | str | None = None,
    num_classes: int | None = None,
    image_size: int | Sequence[int] | None = None,
    trainable_last: int | None = None,
    batchnorm: str = "eval",
) -> nn.Module:
    """Load a backbone from ``source``; with ``num_classes`` give it a new head, with ``trainable_last`` freeze it.

    ``source``: an ``nn.Module`` (used as is; ``fitguard.load(run_folder).model`` for a model a fitguard run
    saved), a named backbone (``NAMED_BACKBONES``, e.g. 'efficientnet_lite0'), or a weights file (.safetensors,
    or .pt/.pth/.bin/.ckpt holding a state dict) loaded into ``architecture``. ``image_size`` resizes images for a
    named backbone (default: the size it was trained at).

    ``batchnorm='eval'`` (the default) keeps every batch norm in eval mode while fine-tuning, trainable blocks
    included: they normalize with the pretrained running statistics and only their scale and shift learn
    (:func:`~fitguard.transfer.blocks.hold_batchnorm`). The right choice for small target data: on the
    500-image Fashion-MNIST split, EfficientNet-Lite0 fully fine-tuned for 3 epochs scores 0.74 test accuracy
    this way and 0.29 with ``batchnorm='train'``, whose running statistics (momentum 0.01) lag far behind the
    weights. ``'train'`` lets the batch norms of trainable blocks follow ``model.train()`` (re-estimating
    statistics, for large target data far from the source); those of frozen blocks stay in eval mode either way.

    Args:
        source: An ``nn.Module``, a name in ``NAMED_BACKBONES`` (or ``timm:NAME`` / ``torchvision:NAME`` when
            those are installed), or a weights file path (see above). A folder is refused.
        architecture: For a weights file: the ``nn.Module`` (or backbone name) the weights are loaded into;
            ignored otherwise. Default None.
        num_classes: Give the model a new head with this many outputs (:func:`new_head`); a weights file's old
            head may then differ in shape. None (default): keep the head.
        image_size: Input side (or (height, width)) a named backbone resizes images to; None (default): the
            size it was trained at. Ignored for other sources.
        trainable_last: Freeze everything but the last this many layer blocks (:func:`freeze`); None (default):
            nothing frozen.
        batchnorm: ``"eval"`` (default) or ``"train"``, see above.

    Raises:
        ValueError: an unknown ``batchnorm``, a folder as ``source``, or a weights file without
            ``architecture``.
        FileNotFoundError: a ``source`` that is neither a file nor a named backbone.
        FitguardError: weights that do not fit ``architecture``.

    Example:
        >>> model = load_backbone("efficientnet_lite0", num_classes=10, image_size=96)  # doctest: +SKIP
    """
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"`batchnorm` must be one of {', '.join(map(repr, BATCHNORM_MODES))}, got {batchnorm!r}")
    if isinstance(source, nn.Module):
        model = source
    elif isinstance(source, str) and (source in NAMED_BACKBONES or (":" in source and not Path(source).exists())):
        model = load_named(source, image_size=image_size)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            names = ", ".join(NAMED_BACKBONES)
            raise FileNotFoundError(f"backbone {str(source)!r} is neither a file nor a named backbone "
                                    f"({names}, or timm:NAME / torchvision:NAME when installed)")
        if path.is_dir():
            raise ValueError(f"backbone {str(source)!r} is a folder; for a fitguard run folder pass the module "
                             f"it saved, fitguard.load({str(source)!r}).model")
        model = _weights_into(architecture, read_weights(path), path, num_classes)
    if num_classes is not None:
        new_head(model, num_classes)
    hold_batchnorm(model, batchnorm == "eval")
    if trainable_last is not None:
        freeze(model, trainable_last=trainable_last)
    return model


def describe(model: nn.Module) -> list[dict[str, Any]]:
    """One row per layer block: name, parameters, trainable (for reports and the CLI summary).

    Args:
        model: the network, split into layer blocks.
    """
    return [{"block": b.name, "parameters": sum(p.numel() for p in b.parameters()), "trainable": b.trainable}
            for b in layer_blocks(model)]
