"""Known overfitting-related pitfalls, found by reading a model's layers (nothing is run).

Rules (``code``: what it finds):

* ``dropout-before-batchnorm``: a dropout layer whose output reaches a batch norm layer with only shape or
  activation layers (Flatten, Identity, ReLU, ...) in between. Dropout scales the surviving units by
  ``1 / (1 - p)`` in training and not in evaluation, so batch norm's running variance, learnt on dropped-out
  inputs, is wrong at test time (the "variance shift", Li et al., 2019). Put dropout after batch norm.
* ``dropout-in-tiny-network``: dropout with ``p > 0`` in a network with fewer than
  :data:`TINY_NETWORK_HIDDEN_UNITS` hidden units (the outputs of every linear/conv layer but the last, summed).
  Such a network underfits before it overfits; switching units off leaves too few to do the work.
* ``frozen-batchnorm-train-mode``: a batch norm layer whose affine parameters are frozen
  (``requires_grad=False``) but which is in train mode with running statistics: the statistics keep moving
  with every training batch and the layer normalizes with batch statistics, so the "frozen" layer is not
  frozen. Call ``.eval()`` on it after ``model.train()``.

Layer order is the order modules are registered, which is the forward order for ``nn.Sequential`` and for
most hand-written modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

TINY_NETWORK_HIDDEN_UNITS = 32

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_UNIT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Layers that pass dropout's scaled units on to the next layer unchanged in count or variance structure.
_PASS_THROUGH = (
    nn.Flatten, nn.Unflatten, nn.Identity, nn.ReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Tanh, nn.Sigmoid,
)


@dataclass(frozen=True)
class LintWarning:
    """One finding: a stable ``code``, a one-line ``message`` and the ``layer`` name it points at.

    Args:
        code: The rule's stable identifier, e.g. ``"dropout-before-batchnorm"`` (for filtering and tests).
        message: What is wrong and what to do about it, one line.
        layer: The name (in ``model.named_modules()``) of the layer the finding points at.
    """

    code: str
    message: str
    layer: str

    def __str__(self) -> str:
        return f"{self.layer}: {self.message} [{self.code}]"


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, module) for name, module in model.named_modules() if not any(True for _ in module.children())]


def _dropout_rate(module: nn.Module) -> float:
    return float(getattr(module, "p", 0.0))


def _dropout_before_batchnorm(leaves: list[tuple[str, nn.Module]]) -> list[LintWarning]:
    found = []
    for index, (name, module) in enumerate(leaves):
        if not isinstance(module, _DROPOUTS) or _dropout_rate(module) == 0:
            continue
        for next_name, next_module in leaves[index + 1 :]:
            if isinstance(next_module, _BATCHNORMS):
                found.append(
                    LintWarning(
                        "dropout-before-batchnorm",
                        f"dropout (p={_dropout_rate(module)}) feeds batch norm {next_name!r}: the variance batch "
                        "norm learns in training differs at evaluation (variance shift); put dropout after "
                        "batch norm",
                        name,
                    )
                )
                break
            if not isinstance(next_module, _PASS_THROUGH):
                break
    return found


def _dropout_in_tiny_network(leaves: list[tuple[str, nn.Module]]) -> list[LintWarning]:
    unit_layers = [module for _, module in leaves if isinstance(module, _UNIT_LAYERS)]
    hidden_units = sum(
        module.out_features if isinstance(module, nn.Linear) else module.out_channels for module in unit_layers[:-1]
    )
    if not unit_layers or hidden_units >= TINY_NETWORK_HIDDEN_UNITS:
        return []
    return [
        LintWarning(
            "dropout-in-tiny-network",
            f"dropout (p={_dropout_rate(module)}) in a network of {hidden_units} hidden units "
            f"(< {TINY_NETWORK_HIDDEN_UNITS}): too few units remain to learn; make the network wider or drop the "
            "dropout",
            name,
        )
        for name, module in leaves
        if isinstance(module, _DROPOUTS) and _dropout_rate(module) > 0
    ]


def _frozen_batchnorm_in_train_mode(leaves: list[tuple[str, nn.Module]]) -> list[LintWarning]:
    found = []
    for name, module in leaves:
        if not isinstance(module, _BATCHNORMS) or not module.affine or not module.training:
            continue
        if not module.track_running_stats:
            continue
        if not module.weight.requires_grad and not module.bias.requires_grad:
            found.append(
                LintWarning(
                    "frozen-batchnorm-train-mode",
                    "batch norm has frozen parameters but is in train mode: its running mean/variance keep "
                    "changing with every batch; call .eval() on it after model.train()",
                    name,
                )
            )
    return found


def lint(model: nn.Module) -> list[LintWarning]:
    """Every pitfall found in ``model``, in layer order per rule (an empty list for a clean model).

    Args:
        model: The network to inspect (its leaf modules in registration order; nothing is run).

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.Linear(8, 2))
        >>> [w.code for w in lint(model)]
        ['dropout-before-batchnorm', 'dropout-in-tiny-network']
    """
    leaves = _leaves(model)
    return _dropout_before_batchnorm(leaves) + _dropout_in_tiny_network(leaves) + _frozen_batchnorm_in_train_mode(
        leaves
    )
