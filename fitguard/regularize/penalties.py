"""cost = loss + λ·penalty: L2, L1 and elastic-net penalties on parameters chosen by name.

Conventions (the gradients tests check against):

* ``L2(lam)``: ``lam * Σ w²``, gradient ``2 * lam * w``.
* ``L1(lam)``: ``lam * Σ |w|``, subgradient ``lam * sign(w)``; with ``proximal=True`` the term is not added to the
  loss, ``after_step`` soft-thresholds the weights by ``lam`` times the optimizer's own step instead (exact zeros;
  :mod:`fitguard.regularize.proximal`).

Frozen parameters (``requires_grad=False``) are skipped by every penalty: a frozen layer never changes.
* ``ElasticNet(lam, l1_ratio)``: ``lam * (l1_ratio * Σ |w| + (1 - l1_ratio) * Σ w²)``.

How the Trainer uses a penalty::

    params = penalty.select(model)              # once, at fit start
    if penalty.decoupled:                       # L2 only: the optimizer does the work
        group = penalty.param_group(params)     # {"params": [...], "weight_decay": 2 * lam}
    ...
    cost = loss + penalty.term(params)          # every step (0 when decoupled or proximal)
    cost.backward(); optimizer.step()
    penalty.after_step(params, optimizer)       # every step (proximal L1 soft-thresholds here)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from fitguard._validation import check_bool, check_number
from fitguard.regularize.proximal import proximal_step, soft_threshold_
from fitguard.regularize.selection import NamedParameters, check_layers, check_nonnegative, select_parameters

# The torch optimizers whose `weight_decay` means "add weight_decay * w to the step", the L2 gradient.
DECOUPLED_OPTIMIZERS = ("sgd", "adam", "adamw")


def squared_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``Σ w²`` over all tensors (a 0-d tensor).

    Args:
        tensors: A non-empty sequence of tensors of any shapes (on one device); their squares are summed.

    Example:
        >>> squared_norm([torch.tensor([1.0, -2.0]), torch.tensor([[3.0]])]).item()
        14.0
    """
    return torch.stack([t.square().sum() for t in tensors]).sum()


def absolute_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``Σ |w|`` over all tensors (a 0-d tensor).

    Args:
        tensors: A non-empty sequence of tensors of any shapes (on one device); their absolute values are summed.

    Example:
        >>> absolute_norm([torch.tensor([1.0, -2.0]), torch.tensor([[3.0]])]).item()
        6.0
    """
    return torch.stack([t.abs().sum() for t in tensors]).sum()


def member_sums(params: NamedParameters, members: int,
                function: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``Σ function(w)`` per member over grouped parameters (each holding ``members`` blocks along dim 0, as
    :class:`~fitguard.models.grouped.GroupedNet` stores them): a (members,) tensor. Frozen parameters are left out.

    Args:
        params: ``(name, parameter)`` pairs of a grouped network.
        members: the number of members.
        function: elementwise, e.g. ``torch.square``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))   # two members' 1x2 weights
        >>> member_sums([("w", w)], 2, torch.square).tolist()
        [5.0, 25.0]
        >>> member_sums([("w", w.detach())], 2, torch.square).tolist()  # frozen: no penalty
        [0.0, 0.0]
    """
    active = [p for _, p in params if p.requires_grad]
    if not active:
        return params[0][1].new_zeros(members) if params else torch.zeros(members)
    return torch.stack([function(p.view(members, -1)).sum(1) for p in active]).sum(0)


def _zero(params: NamedParameters) -> torch.Tensor:
    if params:
        return params[0][1].new_zeros(())
    return torch.zeros(())


