"""The training loop: one place that runs epochs, applies remedies, logs, and hands control to callbacks.

The hot loop does only what was asked: penalties, weight noise and augmentation are resolved once at fit start,
metrics accumulate as device tensors (one sync per epoch), and a callback hook is called only on the callbacks
that override it.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, overload

import torch
from torch import nn
from torch.utils.data import DataLoader

from fitguard._validation import check_int, check_number
from fitguard.data.tensors import TensorData
from fitguard.errors import FitguardError
from fitguard.regularize.class_weights import check_class_weight, resolve_class_weight
from fitguard.train.callbacks.base import Callback
from fitguard.train.callbacks.checkpoint import latest_valid_checkpoint
from fitguard.train.callbacks.early_stopping import EarlyStopping
from fitguard.train.callbacks.progress import ProgressBar
from fitguard.train.history import History
from fitguard.train.objectives import MetricSums, check_weighted_loss, metric_names, resolve_loss

OPTIMIZERS = ("adam", "adamw", "sgd")
PRECISIONS = ("32", "bf16")
# the start of torch's error for a batch norm in training mode given one value per channel (a 1-row batch)
_ONE_ROW_BATCH_NORM = "Expected more than 1 value per channel when training"
_HOOKS = ("on_fit_start", "on_epoch_start", "on_batch_end", "on_epoch_end", "on_fit_end", "on_resume")


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' is CUDA when available, else CPU; a CUDA request without CUDA is an error, not a silent CPU run.

    Args:
        device: "auto", "cpu", "cuda", "cuda:N" or a ``torch.device``.

    Raises:
        ValueError: an unknown device, or CUDA asked for without CUDA.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"`device` must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("`device` is 'cuda' but no CUDA device is available; use device='cpu' or 'auto'")
    return resolved


def channels_last_pays(model: nn.Module, device: torch.device) -> bool:
    """What ``channels_last="auto"`` chooses: channels-last memory for a ``model`` with a 2-d convolution on a CPU.

    Why: oneDNN's CPU convolutions, pooling and batch norm run faster on channels-last tensors. Measured here
    (``benchmarks/channels_last.py``: Trainer fits of 2 epochs of 512 random images with validation, batch 64, 2
    threads, torch 2.13, median of 5 rounds alternating the layouts; ``benchmarks/reference/channels_last_cpu.json``):
    the VGG recipe's network 1.26x on 8x8 and 1.27x on 28x28 grey images, 1.39x on 32x32 colour ones; the doctor's
    small CNNs (16x32 and 32x64 channels, pooled to 4x4) 1.32x at 8x8 and 1.87-2.02x at 28x28 and 32x32. The
    training losses differ from the default layout's by float rounding (1e-8 to 1e-2 relative after 2 epochs: the
    rounding grows through a deep network's training). On CUDA it pays with bf16 or TF32 tensor cores
    (``benchmarks/gpu.py`` sets it there), which "auto" does not assume. A network whose code calls ``view`` on an
    activation fails on channels-last memory: the spec's "auto" leaves a user's network and a transferred backbone
    off (:func:`fitguard.recipe.build_run`).

    Args:
        model: the network.
        device: where it trains.

    Example:
        >>> cpu = torch.device("cpu")
        >>> channels_last_pays(nn.Sequential(nn.Conv2d(1, 4, 3)), cpu), channels_last_pays(nn.Linear(4, 2), cpu)
        (True, False)
    """
    return device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


def _state_keys(callbacks: Sequence[Callback]) -> list[str]:
    """Each callback's ``state_key``, a second one of a key numbered ``#2`` (and so on) in callback order."""
    keys: list[str] = []
    for callback in callbacks:
        key = callback.state_key
        keys.append(key if key not in keys else f"{key}#{sum(k.split('#')[0] == key for k in keys) + 1}")
    return keys


