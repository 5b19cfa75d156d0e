"""Train R copies of one architecture together: one batched forward/backward per step instead of R.

Each member ``r`` has its own rows of the training set (``indices[r]``, e.g. a bootstrap sample), its own
initialization (the model factory called under ``torch.manual_seed(init_seeds[r])``, the global RNG restored
afterwards) and its own shuffling generator (``shuffle_seeds[r]``). The batched path stacks the members'
parameters (``torch.func.stack_module_state``) and runs ``vmap(functional_call)`` over them; the loss is the sum
of the members' mean losses, so each member's gradient is its own. Adam, AdamW and SGD act elementwise, so one
optimizer over the stacked tensors takes exactly the R separate steps.

The sequential path trains the same members one after another with the same seeds and batches; both return
an ``Ensemble`` and agree to float tolerance (``tests/diagnose/test_ensemble.py``). Dropout draws different masks
per member under vmap, so with dropout the two paths agree only in distribution. BatchNorm's running statistics
cannot be updated under vmap: use ``batched=False`` for such models.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from fitguard._validation import check_int
from fitguard.data.tensors import batch_bounds

LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("adam", "adamw", "sgd")


def build_member(model_factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Call ``model_factory`` with the global RNG seeded to ``seed``, leaving the caller's RNG state untouched.

    Args:
        model_factory: builds one member, with no arguments.
        seed: the seed its weights are drawn with.

    Raises:
        ValueError: ``model_factory`` did not return an ``nn.Module``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_factory()
    if not isinstance(model, nn.Module):
        raise ValueError(f"`model_factory` must return a torch.nn.Module, got {type(model).__name__}")
    return model


@dataclass
class Ensemble:
    """R trained members as stacked parameters over one stateless skeleton; ``predict`` runs them all at once.

    Args:
        skeleton: The members' architecture on the ``meta`` device (no weights of its own), called through
            ``torch.func.functional_call``.
        params: Parameter name -> the members' values stacked on a first axis of length R.
        buffers: Buffer name (e.g. batch-norm statistics) -> stacked values, likewise.
    """

    skeleton: nn.Module
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return int(next(iter(self.params.values())).shape[0])

    def _call(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.skeleton, (params, buffers), (x,))

    @torch.no_grad()
    def predict(self, X: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Outputs (R, n, out) of every member on the same inputs ``X`` (eval mode, no gradients).

        Args:
            X: the inputs (n, ...), on the members' device.
            batch_size: rows per vectorized forward pass (default 4096).
        """
        self.skeleton.eval()
        outputs = [
            torch.vmap(self._call, in_dims=(0, 0, None))(self.params, self.buffers, X[start : start + batch_size])
            for start in range(0, X.shape[0], batch_size)
        ]
        return torch.cat(outputs, dim=1)

    @torch.no_grad()
    def predict_each(self, X: torch.Tensor) -> torch.Tensor:
        """Outputs (R, n, out) of member r on its own inputs ``X[r]`` (eval mode, no gradients).

        Args:
            X: one input batch per member, (R, n, ...).

        Raises:
            ValueError: when ``X`` does not hold one batch per member.
        """
        if X.shape[0] != len(self):
            raise ValueError(f"`X` must hold one input batch per member ({len(self)}), got {X.shape[0]}")
        self.skeleton.eval()
        return torch.vmap(self._call)(self.params, self.buffers, X)

    def member(self, r: int, model: nn.Module) -> nn.Module:
        """Load member ``r``'s weights into ``model`` and return it.

        Args:
            r: the member's index, from 0.
            model: an instance of the members' architecture; its weights are overwritten.
        """
        state = {name: value[r] for name, value in {**self.params, **self.buffers}.items()}
        model.load_state_dict(state)
        return model


