"""Layer blocks of any network, and freezing all but the last k of them.

A *block* is one weighted layer (convolution, linear, a residual unit, ...) together with the normalization,
activation, pooling and dropout that follow it: freezing "the last k layers" means the last k such blocks.
Containers (``nn.Sequential``, ``nn.ModuleList``) are opened; any other module that holds parameters is a layer.

Batch norm inside a frozen block is kept in eval mode even when the training loop calls ``model.train()``: a
frozen block whose batch-norm statistics still moved would no longer be the pretrained block, and small target
batches give noisy statistics (the classic fine-tuning pitfall). A forward pre-hook does it, so it works for
any ``nn.Module`` without wrapping it. :func:`hold_batchnorm` extends this to the batch norms of trainable
blocks too (their scale and shift still learn, their running statistics stay the pretrained ones): what
``load_backbone`` does by default, and it survives later ``freeze`` calls such as gradual unfreezing.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from fitguard._validation import check_int

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_HOOK_ATTRIBUTE = "_fitguard_frozen_batchnorm_hook"
_FROZEN_ATTRIBUTE = "_fitguard_batchnorm_in_frozen_block"
_HELD_ATTRIBUTE = "_fitguard_batchnorm_held"


@dataclass(frozen=True)
class LayerBlock:
    """A weighted layer and the parameter-free or normalization modules that go with it.

    Args:
        name: The weighted layer's name in the model (dotted, as ``named_modules()`` gives it).
        modules: The weighted layer and the modules that go with it, in forward order.
    """

    name: str
    modules: tuple[nn.Module, ...]

    def parameters(self) -> list[nn.Parameter]:
        """The parameters of every module in the block, in order (what freezing switches on and off)."""
        return [p for module in self.modules for p in module.parameters()]

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())


def _leaves(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    found: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        if isinstance(child, _CONTAINERS):
            found += _leaves(child, f"{prefix}{name}.")
        else:
            found.append((f"{prefix}{name}", child))
    return found


def layer_blocks(model: nn.Module) -> list[LayerBlock]:
    """The model's layer blocks in forward order (registration order, the convention of torch models).

    A model may define ``transfer_blocks()`` returning ``(name, module)`` pairs to choose its own blocks (each
    one that holds parameters is a block; parameter-free ones join their neighbour).

    Args:
        model: The network; containers (``Sequential``, ``ModuleList`` ...) are looked into, other modules are
            leaves.

    Raises:
        ValueError: a model without parameters.

    Example:
        >>> from fitguard.models import cnn
        >>> [b.name for b in layer_blocks(cnn(1, 10, widths=[4, 8]))]
        ['conv1', 'conv2', 'output']
    """
    groups: list[tuple[str, list[nn.Module]]] = []
    pending: list[nn.Module] = []  # parameter-free modules before the first weighted layer
    explicit = callable(getattr(model, "transfer_blocks", None))
    leaves = list(model.transfer_blocks()) if explicit else _leaves(model, "") or [("model", model)]
    for name, module in leaves:
        weighted = any(True for _ in module.parameters())
        starts_block = weighted and (explicit or not isinstance(module, _NORMS) or not groups)
        if starts_block:
            groups.append((name, [*pending, module]))
            pending = []
        elif groups:
            groups[-1][1].append(module)
        else:
            pending.append(module)
    if not groups:
        raise ValueError(f"the model ({type(model).__name__}) has no parameters, so it has no layer blocks to freeze")
    return [LayerBlock(name, tuple(modules)) for name, modules in groups]


def _keep_in_eval(module: nn.Module, inputs: object) -> None:
    del inputs
    module.training = False


def _batchnorms(modules: tuple[nn.Module, ...] | list[nn.Module]) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for outer in modules for m in outer.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _sync_hook(module: nn.modules.batchnorm._BatchNorm) -> None:
    """Keep ``module`` in eval mode while its block is frozen or it is held; otherwise let it follow ``train()``."""
    keep = module.__dict__.get(_FROZEN_ATTRIBUTE, False) or module.__dict__.get(_HELD_ATTRIBUTE, False)
    handle = module.__dict__.pop(_HOOK_ATTRIBUTE, None)
    if handle is not None:
        handle.remove()
    if keep:
        module.__dict__[_HOOK_ATTRIBUTE] = module.register_forward_pre_hook(_keep_in_eval)
        module.eval()


def _set_block(block: LayerBlock, trainable: bool) -> None:
    for parameter in block.parameters():
        parameter.requires_grad_(trainable)
    for module in _batchnorms(block.modules):
        module.__dict__[_FROZEN_ATTRIBUTE] = not trainable
        _sync_hook(module)


def hold_batchnorm(model: nn.Module, hold: bool = True) -> nn.Module:
    """Keep every batch norm of ``model`` in eval mode (``hold=False`` undoes it); returns ``model``.

    Running statistics then stay the pretrained ones and training normalizes with them, while the scale and
    shift of trainable blocks still learn. Fine-tuning a pretrained backbone on little data wants this: batch
    statistics of a few small target batches are noisy, and running averages with a slow momentum (0.01 in
    EfficientNet, the TensorFlow convention) lag far behind the weights after a few hundred steps, so a model
    trained on batch statistics is evaluated with stale ones. Frozen blocks stay in eval mode either way.

    Args:
        model: The network, changed in place (a forward pre-hook keeps each held batch norm in eval mode even
            after ``model.train()``).
        hold: True (default) holds every batch norm; False lets those of trainable blocks follow ``train()``
            again.

    Example:
        >>> import torch
        >>> from fitguard.models import mlp
        >>> model = hold_batchnorm(mlp(4, 2, hidden=[8], batchnorm=True)).train()
        >>> _ = model(torch.randn(16, 4)); model.norm1.running_mean.abs().sum().item()
        0.0
    """
    for module in _batchnorms([model]):
        module.__dict__[_HELD_ATTRIBUTE] = bool(hold)
        _sync_hook(module)
    return model


def freeze(model: nn.Module, trainable_last: int) -> nn.Module:
    """Freeze every layer block but the last ``trainable_last`` (0 freezes all); returns ``model``.

    Frozen blocks get ``requires_grad=False`` (so the Trainer leaves them out of its optimizer) and their batch
    norm stays in eval mode; the last blocks are made trainable again, so calling it twice is a re-freeze.

    Args:
        model: The network, changed in place.
        trainable_last: How many layer blocks (:func:`layer_blocks`), counted from the end, stay trainable, an
            int >= 0; a number at or above the block count leaves everything trainable.

    Example:
        >>> from fitguard.models import mlp
        >>> model = freeze(mlp(4, 2, hidden=[8, 8]), trainable_last=1)
        >>> [b.trainable for b in layer_blocks(model)]
        [False, False, True]
    """
    check_int("trainable_last", trainable_last, low=0)
    blocks = layer_blocks(model)
    first_trainable = max(len(blocks) - trainable_last, 0)
    for index, block in enumerate(blocks):
        _set_block(block, trainable=index >= first_trainable)
    return model


def trainable_block_count(model: nn.Module) -> int:
    """How many blocks, counted from the end, are trainable (what ``freeze`` was last given, capped).

    Args:
        model: the network, split into layer blocks.
    """
    count = 0
    for block in reversed(layer_blocks(model)):
        if not block.trainable:
            break
        count += 1
    return count
