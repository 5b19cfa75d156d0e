"""Train the k fold models of one candidate as one grouped network: ``fit_folds``.

On small data a cross-validated candidate is k short trainings of a small network, and each step is a few tiny
matrix products where Python and dispatch overhead dominate. Here the k members -- each with its own fold's rows,
initialization and shuffling -- train as one :class:`~fitguard.models.grouped.GroupedNet`: one forward, backward
and optimizer step per step for all of them. What each member does is what :class:`~fitguard.train.Trainer` does
for one fold (so with the same seeds the two give the same weights to float tolerance, without dropout):

- initial weights: ``model_factory()`` with the global RNG seeded to ``seeds[m]`` (as ``build_run`` does);
- row order: each epoch ``repeat`` permutations of the member's rows from a generator seeded ``seeds[m]``, cut by
  :func:`~fitguard.data.tensors.batch_bounds` (``TensorData.batches``); members whose folds differ in size have
  batches of different sizes or counts: the shorter ones are padded and masked (the loss and batch norm ignore the
  padding, and a member without rows in a step does not step: :class:`GroupedOptimizer`);
- loss: the sum of the members' mean losses, so each member's gradient is its own loss's;
- per-epoch logs: ``loss``/``accuracy`` over the epoch's training batches, ``val_loss``/``val_accuracy`` in eval mode
  (regression logs ``loss`` and ``val_loss`` only);
- early stopping: one :class:`~fitguard.train.callbacks.EarlyStopping` per member, judging the member's own logs;
  a member that stops keeps its (best, with ``restore_best``) weights and leaves the grouped network, which
  shrinks to the members still training (so finished members cost nothing).

When it pays (CPU, one thread, ``benchmarks/reference/cv_speed_cpu.json``): a 3-fold candidate trains 1.5-1.7x
faster than the Trainer fold after fold on digits 10% (MLP and small CNN: steps of a few small products, where
per-operation cost dominates), 1.25x for a 784-256-10 MLP on Fashion-MNIST, and 0.9x -- slower -- for the CNN on
28x28 images, whose steps are compute-bound and where oneDNN's grouped convolution (one input channel per member)
costs more than the members' convolutions apart. Batching saves per-operation overhead, never arithmetic.

Dropout draws its masks from the global RNG for all members at once, so with dropout the batched and sequential
trainings agree in distribution, not draw by draw. Not supported here (use the Trainer per fold): models
:func:`~fitguard.models.grouped.groupable` rejects, class weights, augmentation, weight noise, mixup, proximal or
decoupled penalties, gradient clipping, other losses than cross-entropy and MSE.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fitguard._validation import check_int
from fitguard.data.tensors import TensorData, batch_bounds
from fitguard.models.grouped import GroupedNet
from fitguard.train.callbacks.early_stopping import EarlyStopping
from fitguard.train.grouped_optimizer import GroupedOptimizer
from fitguard.train.history import History

LOSSES = ("cross_entropy", "mse")
#: rows per member in one evaluation forward (the Trainer evaluates in batches of at least 1024 rows too)
_EVAL_ROWS = 1024


@dataclass
class FoldResult:
    """One member's training: its History, its final weights and their scores in eval mode.

    Args:
        history: the member's History.
        state: its final weights (a member's ``state_dict``).
        train_scores: their eval-mode scores on its training rows (``loss``, ``accuracy``...).
        val_scores: their eval-mode scores on its validation rows (``val_loss``, ``val_accuracy``...).
    """

    history: History
    state: dict[str, torch.Tensor] = field(repr=False)
    train_scores: dict[str, float]
    val_scores: dict[str, float]


class _Member:
    """What an EarlyStopping sees of one member: its weights (``model.state_dict``) and a stop request."""

    def __init__(self) -> None:
        self.model = self
        self.current: Callable[[], dict[str, torch.Tensor]] = dict
        self.final: dict[str, torch.Tensor] | None = None
        self.stop_reason: str | None = None
        self.restored_epoch: int | None = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.current()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.final = {name: value.clone() for name, value in state.items()}

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason


def _build(model_factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_factory()


def _stacked(parts: Sequence[TensorData], orders: Sequence[torch.Tensor], rows: int) -> tuple[torch.Tensor, ...]:
    """Each part's rows ``orders[m]`` padded to ``rows`` (with its first row, masked out), stacked on axis 1:
    X (rows, k, ...), y (rows, k, ...), mask (rows, k)."""
    xs, ys, masks = [], [], []
    for part, order in zip(parts, orders):
        pad = rows - order.shape[0]
        index = torch.cat([order, order.new_zeros(pad)]) if pad else order
        xs.append(part.X[index])
        ys.append(part.y[index])
        masks.append(torch.arange(rows, device=order.device) < order.shape[0])
    return torch.stack(xs, 1), torch.stack(ys, 1), torch.stack(masks, 1)


class _Objective:
    """Per-member losses and metric sums of a grouped output (B, k*out) against targets (B, k, ...)."""

    def __init__(self, loss: str, label_smoothing: float) -> None:
        self.loss, self.label_smoothing = loss, label_smoothing

    def rows(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss per row and member (B, k)."""
        rows, k = y.shape[0], y.shape[1]
        if self.loss == "cross_entropy":  # (rows*k, classes): member-major outputs are one row per (row, member)
            return F.cross_entropy(output.view(rows * k, -1), y.reshape(rows * k), reduction="none",
                                   label_smoothing=self.label_smoothing).view(rows, k)
        out = output.view(rows, k, -1)
        target = y.view(rows, k, -1).to(out.dtype)
        return (out - target).square().mean(-1)

    def correct(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        if self.loss != "cross_entropy":
            return None
        return output.view(y.shape[0], y.shape[1], -1).argmax(-1) == y


def _scores(sums: torch.Tensor, correct: torch.Tensor | None, counts: Sequence[int],
            prefix: str) -> list[dict[str, float]]:
    values = sums.double().tolist()
    hits = correct.tolist() if correct is not None else None
    return [{f"{prefix}loss": values[m] / n, **({f"{prefix}accuracy": hits[m] / n} if hits is not None else {})}
            for m, n in enumerate(counts)]


@torch.no_grad()
def _evaluate(net: GroupedNet, objective: _Objective, stacked: tuple[torch.Tensor, ...], counts: Sequence[int],
              prefix: str) -> list[dict[str, float]]:
    """Loss (and accuracy) of every member on its own rows, in eval mode (batch norm on running statistics)."""
    X, y, mask = stacked
    was_training = net.training
    net.eval()
    sums = torch.zeros(X.shape[1], dtype=torch.float64, device=X.device)
    correct: torch.Tensor | None = None
    try:
        for start in range(0, X.shape[0], _EVAL_ROWS):
            part = slice(start, start + _EVAL_ROWS)
            output = net(X[part].flatten(1, 2))
            sums += (objective.rows(output, y[part]) * mask[part]).sum(0, dtype=torch.float64)
            hits = objective.correct(output, y[part])
            if hits is not None:
                hits = (hits & mask[part]).sum(0)
                correct = hits if correct is None else correct + hits
    finally:
        net.train(was_training)
    return _scores(sums, correct, counts, prefix)


def _check(folds: Sequence[tuple[TensorData, TensorData]], seeds: Sequence[int], loss: str, batch_size: int,
           max_epochs: int, repeat: int) -> None:
    if not folds:
        raise ValueError("`folds` must hold at least one (train, val) pair, got none")
    if len(seeds) != len(folds):
        raise ValueError(f"`seeds` must hold one seed per fold ({len(folds)}), got {len(seeds)}")
    if loss not in LOSSES:
        raise ValueError(f"`loss` must be one of {', '.join(LOSSES)}, got {loss!r}")
    for name, value in (("batch_size", batch_size), ("max_epochs", max_epochs), ("repeat", repeat)):
        check_int(name, value, low=1)
    for index, (train, val) in enumerate(folds):
        if len(train) < 2 or len(val) < 1:
            raise ValueError(f"`folds[{index}]` has {len(train)} training and {len(val)} validation rows; "
                             "need at least 2 and 1")


def _check_coupled(name: str, penalties: Sequence[Any]) -> None:
    for index, penalty in enumerate(penalties):
        if getattr(penalty, "decoupled", False) or getattr(penalty, "proximal", False):
            raise ValueError(f"`{name}[{index}]` is decoupled or proximal; batched folds take coupled "
                             "penalties only (train such folds with the Trainer)")


def _check_member_penalties(member_penalties: Sequence[Sequence[Any]] | None, k: int) -> list[list[Any]]:
    """Each member's penalties (empty lists without ``member_penalties``), checked to differ only in ``lam``."""
    from fitguard.regularize.penalties import Penalty

    if member_penalties is None:
        return [[] for _ in range(k)]
    if len(member_penalties) != k:
        raise ValueError(f"`member_penalties` must hold one list per fold ({k}), got {len(member_penalties)}")
    lists = [list(penalties) for penalties in member_penalties]
    shape = lambda p: (type(p), {key: v for key, v in p.get_config().items() if key != "lam"})  # noqa: E731
    for m, penalties in enumerate(lists):
        _check_coupled(f"member_penalties[{m}]", penalties)
        if [shape(p) for p in penalties] != [shape(p) for p in lists[0]]:
            raise ValueError(f"`member_penalties[{m}]` is not {lists[0]!r} but for `lam`, got {penalties!r}; "
                             "grouped members take the same penalties, each with its own strength")
        for penalty in penalties:
            if not isinstance(penalty, Penalty) or type(penalty).member_values is Penalty.member_values:
                raise ValueError(f"`member_penalties[{m}]` holds {penalty!r}, which cannot weigh grouped members "
                                 "apart (it defines no member_values)")
    return lists


def fit_folds(
    model_factory: Callable[[], nn.Module],
    folds: Sequence[tuple[TensorData, TensorData]],
    *,
    seeds: Sequence[int],
    loss: str = "cross_entropy",
    optimizer: str = "adam",
    lr: float = 1e-3,
    batch_size: int = 32,
    max_epochs: int = 100,
    repeat: int = 1,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    label_smoothing: float = 0.0,
    penalties: Sequence[Any] = (),
    member_penalties: Sequence[Sequence[Any]] | None = None,
    early_stopping: Callable[[], EarlyStopping] | None = None,
    deadline: Callable[[], float] | None = None,
    deadline_reason: str = "stopped at the deadline",
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int, int], None] | None = None,
) -> list[FoldResult]:
    """Train one member per ``(train, val)`` fold as one grouped network; return each member's result in order.

    Args:
        model_factory: builds one member (an ``nn.Sequential`` that :func:`~fitguard.models.grouped.groupable`
            accepts), called once per member under its seed.
        folds: ``(train, val)`` pairs, each with its own rows (sizes may differ).
        seeds: one per member: its initial weights and its shuffling (the Trainer's ``seed``). The dropout stream
            is seeded with ``seeds[0]`` (the caller's global RNG is left as it was).
        loss: "cross_entropy" (default) or "mse".
        optimizer: as the Trainer's (default "adam").
        lr: as the Trainer's (default 1e-3).
        batch_size: as the Trainer's (default 32).
        max_epochs: as the Trainer's (default 100).
        repeat: as the Trainer's (default 1).
        weight_decay: as the Trainer's (default 0).
        momentum: as the Trainer's (default 0.9).
        label_smoothing: cross-entropy's, of the training loss only, as the Trainer's (default 0).
        penalties: coupled penalties (``L1``/``L2``/``ElasticNet`` added to the loss); a penalty's term is a sum over
            its weights, so over the grouped weights it is the sum of the members' terms. Default none.
        member_penalties: one list of coupled penalties per member, on top of ``penalties``: the same kinds on the
            same layers for every member (position by position), each member's with its own ``lam``, which only
            that member's cost takes (:meth:`~fitguard.regularize.Penalty.member_values`). This is how sibling
            candidates -- an L2 grid -- train as one grouped network: repeat the folds once per candidate, with the
            candidate's penalties on each of its members. None (default): none.
        early_stopping: builds one stopper per member (e.g. ``lambda: EarlyStopping(patience=10,
            restore_best=True)``); None trains every member ``max_epochs`` epochs.
        deadline: a function returning a ``time.perf_counter()`` time; after the epoch in which it passed, every
            member stops (each keeps its best weights with ``restore_best``). Default none.
        deadline_reason: a member stopped by the deadline stops with ``"{deadline_reason} after epoch N"`` (default
            "stopped at the deadline").
        device: where the grouped network trains (default "cpu").
        on_epoch: called with ``(epoch, max_epochs)`` after each epoch of the members still training (a progress
            display); None (default): nothing.

    Returns:
        One :class:`FoldResult` per fold: its History (``stop_reason``, ``best_epoch`` and ``monitor`` set as the
        Trainer sets them), its final weights (a member's ``state_dict``) and their eval-mode ``train_scores`` and
        ``val_scores`` (``loss``/``val_loss``, ``accuracy``/``val_accuracy`` for classes).

    Raises:
        ValueError: no folds, one seed per fold missing, an unknown loss, a bad count, a fold without rows, a
            penalty that is not coupled, members' penalties that are not the same kinds on the same layers, or a
            model that cannot be grouped (the message names the layer).

    Example:
        >>> from fitguard.models.builders import mlp
        >>> data = [TensorData(torch.randn(20, 4), torch.arange(20) % 2) for _ in range(4)]
        >>> results = fit_folds(lambda: mlp(4, 2, hidden=[8], batchnorm=True), [(data[0], data[1]), (data[2], data[3])],
        ...                     seeds=[0, 0], max_epochs=3, batch_size=8)
        >>> [len(r.history) for r in results], sorted(results[0].val_scores)
        ([3, 3], ['val_accuracy', 'val_loss'])
    """
    _check(folds, seeds, loss, batch_size, max_epochs, repeat)
    _check_coupled("penalties", penalties)
    per_member = _check_member_penalties(member_penalties, len(folds))
    device = torch.device(device)
    k = len(folds)
    trains = [train.to(device) for train, _ in folds]
    vals = [val.to(device) for _, val in folds]
    net = GroupedNet.from_members([_build(model_factory, seed) for seed in seeds]).to(device).train()
    objective = _Objective(loss, label_smoothing)
    scoring = _Objective(loss, 0.0)  # validation and the final scores: the loss without smoothing, as the Trainer's
    step = GroupedOptimizer([p for p in net.parameters() if p.requires_grad], k, optimizer, lr=lr,
                            weight_decay=weight_decay, momentum=momentum)
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    histories = [History() for _ in range(k)]
    stoppers = [early_stopping() for _ in range(k)] if early_stopping is not None else [None] * k
    watchers = [_Member() for _ in range(k)]
    active = list(range(k))  # the folds still training, in the grouped network's order
    val_stack: tuple[torch.Tensor, ...] | None = None

    def state_of(position: int) -> Callable[[], dict[str, torch.Tensor]]:
        return lambda: net.state_dict_of(position)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(seeds[0]))
        for epoch in range(1, max_epochs + 1):
            started = time.perf_counter()
            logs = _train_epoch(net, step, objective, [trains[f] for f in active], [generators[f] for f in active],
                                batch_size, repeat, penalties, [per_member[f] for f in active])
            if val_stack is None:  # laid out again only when members leave
                val_stack = _stacked([vals[f] for f in active],
                                     [torch.arange(len(vals[f]), device=device) for f in active],
                                     max(len(vals[f]) for f in active))
            val_logs = _evaluate(net, scoring, val_stack, [len(vals[f]) for f in active], "val_")
            seconds = time.perf_counter() - started
            finished: list[int] = []
            for position, fold in enumerate(active):
                record = {"epoch": float(epoch), **logs[position], **val_logs[position], "lr": float(lr),
                          "time": seconds}
                histories[fold].append(record)
                watcher = watchers[fold]
                watcher.current = state_of(position)
                if not math.isfinite(record["loss"]):
                    watcher.request_stop(f"diverged: training loss is {record['loss']} at epoch {epoch}")
                elif stoppers[fold] is not None:
                    stoppers[fold].on_epoch_end(watcher, epoch, record)  # type: ignore[arg-type]
                if watcher.stop_reason is None and deadline is not None and time.perf_counter() >= deadline():
                    watcher.request_stop(f"{deadline_reason} after epoch {epoch}")
                if watcher.stop_reason is not None or epoch == max_epochs:
                    _finish(watcher, stoppers[fold])
                    finished.append(position)
            if on_epoch is not None:
                on_epoch(epoch, max_epochs)
            if finished:
                remaining = [p for p in range(len(active)) if p not in finished]
                if not remaining:
                    break
                net = net.select(remaining).train()
                step = step.select(remaining, [p for p in net.parameters() if p.requires_grad])
                active = [active[p] for p in remaining]
                val_stack = None
    return _results(model_factory, seeds, trains, vals, scoring, histories, watchers, stoppers, max_epochs, device)


