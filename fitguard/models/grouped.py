"""k networks of one architecture as one block-diagonal network: one forward and backward per step instead of k.

Member ``m``'s features live in the ``m``-th block of the channel (or feature) axis: a batch of B rows per member
is stacked as ``(B, k*C, H, W)`` (images), ``(B, k*C, L)`` (signals) or ``(B, k*F)`` (tables). Each layer then
acts on the blocks apart:

- a convolution becomes one convolution with ``groups=k``, a linear layer one batched matrix product;
- batch norm over ``k*C`` channels normalizes every member's channels with that member's own batch statistics
  and keeps per-member running statistics (which ``torch.func.vmap`` cannot update);
- activations, dropout (elementwise, or whole channels), pooling and ``Flatten`` already act per channel or per
  element, so they are the members' own modules (``Flatten`` of ``(B, k*C, h, w)`` is member-major).

Every parameter and buffer holds the members' tensors concatenated along its first axis (``num_batches_tracked``
aside, one shared count), so member ``m``'s slice is block ``m`` of dim 0 and comes back out as an ordinary
module (:meth:`GroupedNet.member`) that gives the same outputs.

Steps in which the members' batches differ in size (folds a row apart) pad the shorter ones and pass a row mask:
batch norm then computes each member's statistics over its real rows only (:class:`GroupedBatchNorm`).

Supported: ``nn.Sequential`` networks of Linear, Conv1d/Conv2d (``groups=1``, zero padding), BatchNorm1d/2d (with
a momentum), the activations of :data:`fitguard.models.builders.ACTIVATIONS` and ``Cosine`` (Fourier features),
Dropout/Dropout1d/Dropout2d, max pooling, adaptive average pooling and ``Flatten()`` -- everything
:func:`~fitguard.models.builders.mlp`, :func:`~fitguard.models.builders.cnn` and
:func:`~fitguard.models.builders.cnn1d` build. Not supported (use the sequential path): embedded tables
(:class:`~fitguard.models.embedding.EmbeddedNet`), imported or user networks, pretrained backbones, residual blocks.

Example:
    >>> import torch
    >>> from fitguard.models.builders import mlp
    >>> members = [mlp(4, 3, hidden=[8], batchnorm=True) for _ in range(2)]
    >>> net = GroupedNet.from_members(members).eval()
    >>> x = torch.randn(5, 2, 4)                      # 5 rows for each of 2 members
    >>> out = net(x.flatten(1, 2)).view(5, 2, 3)
    >>> torch.allclose(out[:, 1], members[1].eval()(x[:, 1]), atol=1e-6)
    True
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from fitguard.models.builders import Cosine

#: layers that act per element or per channel: each member's block is untouched by the others
_PER_CHANNEL = (
    nn.ReLU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.LeakyReLU, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    Cosine,
)


def member_slice(tensor: torch.Tensor, members: int, index: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Member block(s) ``index`` of a grouped tensor (blocks along dim 0; a 0-d tensor is shared and returned as is).

    An int gives that member's tensor (a view, in the member's own shape); a list gives the chosen members'
    blocks concatenated again (a copy), which is how a grouped tensor shrinks to fewer members.

    Args:
        tensor: a grouped tensor, the members' blocks along dim 0.
        members: the number of members.
        index: one member, or a list (or tensor) of members.

    Example:
        >>> t = torch.arange(6.0)                      # 3 members of 2 values
        >>> member_slice(t, 3, 1), member_slice(t, 3, [0, 2])
        (tensor([2., 3.]), tensor([0., 1., 4., 5.]))
    """
    if tensor.ndim == 0:
        return tensor
    blocks = tensor.view(members, tensor.shape[0] // members, *tensor.shape[1:])
    if isinstance(index, int):
        return blocks[index]
    chosen = torch.as_tensor(index, dtype=torch.long, device=tensor.device)
    return blocks.index_select(0, chosen).flatten(0, 1)


class _GroupedLinearFunction(torch.autograd.Function):
    """k linear maps on member-major features, with a backward that writes each gradient in its tensor's own layout.

    Why not autograd's: through ``W.view(k, out, in).transpose(1, 2)`` it computes the weight gradient transposed
    and copies it back, and the input gradient through two transposes -- on CPU that made a 784x256 layer's step
    three times slower than the k layers apart; this one costs what they cost (``benchmarks/cv_speed.py``).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                members: int) -> torch.Tensor:
        rows, out_features, in_features = x.shape[0], weight.shape[0] // members, weight.shape[1]
        inputs = x.view(rows, members, in_features).transpose(0, 1)  # (k, rows, in)
        weights = weight.view(members, out_features, in_features).transpose(1, 2)
        if bias is None:
            out = torch.bmm(inputs, weights)
        else:
            out = torch.baddbmm(bias.view(members, 1, out_features), inputs, weights)
        ctx.save_for_backward(x, weight)
        ctx.members, ctx.has_bias = members, bias is not None
        return out.transpose(0, 1).reshape(rows, members * out_features)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        k = ctx.members
        rows, out_features, in_features = x.shape[0], weight.shape[0] // k, weight.shape[1]
        grads = grad.reshape(rows, k, out_features).transpose(0, 1)  # (k, rows, out)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(grads, weight.view(k, out_features, in_features))
            grad_x = grad_x.transpose(0, 1).reshape(rows, k * in_features)
        if ctx.needs_input_grad[1]:
            inputs = x.view(rows, k, in_features).transpose(0, 1)
            grad_weight = torch.bmm(grads.transpose(1, 2), inputs).view(k * out_features, in_features)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grads.sum(1).reshape(k * out_features)
        return grad_x, grad_weight, grad_bias, None


class GroupedLinear(nn.Module):
    """``members`` independent linear layers on member-major features: (B, members*in) -> (B, members*out).

    ``weight`` is (members*out, in) -- the members' weights one after the other -- and ``bias`` (members*out).

    Args:
        members: the number of linear layers.
        in_features: each member's inputs.
        out_features: each member's outputs.
        bias: give each member a bias (default True).
    """

    def __init__(self, members: int, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members * out_features, in_features))
        self.bias = nn.Parameter(torch.empty(members * out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Each member's linear map of its own block of features: (B, members*out_features).

        Args:
            x: member-major features (B, members*in_features).

        Raises:
            ValueError: another shape.
        """
        if x.ndim != 2 or x.shape[1] != self.members * self.in_features:
            raise ValueError(f"GroupedLinear takes (rows, {self.members}*{self.in_features}) inputs, "
                             f"got shape {tuple(x.shape)}")
        return _GroupedLinearFunction.apply(x, self.weight, self.bias, self.members)

    def extra_repr(self) -> str:
        """The sizes and whether there is a bias, for the module's ``repr``."""
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class GroupedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over ``members*C`` channels; with a ``row_mask`` (B, members) each member's statistics (and
    running statistics) come from its own unmasked rows only, so padded rows change nothing.

    Without a mask it is torch's own batch norm (the fast path): channels are normalized apart, so member
    blocks already are.

    Args:
        members: the number of members.
        channels: each member's channels.
        eps: as torch's batch norm.
        momentum: as torch's batch norm.
        affine: as torch's batch norm.
        track_running_stats: as torch's batch norm.
    """

    def __init__(self, members: int, channels: int, eps: float, momentum: float, affine: bool,
                 track_running_stats: bool) -> None:
        super().__init__(members * channels, eps, momentum, affine, track_running_stats)
        self.members, self.channels = members, channels
        self.row_mask: torch.Tensor | None = None

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected 2-D or higher input (rows, channels, ...), got {input.ndim}-D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Batch norm of ``input``; in training with a ``row_mask``, each member's statistics from its own rows.

        Args:
            input: (B, members*channels, ...).
        """
        if self.row_mask is None or not self.training:
            return super().forward(input)
        return self._masked(input, self.row_mask)

    def _masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        rows, k, c = x.shape[0], self.members, self.channels
        blocks = x.reshape(rows, k, c, -1)  # (B, k, C, positions)
        weight = mask.to(x.dtype).view(rows, k, 1, 1)
        count = mask.sum(0).to(x.dtype) * blocks.shape[-1]  # values per channel, per member
        safe = count.clamp(min=1).view(k, 1)  # a member absent from this step: its output is masked anyway
        mean = (blocks * weight).sum((0, 3)) / safe
        centered = blocks - mean.view(1, k, c, 1)
        var = (centered.square() * weight).sum((0, 3)) / safe  # biased, as torch normalizes with
        out = centered * torch.rsqrt(var + self.eps).view(1, k, c, 1)
        if self.affine:
            out = out * self.weight.view(1, k, c, 1) + self.bias.view(1, k, c, 1)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                present = (count > 1).view(k, 1)
                unbiased = var * (count / (count - 1).clamp(min=1)).view(k, 1)
                momentum = self.momentum
                running_mean = self.running_mean.view(k, c)
                running_var = self.running_var.view(k, c)
                running_mean.copy_(torch.where(present, running_mean.lerp(mean, momentum), running_mean))
                running_var.copy_(torch.where(present, running_var.lerp(unbiased, momentum), running_var))
                self.num_batches_tracked.add_(1)
        return out.view_as(x)