class Trainer:
    """Train a model with remedies, callbacks and resumable state; ``fit`` returns a :class:`History`.

    ``repeat``: passes over the training rows in one epoch, each reshuffled (Keras' ``steps_per_epoch`` for data
    smaller than a few batches): with 60 rows an epoch is two steps, and the epoch's end (validation, callbacks,
    history) would cost more than the steps themselves. A last batch of one row joins the batch before it
    (:func:`~fitguard.data.tensors.batch_bounds`): batch norm cannot train on one row, and no row is dropped.

    ``class_weight`` (cross-entropy only): ``"balanced"`` weighs each class's training rows by
    ``n_samples / (n_classes * count)``, counted on the rows ``fit`` is given (scikit-learn's
    ``class_weight="balanced"``), or a list of one positive weight per class; the weights fitted are
    ``class_weight_``. Only the training loss is weighted: validation loss and metrics stay unweighted (as Keras'
    ``class_weight``), so they compare with an unweighted run's.

    Args:
        model: The network to train; moved to ``device`` (and to channels-last memory when ``channels_last``).
        loss: ``"cross_entropy"`` (class indices or soft targets; task "classification"), ``"mse"``
            ("regression") or ``"bce"`` (binary logits, "binary"), or a callable ``loss(output, target)``
            returning a scalar tensor (task "custom", logged as ``loss`` only). Default ``"cross_entropy"``.
        optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"``; any other name raises ``ValueError``.
        lr: Learning rate, finite and > 0. Default ``1e-3``.
        batch_size: Training rows per step, >= 1 (validation uses ``max(batch_size, 1024)``). Default 32.
        max_epochs: Epochs to run unless a callback stops earlier, >= 1. Default 100.
        repeat: Reshuffled passes over the training rows per epoch, >= 1 (see above). Default 1.
        weight_decay: The optimizer's ``weight_decay`` for every parameter no decoupled penalty claims, >= 0:
            added to the gradient for Adam and SGD, decoupled for AdamW. Default 0 (none).
        momentum: SGD momentum; ignored by Adam and AdamW. Default 0.9.
        nesterov: SGD with Nesterov momentum (Sutskever et al., 2013: the gradient taken where momentum is about
            to carry the weights); True with another optimizer or without momentum raises ``ValueError``.
            Default False.
        label_smoothing: Cross-entropy label smoothing in [0, 1), of the training loss only: validation,
            :meth:`evaluate` and :meth:`score_outputs` score the plain cross-entropy (as timm's validation loss;
            Keras' ``evaluate`` smooths), so that the validation losses of runs with different smoothing compare
            and early stopping watches the loss against the true labels; the training ``loss`` logged is the
            smoothed one it optimizes (so with smoothing ``val_loss - loss`` understates the gap, as with class
            weights; the doctor's verdicts read accuracies for classification). Non-zero with another loss raises
            ``ValueError``. Default 0 (none).
        penalties: :class:`~fitguard.regularize.Penalty` objects (``L1``, ``L2``, ``ElasticNet``): coupled ones
            are added to the loss (logged as ``penalty``), proximal ones act after each optimizer step,
            decoupled ``L2`` becomes its parameters' optimizer group. Default none.
        weight_noise: A :class:`~fitguard.regularize.WeightNoise`, or a number taken as its ``sigma``: weights
            are perturbed for each step's forward and backward pass and restored before the update. Default None.
        augment: A callable ``augment(x, y, generator) -> (x, y)`` applied to each training batch (e.g.
            :func:`fitguard.augment.mixup`); validation batches are never augmented. Default None.
        callbacks: :class:`Callback` objects, run in order of their ``order`` attribute. Default none.
        clip_grad_norm: Clip the gradients' total norm to this value (> 0) before each step; None (default)
            does not clip.
        device: ``"auto"`` (CUDA when available, else CPU; default), ``"cpu"``, ``"cuda[:N]"`` or a
            ``torch.device``; asking for CUDA without it raises ``ValueError``.
        precision: ``"32"`` (default, float32) or ``"bf16"`` (forward pass and loss under bfloat16 autocast).
        compile: Run the forward pass through ``torch.compile(model)``. Default False.
        channels_last: Put the model and 4-d input batches in channels-last memory format (faster convolutions
            on recent GPUs, and on CPUs: 1.3-2x a training step here, see :func:`channels_last_pays`); ``"auto"``:
            on a CPU for a model with a 2-d convolution. Default False.
        seed: Seeds the generator that shuffles batches and drives augmentation and weight noise, and
            ``torch.manual_seed`` at the start of a fresh ``fit`` (not on resume). Default 0.
        quiet: When False, a :class:`ProgressBar` is added to the callbacks. Default True.
        class_weight: Cross-entropy only (see above): ``"balanced"``, one positive weight per class, or None
            (default, unweighted); with another loss it raises ``ValueError``.
        adversarial: A :class:`fitguard.regularize.FGSM`: each training step then minimizes its mix of the loss
            on the batch and on the batch's FGSM perturbation (the logged ``loss`` stays the clean batch's). Default
            None.

    Example:
        >>> import torch
        >>> from fitguard.data.tensors import TensorData
        >>> data = TensorData(torch.randn(64, 4), torch.randint(0, 2, (64,)))
        >>> model = torch.nn.Linear(4, 2)
        >>> history = Trainer(model, max_epochs=2, batch_size=16, device="cpu").fit(data, data)
        >>> len(history)
        2
    """

    def __init__(
        self,
        model: nn.Module,
        loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cross_entropy",
        optimizer: str = "adam",
        lr: float = 1e-3,
        batch_size: int = 32,
        max_epochs: int = 100,
        repeat: int = 1,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        nesterov: bool = False,
        label_smoothing: float = 0.0,
        penalties: Sequence[Any] = (),
        weight_noise: Any = None,
        augment: Any = None,
        callbacks: Sequence[Callback] = (),
        clip_grad_norm: float | None = None,
        device: str | torch.device = "auto",
        precision: str = "32",
        compile: bool = False,
        channels_last: bool | str = False,
        seed: int = 0,
        quiet: bool = True,
        class_weight: str | Sequence[float] | torch.Tensor | None = None,
        adversarial: Any = None,
    ) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"`optimizer` must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        check_number("lr", lr, low=0, closed="neither", finite=True)
        check_int("batch_size", batch_size, low=1)
        check_int("max_epochs", max_epochs, low=1)
        check_int("repeat", repeat, low=1)
        check_number("weight_decay", weight_decay, low=0)
        if nesterov and optimizer != "sgd":
            raise ValueError(f"`nesterov` applies to optimizer='sgd' only, got optimizer={optimizer!r}: set "
                             "optimizer='sgd' or drop nesterov")
        if nesterov and not momentum > 0:
            raise ValueError(f"`nesterov` needs momentum > 0, got momentum={momentum!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(f"`clip_grad_norm` must be > 0 or None, got {clip_grad_norm!r}")
        if class_weight is not None:
            check_class_weight(class_weight)
            check_weighted_loss(loss)
        if channels_last not in (True, False, "auto"):
            raise ValueError(f"`channels_last` must be True, False or 'auto', got {channels_last!r}")
        self.model = model
        self.loss = loss
        self.optimizer_name = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.repeat = repeat
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight
        self.class_weight_: torch.Tensor | None = None
        self.penalties = list(penalties)
        self.weight_noise = weight_noise
        self.augment = augment
        self.adversarial = adversarial
        self.clip_grad_norm = clip_grad_norm
        self.device = resolve_device(device)
        self.precision = precision
        self.compile = compile
        self.channels_last = (channels_last_pays(model, self.device) if channels_last == "auto"
                              else bool(channels_last))
        self.seed = seed
        self.quiet = quiet
        self.callbacks: list[Callback] = []
        if isinstance(weight_noise, (int, float)) and not isinstance(weight_noise, bool):
            from fitguard.regularize import WeightNoise

            self.weight_noise = WeightNoise(weight_noise)
        # the training loss (the class-weighted one once `fit` has counted the classes); validation, `evaluate`
        # and `score_outputs` score the loss without label smoothing
        self._train_loss_fn, self.task = resolve_loss(loss, label_smoothing)
        self._loss_fn = resolve_loss(loss)[0] if label_smoothing else self._train_loss_fn
        self.model.to(self.device)
        if self.channels_last:
            # Module.to takes memory_format at run time; torch's type stubs leave it out
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._forward: Callable[..., torch.Tensor] = torch.compile(self.model) if compile else self.model
        self._selected = [(p, p.select(self.model)) for p in self.penalties]
        # split once: penalties in the loss, proximal steps after the optimizer (decoupled ones live in its groups)
        self._coupled = [(p, ps) for p, ps in self._selected if not p.decoupled and not getattr(p, "proximal", False)]
        self._proximal = [(p, ps) for p, ps in self._selected if getattr(p, "proximal", False)]
        self._noise_params = self.weight_noise.select(self.model) if self.weight_noise is not None else None
        self.optimizer = self._build_optimizer()
        self.generator = torch.Generator().manual_seed(seed)
        self.add_callbacks([*callbacks, *([] if quiet else [ProgressBar()])])
        self.history = History()
        self.epoch = 0
        self.step = 0
        self.stop_reason: str | None = None
        self._stop_now = False  # a stop request that ends the epoch in progress after its current batch
        self.restored_epoch: int | None = None

    # ----------------------------------------------------------------------------------------- set-up
    def add_callbacks(self, callbacks: Sequence[Callback]) -> None:
        """Attach callbacks before ``fit`` (ordered by their ``order`` attribute; checkpoints run last).

        Args:
            callbacks: the :class:`~fitguard.train.Callback` instances to add to those the trainer already holds.
        """
        self.callbacks = sorted([*self.callbacks, *callbacks], key=lambda c: getattr(c, "order", 0))
        self._hooks = {hook: [c for c in self.callbacks if _overrides(c, hook)] for hook in _HOOKS}
        self._callback_keys = _state_keys(self.callbacks)  # where each one's state goes in a checkpoint

    def _build_optimizer(self) -> torch.optim.Optimizer:
        from fitguard.regularize import param_groups

        groups = []
        for group in param_groups(self.model, self.penalties, self.weight_decay):
            trainable = [p for p in group["params"] if p.requires_grad]  # frozen layers never enter the optimizer
            if trainable:
                groups.append({**group, "params": trainable})
        if self.optimizer_name == "sgd":
            return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum, nesterov=self.nesterov)
        if self.optimizer_name == "adamw":
            return torch.optim.AdamW(groups, lr=self.lr)
        return torch.optim.Adam(groups, lr=self.lr)

    def logged_metrics(self, with_validation: bool) -> list[str]:
        """The names each epoch's logs will hold (what callbacks may monitor).

        Args:
            with_validation: whether ``fit`` gets validation data, which adds a ``val_`` name for the loss and each
                metric.

        Returns:
            ``loss``, the task's metrics, ``penalty`` when a penalty is added to the loss, the ``val_`` names, and
            ``lr``.
        """
        names = ["loss", *metric_names(self.task)]
        if any(not getattr(p, "decoupled", False) for p in self.penalties):
            names.append("penalty")
        if with_validation:
            names += [f"val_{n}" for n in ["loss", *metric_names(self.task)]]
        return [*names, "lr"]

    def _check_monitors(self, with_validation: bool) -> None:
        available = self.logged_metrics(with_validation)
        for callback in self.callbacks:
            metric = getattr(callback, "monitor", None)
            if isinstance(metric, str) and metric not in available:
                raise ValueError(
                    f"{type(callback).__name__} cannot monitor {metric!r}: it is not logged; "
                    f"available metrics: {', '.join(available)}"
                )

    @overload
    def _prepare(self, data: TensorData | DataLoader) -> TensorData | DataLoader: ...
    @overload
    def _prepare(self, data: None) -> None: ...
    def _prepare(self, data: TensorData | DataLoader | None) -> TensorData | DataLoader | None:
        if data is None or isinstance(data, DataLoader):
            return data
        if isinstance(data, TensorData):
            return data.to(self.device)
        raise ValueError(f"training data must be a fitguard TensorData or a torch DataLoader, "
                         f"got {type(data).__name__}")

    def _batches(self, data: TensorData | DataLoader, train: bool) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        if isinstance(data, TensorData):
            size = self.batch_size if train else max(self.batch_size, 1024)
            return data.batches(size, shuffle=train, generator=self.generator, repeat=self.repeat if train else 1)
        passes = self.repeat if train else 1
        return ((x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))
                for _ in range(passes) for x, y in data)

    def _one_row_batch_message(self, data: TensorData | DataLoader) -> str:
        """Why torch's batch norm error happened here, and what to change (TensorData batches fold a last
        1-row batch, so only these cases are left)."""
        cannot = "which batch norm cannot normalize in training mode"
        if isinstance(data, DataLoader):
            return (f"the training DataLoader yielded a batch of 1 row, {cannot}; "
                    "pass drop_last=True to the DataLoader (or pick a batch_size that leaves no 1-row remainder)")
        if self.batch_size == 1:
            return f"`batch_size`=1 makes every training batch 1 row, {cannot}; use batch_size >= 2"
        if len(data) == 1:
            return f"the training data has 1 row, {cannot}; train on at least 2 rows"
        return f"a training batch had 1 row, {cannot}"  # e.g. an augmentation that returned fewer rows

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ----------------------------------------------------------------------------------------- the loop
    def request_stop(self, reason: str, *, now: bool = False) -> None:
        """Callbacks call this to end the run after the current epoch, or with ``now`` (from ``on_batch_end``)
        after the current batch: the epoch in progress then ends early and is still validated, logged and seen by
        every ``on_epoch_end`` (its training metrics are over the batches it took), as Keras 3 checks
        ``stop_training`` after every step.

        Args:
            reason: why, kept as ``stop_reason`` and in the history; the first request of a run wins.
            now: end the epoch in progress after the current batch (default False: at its end).
        """
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop_now = self._stop_now or now

    def fit(
        self,
        train: TensorData | DataLoader,
        val: TensorData | DataLoader | None = None,
        resume: str | Path | None = None,
    ) -> History:
        """Train until ``max_epochs`` or a callback stops; resume from a checkpoint folder when given.

        Args:
            train: the training rows, a :class:`~fitguard.data.TensorData` or a torch ``DataLoader``.
            val: rows scored after every epoch as ``val_*`` metrics; None (default): no validation.
            resume: a checkpoint folder to continue from (same callbacks required); None (default): start afresh.

        Returns:
            The run's :class:`~fitguard.train.History`, with ``stop_reason`` set.

        Raises:
            ValueError: when the data is neither ``TensorData`` nor a ``DataLoader``, when a callback monitors a metric
                that is not logged, or when batch norm meets a training batch of one row.
            FileNotFoundError: when ``resume`` does not exist.
        """
        train_data = self._prepare(train)
        val_data = self._prepare(val)
        self.train_data = train_data  # for callbacks that pass over it at the end (weight averaging's batch norm)
        self._check_monitors(with_validation=val_data is not None)
        if self.class_weight is not None:
            self._weigh_classes(train_data)
        if resume is not None:
            self._resume(Path(resume))
        else:
            torch.manual_seed(self.seed)
        self._stop_now = False
        for callback in self._hooks["on_fit_start"]:
            callback.on_fit_start(self)
        try:
            while self.epoch < self.max_epochs and self.stop_reason is None:
                self._run_epoch(train_data, val_data)
        except ValueError as error:
            if not str(error).startswith(_ONE_ROW_BATCH_NORM):
                raise
            raise ValueError(self._one_row_batch_message(train_data)) from error
        finally:
            for callback in self._hooks["on_fit_end"]:
                callback.on_fit_end(self)
        self.history.stop_reason = self.stop_reason or f"reached max_epochs={self.max_epochs}"
        self.history.best_epoch = self.restored_epoch or self.history.best_epoch
        stoppers = [c.monitor for c in self.callbacks if isinstance(c, EarlyStopping)]
        self.history.monitor = self.history.monitor or (stoppers[0] if stoppers else None)
        return self.history

    def _run_epoch(self, train_data: TensorData | DataLoader, val_data: TensorData | DataLoader | None) -> None:
        epoch = self.epoch + 1
        for callback in self._hooks["on_epoch_start"]:
            callback.on_epoch_start(self, epoch)
        started = time.perf_counter()
        self.model.train()
        sums = MetricSums(self.task)
        penalty_sum: torch.Tensor | None = None
        batch_hooks = self._hooks["on_batch_end"]
        coupled, proximal, adversarial = self._coupled, self._proximal, self.adversarial
        steps = 0
        gradients_finite: torch.Tensor | None = None  # with clipping the norm is computed anyway: kept on device
        for x, y in self._batches(train_data, train=True):
            if self.augment is not None:
                x, y = self.augment(x, y, self.generator)
            x = self.in_layout(x)
            if self._noise_params is not None:
                self.weight_noise.perturb(self._noise_params, self.generator)
            with self._autocast():
                output = self._forward(x)
                loss = self._train_loss_fn(output, y)
                cost = loss if adversarial is None else adversarial.objective(self._forward, self._train_loss_fn,
                                                                              x, y, loss)
            if coupled:
                penalty = sum(p.term(params) for p, params in coupled)
                cost = cost + penalty
                penalty_sum = penalty.detach() if penalty_sum is None else penalty_sum + penalty.detach()
            self.optimizer.zero_grad(set_to_none=True)
            cost.backward()
            if self._noise_params is not None:
                self.weight_noise.restore(self._noise_params)
            if self.clip_grad_norm is not None:
                finite = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm).isfinite()
                gradients_finite = finite if gradients_finite is None else gradients_finite & finite
            self.optimizer.step()
            for p, params in proximal:
                p.after_step(params, self.optimizer)  # each group's own lr and state
            sums.add(loss, output, y)
            self.step += 1
            steps += 1
            for callback in batch_hooks:
                callback.on_batch_end(self, self.step, loss)
            if self._stop_now:
                break
        logs: dict[str, float] = {"epoch": float(epoch), **sums.result()}
        if penalty_sum is not None:
            logs["penalty"] = float(penalty_sum) / steps
        if val_data is not None:
            logs.update(self.evaluate(val_data, prefix="val_", _prepared=True))
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["time"] = time.perf_counter() - started
        self.epoch = epoch
        self.history.append(logs)
        if not math.isfinite(logs.get("loss", 0.0)):
            self.request_stop(f"diverged: training loss is {logs['loss']} at epoch {epoch}")
        elif not self._gradients_finite(gradients_finite):
            remedy = "lower `lr`" if self.clip_grad_norm is not None else "lower `lr` or set `clip_grad_norm`"
            self.request_stop(f"diverged: the gradient norm became non-finite (exploding gradients) at epoch {epoch}; "
                              f"{remedy}")
        for callback in self._hooks["on_epoch_end"]:
            callback.on_epoch_end(self, epoch, logs)

    def _weigh_classes(self, train_data: TensorData | DataLoader) -> None:
        """Fit ``class_weight_`` on the training rows' labels (one pass over a DataLoader) and weigh the training
        loss with it. The model's class count comes from one forward pass on a training row."""
        first: torch.Tensor | None
        if isinstance(train_data, TensorData):
            first, labels = train_data.X[:1], train_data.y
        else:
            first, parts = None, []
            for x, y in train_data:  # only the labels are kept: images would not fit in memory at once
                first = x[:1] if first is None else first
                parts.append(y.cpu())
                if not isinstance(self.class_weight, str):
                    break  # explicit weights need the class count only
            if first is None:
                raise ValueError("the training DataLoader yielded no batch; class weights need training rows")
            labels = torch.cat(parts)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            classes = int(self.model(first.to(self.device)).shape[-1])
        self.model.train(was_training)
        self.class_weight_ = resolve_class_weight(self.class_weight, labels, classes)
        self._train_loss_fn = resolve_loss(self.loss, self.label_smoothing,
                                           class_weight=self.class_weight_.to(self.device))[0]

    def _gradients_finite(self, flags: torch.Tensor | None) -> bool:
        """One check per epoch: every clipped step's norm (when clipping), else the last step's gradients."""
        if flags is not None:
            return bool(flags)
        gradients = [p.grad for p in self.model.parameters() if p.grad is not None]
        return not gradients or bool(torch.nn.utils.get_total_norm(gradients).isfinite())

    # ----------------------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, data: TensorData | DataLoader, prefix: str = "", _prepared: bool = False,
                 model: nn.Module | None = None) -> dict[str, float]:
        """Loss and metrics on ``data`` in eval mode (dropout off, batch norm on running statistics).

        Args:
            data: the rows to score.
            prefix: put before every metric's name (``"val_"``).
            model: score this module instead of the trainer's own, with the same loss and metrics (e.g. the
                :class:`~fitguard.train.SnapshotEnsemble` of its snapshots); None (default): the trainer's model.

        Returns:
            The loss and each metric by (prefixed) name.
        """
        data = data if _prepared else self._prepare(data)
        module = self.model if model is None else model
        forward = self._forward if model is None else model
        was_training = module.training
        module.eval()
        sums = MetricSums(self.task)
        try:
            for x, y in self._batches(data, train=False):
                x = self.in_layout(x)
                with self._autocast():
                    output = forward(x)
                    loss = self._loss_fn(output, y)
                sums.add(loss.float(), output.float(), y)
        finally:
            module.train(was_training)
        return sums.result(prefix)

    @torch.no_grad()
    def score_outputs(self, outputs: torch.Tensor, y: torch.Tensor, prefix: str = "") -> dict[str, float]:
        """Loss and metrics of outputs :meth:`predict` gave for rows whose targets are ``y``: what
        :meth:`evaluate` returns for those rows, without a second forward pass (a large test split is scored and
        predicted from one).

        Args:
            outputs: the model's raw outputs for the rows, as :meth:`predict` returns them.
            y: the rows' targets.
            prefix: put before every metric's name (``"val_"``).

        Returns:
            The loss and each metric by (prefixed) name.
        """
        sums = MetricSums(self.task)
        outputs, y = outputs.to(self.device), y.to(self.device)
        sums.add(self._loss_fn(outputs, y).float(), outputs.float(), y)
        return sums.result(prefix)

    def in_layout(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the memory layout the model runs in: a 4-d batch channels-last when ``channels_last``.

        Args:
            x: a batch on the trainer's device.
        """
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    @torch.no_grad()
    def predict(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Raw model outputs (logits for classification) for ``X``, on CPU.

        Args:
            X: the inputs, on any device (each batch is moved to the trainer's).
            batch_size: rows per forward pass (default 1024).

        Returns:
            The outputs stacked in row order; an empty tensor when ``X`` has no rows.
        """
        was_training = self.model.training
        self.model.eval()
        try:
            outputs = [self._forward(self.in_layout(X[i : i + batch_size].to(self.device))).float().cpu()
                       for i in range(0, len(X), batch_size)]
        finally:
            self.model.train(was_training)
        return torch.cat(outputs) if outputs else torch.empty(0)

    # ----------------------------------------------------------------------------------------- state
    def training_state(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue bit for bit: weights, optimizer, RNGs, history, callbacks.

        Tensors are the live ones, on their devices (no copy): clone them (``state_io.clone_tensors``) before
        training goes on; writing moves them to the CPU."""
        state: dict[str, Any] = {
            "model": {k: v.detach() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "generator": self.generator.get_state()},
            "trainer": {"epoch": self.epoch, "step": self.step, "stop_reason": self.stop_reason},
            "history": self.history.to_dict(),
            "callbacks": {key: c.state_dict() for key, c in zip(self._callback_keys, self.callbacks)},
        }
        if self.device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _saved_callback_states(self, saved: Any) -> dict[str, dict[str, Any]]:
        """The checkpoint's callback states by key, checked against this trainer's callbacks: a callback with
        state must find its own, and no saved state may be left without its callback (callbacks without state may
        come and go). A checkpoint from before state keys (a list) needs the very same callbacks."""
        keys = self._callback_keys
        if isinstance(saved, list):
            if [s["type"] for s in saved] != [type(c).__name__ for c in self.callbacks]:
                raise FitguardError(
                    "the checkpoint was written with callbacks "
                    f"{[s['type'] for s in saved]} but this trainer has {[type(c).__name__ for c in self.callbacks]}; "
                    "resume with the same callbacks"
                )
            return {key: entry["state"] for key, entry in zip(keys, saved)}
        stateful = [key for key, c in zip(keys, self.callbacks) if _overrides(c, "state_dict")]
        missing = [key for key in stateful if key not in saved]
        orphaned = [key for key, value in saved.items() if value and key not in keys]
        if missing or orphaned:
            written = ", ".join(key for key, value in saved.items() if value) or "none"
            raise FitguardError(
                "cannot resume with these callbacks: the checkpoint holds "
                + "; ".join([*([f"no state for {', '.join(missing)}"] if missing else []),
                             *([f"the state of {', '.join(orphaned)}, which this trainer lacks"] if orphaned else [])])
                + f"; resume with the callbacks that have state as written ({written}); callbacks without state "
                "(TensorBoard, ProgressBar) may be added or dropped"
            )
        return saved

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Put the trainer back where :meth:`training_state` left it: weights, counters, history, callbacks, optimizer
        and random generators (callbacks' ``on_resume`` run between their state and the optimizer's).

        Args:
            state: what :meth:`training_state` returned (as read back from a checkpoint).

        Raises:
            FitguardError: a callback with state finds none of its own in the checkpoint, or the checkpoint holds the
                state of a callback this trainer lacks (by ``state_key``; callbacks without state may differ); a
                checkpoint written before state keys needs the very same callbacks, in order.
        """
        saved = self._saved_callback_states(state["callbacks"])
        self.model.load_state_dict(state["model"])
        self.epoch = int(state["trainer"]["epoch"])
        self.step = int(state["trainer"]["step"])
        self.stop_reason = state["trainer"]["stop_reason"]
        self.history = History.from_dict(state["history"])
        for key, callback in zip(self._callback_keys, self.callbacks):
            if key in saved:
                callback.load_state_dict(saved[key])
        for callback in self._hooks["on_resume"]:
            callback.on_resume(self)  # e.g. re-unfreeze layers, so the optimizer's saved groups fit
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        self.generator.set_state(state["rng"]["generator"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    def _resume(self, directory: Path) -> None:
        if not directory.exists():
            raise FileNotFoundError(f"cannot resume: checkpoint folder {str(directory)!r} does not exist")
        state, skipped = latest_valid_checkpoint(directory)
        for message in skipped:  # the CLI shows each as one `warning: ...` line
            warnings.warn(message, stacklevel=3)
        if state is None:
            # killed before its first checkpoint: starting over gives the same result as resuming
            torch.manual_seed(self.seed)
            return
        self.load_training_state(state)