class Penalty:
    """Base class: parameter selection, config and the Trainer hooks. Subclasses define ``value``.

    Args:
        lam: Strength λ multiplying the penalty, a finite number >= 0 (0 turns it off).
        layers: An fnmatch glob or a non-empty list of globs over ``model.named_parameters()`` names (e.g.
            ``"classifier.*"``, biases included when matched); None (default): every ``*weight`` with two or more
            dimensions (weight matrices, kernels, embeddings), never biases or norm scales. A glob that matches
            nothing raises ``ValueError`` at :meth:`select`.
        decoupled: Apply the penalty as optimizer weight decay instead of a loss term; only :class:`L2`
            supports it. Default False.
    """

    name = "penalty"

    def __init__(self, lam: float, layers: str | Sequence[str] | None = None, decoupled: bool = False) -> None:
        check_nonnegative("lam", lam)
        check_bool("decoupled", decoupled)
        self.lam = lam
        self.layers = layers
        self.decoupled = decoupled
        self._globs = check_layers(layers)

    def select(self, model: torch.nn.Module) -> NamedParameters:
        """The ``(name, parameter)`` pairs this penalty acts on.

        Args:
            model: the network whose parameters ``layers`` selects.

        Raises:
            ValueError: when a glob of ``layers`` matches no parameter.
        """
        return select_parameters(model, self._globs)

    def value(self, params: NamedParameters) -> torch.Tensor:
        """The unweighted penalty (without ``lam``), e.g. ``Σ w²`` for L2; each subclass defines it.

        Args:
            params: the ``(name, parameter)`` pairs to measure.
        """
        raise NotImplementedError

    def member_values(self, params: NamedParameters, members: int) -> torch.Tensor:
        """The unweighted penalty of each member of a grouped network, a (members,) tensor: what :meth:`value`
        gives each member's trainable parameters alone (frozen ones are left out, as :meth:`term` leaves them).
        Each built-in penalty defines it; a subclass that does not cannot weigh grouped members apart
        (``NotImplementedError``).

        Args:
            params: what :meth:`select` returned on a :class:`~fitguard.models.grouped.GroupedNet`.
            members: its number of members.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define member_values, so grouped members "
                                  "cannot each take their own strength")

    def term(self, params: NamedParameters) -> torch.Tensor:
        """``lam * value`` over the trainable parameters: what the Trainer adds to the loss (0 when ``decoupled``).

        Args:
            params: what :meth:`select` returned; frozen ones (``requires_grad=False``) are left out.
        """
        if self.decoupled:
            return _zero(params)
        active = [(name, p) for name, p in params if p.requires_grad]  # frozen weights: a constant, left out
        if not active:
            return _zero(params)
        return self.lam * self.value(active)

    def after_step(self, params: NamedParameters, optimizer: torch.optim.Optimizer) -> None:
        """Called after each ``optimizer.step()``; nothing to do by default.

        Args:
            params: what :meth:`select` returned.
            optimizer: the optimizer that just stepped.
        """
        del params, optimizer

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``type(penalty)(**config)`` builds an equal one."""
        return {"lam": self.lam, "layers": self.layers, "decoupled": self.decoupled}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class L2(Penalty):
    """``lam * Σ w²`` on the selected weights, in the loss or (``decoupled=True``) as optimizer weight decay.

    Decoupled, the Trainer puts the selected parameters in their own optimizer group with
    ``weight_decay = 2 * lam``: torch's SGD/Adam add ``weight_decay * w`` to the gradient, the same ``2 * lam * w``
    the loss term would give; AdamW subtracts ``lr * weight_decay * w`` from the weights, decoupled from Adam's
    scaling (Loshchilov & Hutter), which is the point of asking for it.

    Args:
        lam: Strength λ, a finite number >= 0: the loss gains ``lam * Σ w²``.
        layers: Globs over parameter names, or None (default) for every weight matrix and kernel (see
            :class:`Penalty`).
        decoupled: Put the selected parameters in their own optimizer group with ``weight_decay = 2 * lam``
            instead of adding the term to the loss. Default False.

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.tensor([[1.0, -2.0]]))
        >>> penalty = L2(0.1)
        >>> penalty.term(penalty.select(model)).item()
        0.5
    """

    name = "l2"

    def value(self, params: NamedParameters) -> torch.Tensor:
        return squared_norm([p for _, p in params])

    def member_values(self, params: NamedParameters, members: int) -> torch.Tensor:
        return member_sums(params, members, torch.square)

    def param_group_weight_decay(self, optimizer: str | None = None) -> float:
        """The optimizer ``weight_decay`` for this penalty's group: ``2 * lam`` (the gradient of ``lam·w²``).

        The same for 'sgd', 'adam' and 'adamw': all three take ``weight_decay`` as the factor of ``w`` (added to
        the gradient, or for AdamW subtracted times ``lr`` from the weight), so no learning rate enters here.

        Args:
            optimizer: the optimizer's name, checked only; None (default): not checked.

        Raises:
            ValueError: when ``optimizer`` is not 'sgd', 'adam' or 'adamw'.
        """
        if optimizer is not None and optimizer not in DECOUPLED_OPTIMIZERS:
            raise ValueError(
                f"`optimizer` must be one of {', '.join(map(repr, DECOUPLED_OPTIMIZERS))}, got {optimizer!r}"
            )
        return 2.0 * self.lam

    def param_group(self, params: NamedParameters) -> dict[str, Any]:
        """An optimizer parameter group for the selected parameters (``decoupled=True``).

        Args:
            params: what :meth:`select` returned.
        """
        return {"params": [p for _, p in params], "weight_decay": self.param_group_weight_decay()}