def _check_same(members: Sequence[nn.Module]) -> None:
    first = members[0]
    shapes = {name: tuple(t.shape) for name, t in first.state_dict().items()}
    for index, member in enumerate(members[1:], start=1):
        other = {name: tuple(t.shape) for name, t in member.state_dict().items()}
        types = [type(m) for m in member.children()] == [type(m) for m in first.children()]
        if other != shapes or not types:
            raise ValueError(f"`members[{index}]` is not the same architecture as `members[0]`; "
                             "grouping needs k copies of one network")


def _grouped_layer(name: str, layers: list[nn.Module]) -> nn.Module:
    """One grouped layer made of the members' layer ``name``, their weights copied in."""
    k, layer = len(layers), layers[0]
    cat = lambda attribute: torch.cat([getattr(m, attribute).detach() for m in layers])  # noqa: E731
    if isinstance(layer, nn.Linear):
        grouped: nn.Module = GroupedLinear(k, layer.in_features, layer.out_features, layer.bias is not None)
    elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        if layer.groups != 1 or layer.padding_mode != "zeros":
            raise ValueError(f"layer {name!r}: only convolutions with groups=1 and zero padding can be grouped, "
                             f"got groups={layer.groups}, padding_mode={layer.padding_mode!r}")
        grouped = type(layer)(k * layer.in_channels, k * layer.out_channels, layer.kernel_size, layer.stride,
                              layer.padding, layer.dilation, groups=k, bias=layer.bias is not None)
    elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if layer.momentum is None:
            raise ValueError(f"layer {name!r}: batch norm with momentum=None (a cumulative average) cannot be "
                             "grouped; use a momentum such as 0.1")
        grouped = GroupedBatchNorm(k, layer.num_features, layer.eps, layer.momentum, layer.affine,
                                   layer.track_running_stats)
    elif isinstance(layer, nn.Flatten):
        if layer.start_dim != 1 or layer.end_dim != -1:
            raise ValueError(f"layer {name!r}: only Flatten() over every axis after the rows can be grouped, "
                             f"got start_dim={layer.start_dim}, end_dim={layer.end_dim}")
        return copy.deepcopy(layer)
    elif type(layer) in _PER_CHANNEL:
        return copy.deepcopy(layer)
    else:
        raise ValueError(f"layer {name!r} ({type(layer).__name__}) cannot be grouped; supported: Linear, Conv1d, "
                         "Conv2d, BatchNorm1d, BatchNorm2d, Flatten, activations, dropout and pooling")
    with torch.no_grad():
        for attribute, value in grouped.state_dict().items():
            if attribute == "num_batches_tracked":
                value.copy_(getattr(layer, attribute))
            else:
                value.copy_(cat(attribute).view_as(value))
    return grouped