def _finish(watcher: _Member, stopper: EarlyStopping | None) -> None:
    """A member's final weights: the best epoch's when its stopper restores them, else the current ones."""
    if stopper is not None:
        stopper.on_fit_end(watcher)  # type: ignore[arg-type]
    if watcher.final is None:
        watcher.load_state_dict(watcher.current())


def _train_epoch(net: GroupedNet, step: GroupedOptimizer, objective: _Objective, parts: list[TensorData],
                 generators: list[torch.Generator], batch_size: int, repeat: int, penalties: Sequence[Any],
                 member_penalties: list[list[Any]]) -> list[dict[str, float]]:
    """One epoch of every member on its own rows; the members' logs (loss, accuracy over the training batches).
    ``member_penalties``: each member's own penalties (one list per member in ``parts``' order)."""
    device = parts[0].X.device
    orders = [torch.cat([torch.randperm(len(part), generator=g) for _ in range(repeat)]).to(device)
              for part, g in zip(parts, generators)]
    bounds = [batch_bounds(order.shape[0], batch_size) for order in orders]
    # one slot layout for all members: step s is as wide as the largest member's batch s, the others padded
    steps = max(len(b) for b in bounds)
    sizes = [[stop - start for start, stop in b] + [0] * (steps - len(b)) for b in bounds]
    widths = [max(column) for column in zip(*sizes)]
    X, y, _ = _stacked(parts, [_padded(order, b, widths) for order, b in zip(orders, bounds)], sum(widths))
    mask = torch.stack([_real_slots(member_sizes, widths, device) for member_sizes in sizes], 1)
    selected = [(p, p.select(net)) for p in penalties]
    k = len(parts)
    # position by position: the penalty (every member's is the same but for lam), its grouped weights, the lams
    split = [(same[0], same[0].select(net), torch.tensor([p.lam for p in same], device=device))
             for same in zip(*member_penalties)]
    # metrics without per-step work: the steps' losses and outputs are kept and reduced once, at the epoch's end
    losses_kept: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []
    start = 0
    for s, width in enumerate(widths):
        rows = slice(start, start + width)
        start += width
        uneven = any(sizes[m][s] != width for m in range(len(parts)))
        row_mask = mask[rows] if uneven else None
        output = net(X[rows].flatten(1, 2), row_mask)
        per_row = objective.rows(output, y[rows])
        if uneven:
            counts = row_mask.sum(0)
            losses = (per_row * row_mask).sum(0) / counts.clamp(min=1)
        else:
            losses = per_row.mean(0)
        cost = losses.sum()
        if selected:
            cost = cost + sum(p.term(params) for p, params in selected)
        for penalty, params, lams in split:
            cost = cost + (lams * penalty.member_values(params, k)).sum()
        step.zero_grad()
        cost.backward()
        step.step([sizes[m][s] > 0 for m in range(len(parts))] if uneven else None)
        losses_kept.append(losses.detach())
        outputs.append(output.detach())
    real = torch.tensor(sizes, dtype=torch.float64, device=device).T  # (steps, members): rows each step had
    loss_sum = (torch.stack(losses_kept).double() * real).sum(0)
    hits = objective.correct(torch.cat(outputs), y)
    correct = (hits & mask).sum(0) if hits is not None else None
    return _scores(loss_sum, correct, [order.shape[0] for order in orders], "")