class L1(Penalty):
    """``lam * Σ |w|``; with ``proximal=True`` applied as soft-thresholding after each step (exact zeros).

    The proximal threshold is ``lam`` times the step the optimizer took, read from its parameter group and state
    (:func:`~fitguard.regularize.proximal.proximal_step`): ``lr`` for SGD, ``lr / (1 - momentum)`` for momentum SGD,
    ``lr / (sqrt(v̂) + eps)`` per coordinate for Adam and AdamW, each group's own ``lr`` (a transferred body at
    0.1× is shrunk at 0.1×). On a linear model trained full-batch to convergence this is the lasso with this
    ``lam`` under all four optimizers (scikit-learn's ``Lasso(alpha=lam / 2)`` for a mean-squared-error loss).

    What it means for a deep net: the L1 term never enters the momentum buffer or Adam's moments, so it does not
    distort them; wherever training settles, the weights satisfy the stationarity conditions of
    ``loss + lam * Σ|w|`` with the ``lam`` asked for — a weight can rest at exactly zero only where the mean
    gradient of the loss is at most ``lam`` in size — whichever optimizer is used. With mini-batches Adam's
    ``v̂`` also holds the gradient's variance, but its step and its threshold are divided by the same
    ``sqrt(v̂)``, so the balance is still the mean gradient against ``lam``. The network's loss is not convex,
    so which such point is reached still depends on the optimizer, the schedule and the seed. With Adam, a
    weight whose gradient stays near zero sees ``v̂`` decay and its threshold grow until it is zeroed: dead units
    are pruned, as the lasso would prune them. Along the way the thresholds are those of the fixed point: a
    momentum buffer still filling shrinks harder than its steps (up to ``1 / (1 - momentum)``) for its first few
    dozen steps, and mini-batch noise makes zeros flicker in and out until the learning rate decays. A ``lam``
    tuned for the former threshold ``lr * lam`` needs tuning again: momentum SGD now shrinks
    ``1 / (1 - momentum)`` times as hard, Adam ``1 / (sqrt(v̂) + eps)`` times (far harder where gradients are
    small).

    Args:
        lam: Strength λ, a finite number >= 0: the loss gains ``lam * Σ |w|`` (or, proximal, the threshold is
            ``lam`` times the optimizer's step).
        layers: Globs over parameter names, or None (default) for every weight matrix and kernel (see
            :class:`Penalty`).
        proximal: Soft-threshold after each optimizer step instead of adding the term to the loss, so weights
            reach exact zeros. Default False.
        decoupled: Must stay False: ``True`` raises ``ValueError`` (only L2 can be weight decay).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.tensor([[0.05, -2.0]]))
        >>> penalty = L1(1.0, proximal=True)
        >>> params = penalty.select(model)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> model.weight.grad = torch.zeros_like(model.weight)  # a step that leaves the weights where they are
        >>> optimizer.step()
        >>> penalty.after_step(params, optimizer)
        >>> model.weight.tolist()
        [[0.0, -1.899999976158142]]
    """

    name = "l1"

    def __init__(
        self,
        lam: float,
        layers: str | Sequence[str] | None = None,
        proximal: bool = False,
        decoupled: bool = False,
    ) -> None:
        super().__init__(lam, layers, decoupled)
        check_bool("proximal", proximal)
        if decoupled:
            raise ValueError(
                "`decoupled=True` is only supported by L2 (weight decay is the gradient of an L2 penalty); "
                "apply L1 in the loss or with `proximal=True`"
            )
        self.proximal = proximal

    def value(self, params: NamedParameters) -> torch.Tensor:
        return absolute_norm([p for _, p in params])

    def member_values(self, params: NamedParameters, members: int) -> torch.Tensor:
        return member_sums(params, members, torch.abs)

    def term(self, params: NamedParameters) -> torch.Tensor:
        if self.proximal:
            return _zero(params)
        return super().term(params)

    def after_step(self, params: NamedParameters, optimizer: torch.optim.Optimizer) -> None:
        """Soft-threshold the selected weights by ``lam`` times the step ``optimizer`` just took (``proximal``).

        Only parameters the optimizer stepped are touched: frozen ones, ones outside its groups and ones without
        a gradient this step stay exactly as they are.

        Args:
            params: what :meth:`select` returned.
            optimizer: the optimizer that just stepped; its groups and state give each parameter's step.

        Raises:
            ValueError: an optimizer other than SGD, Adam or AdamW, or one with ``maximize=True``.
        """
        if not self.proximal or self.lam == 0:
            return
        selected = {id(p) for _, p in params}
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                if id(parameter) in selected and parameter.requires_grad and parameter.grad is not None:
                    step = proximal_step(optimizer, group, parameter)
                    threshold = step.mul_(self.lam) if isinstance(step, torch.Tensor) else step * self.lam
                    soft_threshold_([parameter], threshold)

    def get_config(self) -> dict[str, Any]:
        return {"lam": self.lam, "layers": self.layers, "proximal": self.proximal, "decoupled": self.decoupled}


