"""Parameters and connections, per layer and in total, for any ``nn.Module``.

A *connection* is a weight joining two units, counted once per use: a linear layer has ``in * out`` per sample
(times the positions it is applied at, for inputs with extra dimensions), a convolution
``output positions * out_channels * in_channels / groups * kernel volume`` — the multiply-accumulates per sample.
Normalization, activation, pooling and dropout connect no units and count zero.

The source article's arithmetic, done in full: 2 inputs -> 5 -> 5 -> 1 has 2*5 + 5*5 + 5*1 = 40 connections
(51 parameters with biases); one more neuron per hidden layer, 2*6 + 6*6 + 6*1 = 54; one more hidden layer of 5,
2*5 + 5*5 + 5*5 + 5*1 = 65. (The article's "5*5*5 = 125" counts paths from one unit through three layers,
not connections: depth multiplies paths while adding connections.)
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass(frozen=True)
class LayerCount:
    """One module that holds parameters or connects units: its output shape (one sample) and counts.

    Args:
        name: The module's name in ``model.named_modules()`` (its class name for the root module).
        kind: The module's class name, e.g. ``"Linear"``.
        output_shape: Its output's shape for one sample (no batch dimension); ``()`` for a non-tensor output.
        parameters: Entries of the module's own parameters (not its children's).
        connections: Weights one sample's forward pass uses (input-output unit pairs, summed over positions
            and calls); 0 for modules that connect no units (norms, embeddings).
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int
    connections: int


@dataclass(frozen=True)
class CountReport:
    """Per-layer counts in forward order and the totals (shared parameters counted once).

    Args:
        input_shape: The one-sample shape the model was run on.
        layers: One :class:`LayerCount` per counted module, in the order they first ran.
        parameters: All parameter entries of the model, each shared tensor once.
        trainable_parameters: Those with ``requires_grad``.
        connections: The layers' connections summed.
    """

    input_shape: tuple[int, ...]
    layers: list[LayerCount]
    parameters: int
    trainable_parameters: int
    connections: int

    def to_table(self) -> Table:
        """A rich table: one row per layer (type, output shape, parameters, connections) and a total row."""
        table = Table(title=f"input {self.input_shape}")
        for header in ("layer", "type", "output", "parameters", "connections"):
            table.add_column(header, justify="left" if header in ("layer", "type", "output") else "right")
        for layer in self.layers:
            table.add_row(
                layer.name, layer.kind, str(layer.output_shape), f"{layer.parameters:,}", f"{layer.connections:,}"
            )
        table.add_section()
        table.add_row("total", "", "", f"{self.parameters:,}", f"{self.connections:,}")
        return table

    def __str__(self) -> str:
        buffer = io.StringIO()
        Console(file=buffer, width=100, color_system=None, force_terminal=False).print(self.to_table())
        return buffer.getvalue().rstrip("\n")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once).

    Args:
        model: Any module.
        trainable_only: Count only parameters with ``requires_grad`` (frozen layers left out). Default False.

    Example:
        >>> count_parameters(nn.Linear(2, 5))
        15
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_connections(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """Connections one sample uses in ``module`` (0 for modules that connect no units).

    Args:
        module: the layer.
        inputs: its input for a batch (the first row's size counts).
        output: its output for that batch.
    """
    if isinstance(module, nn.Linear):
        positions = inputs[0].numel() // module.in_features
        return positions * module.in_features * module.out_features
    if isinstance(module, nn.Bilinear):
        return module.in1_features * module.in2_features * module.out_features
    if isinstance(module, _CONVOLUTIONS):
        positions = math.prod(output.shape[2:])
        kernel = math.prod(module.kernel_size)
        return positions * module.out_channels * (module.in_channels // module.groups) * kernel
    if isinstance(module, _TRANSPOSED):
        # each input position scatters into a kernel-sized window of every output channel in its group
        positions = math.prod(inputs.shape[2:])
        kernel = math.prod(module.kernel_size)
        return positions * module.in_channels * (module.out_channels // module.groups) * kernel
    return 0


def _check_input_shape(input_shape: object) -> tuple[int, ...]:
    if (
        isinstance(input_shape, (str, bytes))
        or not isinstance(input_shape, Sequence)
        or len(input_shape) == 0
        or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in input_shape)
    ):
        raise ValueError(
            f"`input_shape` must be one sample's shape as positive ints without the batch dimension, "
            f"e.g. (1, 28, 28), got {input_shape!r}"
        )
    return tuple(int(n) for n in input_shape)


@torch.no_grad()
def count(model: nn.Module, input_shape: Sequence[int], dtype: torch.dtype = torch.float32) -> CountReport:
    """Run one dummy sample through ``model`` and count parameters and connections per layer.

    The model runs in eval mode (batch norm cannot train on one sample) and is put back as it was.

    Args:
        model: The network; the dummy sample goes to the device of its first parameter (CPU without any).
        input_shape: One sample's shape without the batch dimension, positive ints, e.g. ``(1, 28, 28)``.
        dtype: The dummy sample's dtype. Default ``torch.float32``.

    Raises:
        ValueError: an ``input_shape`` that is not a non-empty sequence of positive ints.

    Example:
        >>> model = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 1))
        >>> report = count(model, (2,))
        >>> report.parameters, report.connections
        (51, 40)
    """
    shape = _check_input_shape(input_shape)
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    calls: dict[str, list[tuple[nn.Module, tuple[int, ...], int]]] = {}

    def record(name: str):  # noqa: ANN202 - a hook factory
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            inputs = args[0] if args and isinstance(args[0], torch.Tensor) else None
            out_shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else ()
            connections = 0
            if inputs is not None and isinstance(output, torch.Tensor):
                connections = layer_connections(module, inputs, output)
            calls.setdefault(name, []).append((module, out_shape, connections))

        return hook

    handles = []
    for name, module in model.named_modules():
        has_own = any(True for _ in module.parameters(recurse=False))
        if has_own or isinstance(module, (nn.Linear, nn.Bilinear, *_CONVOLUTIONS, *_TRANSPOSED)):
            handles.append(module.register_forward_hook(record(name or type(module).__name__)))
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        model(torch.zeros((1, *shape), dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training

    layers = []
    for name, module_calls in calls.items():
        module = module_calls[0][0]
        layers.append(
            LayerCount(
                name=name,
                kind=type(module).__name__,
                output_shape=module_calls[-1][1],
                parameters=sum(p.numel() for p in module.parameters(recurse=False)),
                connections=sum(connections for _, _, connections in module_calls),
            )
        )
    return CountReport(
        input_shape=shape,
        layers=layers,
        parameters=count_parameters(model),
        trainable_parameters=count_parameters(model, trainable_only=True),
        connections=sum(layer.connections for layer in layers),
    )


def summary(model: nn.Module, input_shape: Sequence[int]) -> str:
    """A printable table of per-layer parameters and connections (``count(...).to_table()`` for rich).

    Args:
        model: The network (run once on a float32 zero sample, see :func:`count`).
        input_shape: One sample's shape without the batch dimension.

    Example:
        >>> text = summary(nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 1)), (2,))
        >>> "total" in text and "Linear" in text
        True
    """
    return str(count(model, input_shape))