def _criterion(loss: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if loss == "cross_entropy":
        return nn.functional.cross_entropy(outputs, targets)
    if targets.ndim == outputs.ndim - 1:
        outputs = outputs.squeeze(-1)
    return nn.functional.mse_loss(outputs, targets)


def _optimizer(name: str, params: list[torch.Tensor], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def _validate(indices: torch.Tensor, init_seeds: Sequence[int], shuffle_seeds: Sequence[int],
              **options: object) -> None:
    if indices.ndim != 2 or indices.shape[0] < 1 or indices.shape[1] < 1:
        raise ValueError(f"`indices` must have shape (members, rows) with both >= 1, got {tuple(indices.shape)}")
    for name, seeds in (("init_seeds", init_seeds), ("shuffle_seeds", shuffle_seeds)):
        if len(seeds) != indices.shape[0]:
            raise ValueError(f"`{name}` must hold one seed per member ({indices.shape[0]}), got {len(seeds)}")
    if options["loss"] not in LOSSES:
        raise ValueError(f"`loss` must be one of {LOSSES}, got {options['loss']!r}")
    if options["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, got {options['optimizer']!r}")
    for name in ("epochs", "batch_size"):
        check_int(name, options[name], low=1)
    if not options["lr"] > 0:
        raise ValueError(f"`lr` must be > 0, got {options['lr']!r}")
    if options["weight_decay"] < 0:
        raise ValueError(f"`weight_decay` must be >= 0, got {options['weight_decay']!r}")


def train_ensemble(
    model_factory: Callable[[], nn.Module],
    X: torch.Tensor,
    y: torch.Tensor,
    indices: torch.Tensor,
    init_seeds: Sequence[int],
    shuffle_seeds: Sequence[int],
    *,
    loss: str = "cross_entropy",
    epochs: int = 50,
    lr: float = 1e-3,
    batch_size: int = 32,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    batched: bool = True,
) -> Ensemble:
    """Train one member per row of ``indices`` (members, rows) on ``X[indices[r]]``, batched or one by one.

    Args:
        model_factory: A zero-argument callable returning a fresh ``nn.Module``; every call builds the same
            architecture.
        X: All training inputs, (N, ...); members train on rows of it.
        y: Their targets: class indices for cross-entropy, values for mse.
        indices: Row indices (members, rows): member r trains on ``X[indices[r]]``.
        init_seeds: One initialization seed per member.
        shuffle_seeds: One batch-shuffling seed per member.
        loss: ``"cross_entropy"`` (default) or ``"mse"``.
        epochs: Epochs per member, >= 1. Default 50.
        lr: Learning rate, > 0. Default 1e-3.
        batch_size: Batch size, >= 1. Default 32.
        optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"`` (no momentum).
        weight_decay: The optimizer's weight decay, >= 0. Default 0.
        batched: Train all members at once as one grouped network (same results as one by one, faster);
            False trains them one after the other. Default True.

    Raises:
        ValueError: malformed ``indices``, seed lists of the wrong length, or an option out of range.

    Example:
        >>> X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
        >>> ens = train_ensemble(lambda: nn.Linear(3, 2), X, y, torch.randint(0, 40, (4, 40)), [0, 1, 2, 3],
        ...                      [0, 1, 2, 3], epochs=2)
        >>> tuple(ens.predict(X).shape)
        (4, 40, 2)
    """
    options = dict(loss=loss, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                   weight_decay=weight_decay)
    _validate(indices, init_seeds, shuffle_seeds, **options)
    members = [build_member(model_factory, seed).to(X.device) for seed in init_seeds]
    generators = [torch.Generator().manual_seed(int(seed)) for seed in shuffle_seeds]
    indices = indices.to(X.device)
    if batched:
        return _train_batched(members, X, y, indices, generators, **options)
    for r, member in enumerate(members):
        _train_one(member, X, y, indices[r], generators[r], **options)
    return _stack(members)


def _stack(members: list[nn.Module]) -> Ensemble:
    params, buffers = stack_module_state(members)
    skeleton = copy.deepcopy(members[0]).to("meta")
    return Ensemble(skeleton, {k: v.detach() for k, v in params.items()}, buffers)


def _train_one(model: nn.Module, X: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, generator: torch.Generator, *,
               loss: str, epochs: int, lr: float, batch_size: int, optimizer: str, weight_decay: float) -> None:
    step = _optimizer(optimizer, list(model.parameters()), lr, weight_decay)
    model.train()
    for _ in range(epochs):
        order = rows[torch.randperm(rows.shape[0], generator=generator).to(rows.device)]
        for start, stop in batch_bounds(order.shape[0], batch_size):  # no 1-row batch for batch norm
            batch = order[start:stop]
            step.zero_grad(set_to_none=True)
            _criterion(loss, model(X[batch]), y[batch]).backward()
            step.step()


def _train_batched(members: list[nn.Module], X: torch.Tensor, y: torch.Tensor, indices: torch.Tensor,
                   generators: list[torch.Generator], *, loss: str, epochs: int, lr: float, batch_size: int,
                   optimizer: str, weight_decay: float) -> Ensemble:
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in members[0].modules()):
        raise ValueError("batched training cannot update BatchNorm running statistics under vmap; pass `batched=False`")
    ensemble = _stack(members)
    params = {name: value.requires_grad_() for name, value in ensemble.params.items()}
    ensemble.params = params
    step = _optimizer(optimizer, list(params.values()), lr, weight_decay)

    def member_loss(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor,
                    yb: torch.Tensor) -> torch.Tensor:
        return _criterion(loss, functional_call(ensemble.skeleton, (p, b), (xb,)), yb)

    batched_loss = torch.vmap(member_loss, randomness="different")
    ensemble.skeleton.train()
    rows = indices.shape[1]
    for _ in range(epochs):
        perms = torch.stack([torch.randperm(rows, generator=g) for g in generators]).to(indices.device)
        order = indices.gather(1, perms)
        for start, stop in batch_bounds(rows, batch_size):
            batch = order[:, start:stop]
            step.zero_grad(set_to_none=True)
            batched_loss(params, ensemble.buffers, X[batch], y[batch]).sum().backward()
            step.step()
    ensemble.params = {name: value.detach() for name, value in params.items()}
    return ensemble