class ElasticNet(Penalty):
    """``lam * (l1_ratio * Σ |w| + (1 - l1_ratio) * Σ w²)``, in the loss.

    Args:
        lam: Strength λ, a finite number >= 0.
        l1_ratio: Share of the L1 part in [0, 1]: 1 is pure L1, 0 pure L2. Default 0.5.
        layers: Globs over parameter names, or None (default) for every weight matrix and kernel (see
            :class:`Penalty`).
        decoupled: Must stay False: ``True`` raises ``ValueError`` (only L2 can be weight decay).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> with torch.no_grad():
        ...     _ = model.weight.copy_(torch.tensor([[1.0, -2.0]]))
        >>> penalty = ElasticNet(0.1, l1_ratio=0.5)
        >>> round(penalty.term(penalty.select(model)).item(), 6)
        0.4
    """

    name = "elastic_net"

    def __init__(
        self,
        lam: float,
        l1_ratio: float = 0.5,
        layers: str | Sequence[str] | None = None,
        decoupled: bool = False,
    ) -> None:
        super().__init__(lam, layers, decoupled)
        check_number("l1_ratio", l1_ratio, low=0, high=1)
        if decoupled:
            raise ValueError(
                "`decoupled=True` is only supported by L2 (weight decay is the gradient of an L2 penalty); "
                "apply ElasticNet in the loss"
            )
        self.l1_ratio = l1_ratio

    def value(self, params: NamedParameters) -> torch.Tensor:
        tensors = [p for _, p in params]
        return self.l1_ratio * absolute_norm(tensors) + (1 - self.l1_ratio) * squared_norm(tensors)

    def member_values(self, params: NamedParameters, members: int) -> torch.Tensor:
        return self.l1_ratio * member_sums(params, members, torch.abs) + \
            (1 - self.l1_ratio) * member_sums(params, members, torch.square)

    def get_config(self) -> dict[str, Any]:
        return {"lam": self.lam, "l1_ratio": self.l1_ratio, "layers": self.layers, "decoupled": self.decoupled}