def groupable(model: nn.Module) -> bool:
    """Whether :meth:`GroupedNet.from_members` can group copies of ``model``.

    Args:
        model: the network.

    Example:
        >>> from fitguard.models.builders import cnn
        >>> groupable(cnn(1, 10, widths=[4])), groupable(nn.LSTM(3, 4))
        (True, False)
    """
    if type(model) is not nn.Sequential:
        return False
    try:
        for name, layer in model.named_children():
            _grouped_layer(name, [layer])
    except ValueError:
        return False
    return True


class GroupedNet(nn.Module):
    """k members of one ``nn.Sequential`` architecture as one network; layer names are the members' own, so
    name patterns (penalties ``"*.weight"``) select the same layers.

    ``forward(x, row_mask=None)``: ``x`` is (B, k*C, ...) -- the members' batches stacked on axis 1 and merged
    with the next axis (``torch.stack(batches, 1).flatten(1, 2)``); the output is (B, k*out), member-major.
    ``row_mask`` (B, k) bool marks each member's real rows when the members' batches were padded to one size.

    Args:
        layers: the grouped layers by the members' layer names.
        members: the number of members k.
        template: one member's architecture, kept (on the meta device) to rebuild members.
    """

    def __init__(self, layers: OrderedDict[str, nn.Module], members: int, template: nn.Module) -> None:
        super().__init__()
        self.members = members
        self.layers = nn.Sequential(layers)
        self._norms = [m for m in self.layers if isinstance(m, GroupedBatchNorm)]
        self._template = [template.to("meta")]  # in a list: a pattern to copy, not a submodule

    @classmethod
    def from_members(cls, members: Sequence[nn.Module]) -> GroupedNet:
        """Group ``members`` (k >= 1 copies of one ``nn.Sequential`` architecture, each with its own weights).

        Args:
            members: the networks to group, each with its own weights.

        Raises:
            ValueError: no members, members of different architectures, or a layer that cannot be grouped
                (the message names it).
        """
        if not members:
            raise ValueError("`members` must hold at least one network, got none")
        if any(type(m) is not nn.Sequential for m in members):
            shown = next(type(m).__name__ for m in members if type(m) is not nn.Sequential)
            raise ValueError(f"only nn.Sequential networks can be grouped, got {shown}")
        _check_same(members)
        first = next(iter(members[0].state_dict().values()))
        floating = [t.dtype for t in members[0].state_dict().values() if t.is_floating_point()]
        layers = OrderedDict(
            (name, _grouped_layer(name, [dict(m.named_children())[name] for m in members]))
            for name, _ in members[0].named_children()
        )
        net = cls(layers, len(members), copy.deepcopy(members[0]))
        return net.to(first.device, floating[0] if floating else None).train(members[0].training)

    def forward(self, x: torch.Tensor, row_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The members' outputs side by side, (B, k*out), member-major.

        Args:
            x: (B, k*C, ...), the members' batches stacked on axis 1 and merged with the next axis.
            row_mask: (B, k) bool, each member's real rows when batches were padded; None (default): every row.
        """
        for norm in self._norms:
            norm.row_mask = row_mask
        return self.layers(x)

    def state_dict_of(self, index: int) -> dict[str, torch.Tensor]:
        """Member ``index``'s state dict (views into this network's tensors; clone to keep).

        Args:
            index: the member, from 0.
        """
        return {name: member_slice(value, self.members, index) for name, value in self.layers.state_dict().items()}

    def member(self, index: int) -> nn.Module:
        """Member ``index`` as an ordinary module (a copy of the architecture with its weights).

        Args:
            index: the member, from 0.

        Raises:
            ValueError: ``index`` is not a member.
        """
        if not 0 <= index < self.members:
            raise ValueError(f"`index` must be in [0, {self.members}), got {index!r}")
        model = copy.deepcopy(self._template[0]).to_empty(device=self._device())
        model.load_state_dict(self.state_dict_of(index))
        return model.train(self.training)

    def select(self, indices: Sequence[int]) -> GroupedNet:
        """A new grouped network of members ``indices`` (in that order), their weights and statistics copied.

        Args:
            indices: the members kept, in their new order.
        """
        return GroupedNet.from_members([self.member(i) for i in indices])

    def _device(self) -> torch.device:
        return next(iter(self.layers.state_dict().values())).device