def _padded(order: torch.Tensor, bounds: list[tuple[int, int]], widths: list[int]) -> torch.Tensor:
    """A member's row order laid out in the steps' slots: its batch s, then padding (row 0) up to ``widths[s]``."""
    pieces = []
    for s, width in enumerate(widths):
        start, stop = bounds[s] if s < len(bounds) else (0, 0)
        pieces.append(order[start:stop])
        if width > stop - start:
            pieces.append(order.new_zeros(width - (stop - start)))
    return torch.cat(pieces)


def _real_slots(member_sizes: list[int], widths: list[int], device: torch.device) -> torch.Tensor:
    return torch.cat([torch.arange(width, device=device) < size for size, width in zip(member_sizes, widths)])


def _results(model_factory: Callable[[], nn.Module], seeds: Sequence[int], trains: list[TensorData],
             vals: list[TensorData], objective: _Objective, histories: list[History], watchers: list[_Member],
             stoppers: list[EarlyStopping | None], max_epochs: int, device: torch.device) -> list[FoldResult]:
    """Each member's final weights scored in eval mode on its training and validation rows (one grouped pass)."""
    members = []
    for seed, watcher in zip(seeds, watchers):
        member = _build(model_factory, seed).to(device)
        member.load_state_dict(watcher.final)  # type: ignore[arg-type]
        members.append(member)
    net = GroupedNet.from_members(members)
    everything = lambda parts: _stacked(parts, [torch.arange(len(p), device=device) for p in parts],  # noqa: E731
                                        max(len(p) for p in parts))
    train_scores = _evaluate(net, objective, everything(trains), [len(p) for p in trains], "")
    val_scores = _evaluate(net, objective, everything(vals), [len(p) for p in vals], "val_")
    results = []
    for fold, (history, watcher, stopper) in enumerate(zip(histories, watchers, stoppers)):
        history.stop_reason = watcher.stop_reason or f"reached max_epochs={max_epochs}"
        history.best_epoch = watcher.restored_epoch or history.best_epoch
        history.monitor = stopper.monitor if stopper is not None else None
        final = watcher.final  # set by _finish for every member
        results.append(FoldResult(history, final, train_scores[fold], val_scores[fold]))  # type: ignore[arg-type]
    return results
