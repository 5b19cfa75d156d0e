"""Lookahead: k steps forward with the inner optimizer, then one step back towards where they started.

Zhang, Lucas, Hinton and Ba, "Lookahead Optimizer: k steps forward, 1 step back" (NeurIPS 2019): besides the
network's weights (the *fast* weights, moved by the inner optimizer, Adam or SGD), keep a *slow* copy. Every ``k``
optimizer steps the slow weights move a fraction ``alpha`` of the way to the fast ones,
``slow <- slow + alpha * (fast - slow)``, and the fast weights restart from there. The inner optimizer's state
(momentum, Adam's moments) is kept across synchronizations, as in the paper. Kadra et al. (NeurIPS 2021) count it
among the regularizers of their tabular "cocktail"; it damps the inner optimizer's oscillation and is reported to
make results less sensitive to the learning rate.

Here it is a callback (torch has no Lookahead optimizer): it runs after every optimizer step of the Trainer
(after any proximal step, so a proximal L1 zero set by the inner step is averaged like any other weight).
Validation and the final weights are the fast weights as they stand, at most ``k - 1`` steps past the last
synchronization: this keeps early stopping's restored epoch and the averaging remedies' final weights what they
chose. The slow weights and the step count are saved in checkpoints, so a resumed run continues the same cycle.

Example:
    >>> import torch
    >>> from fitguard.data import TensorData
    >>> from fitguard.models import mlp
    >>> from fitguard.train import Trainer
    >>> data = TensorData(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    >>> lookahead = Lookahead(k=5, alpha=0.5)
    >>> _ = Trainer(mlp(4, 2, hidden=[8]), max_epochs=3, batch_size=16, callbacks=[lookahead]).fit(data)
    >>> lookahead.synchronizations   # 3 epochs of 4 steps: synchronized after steps 5 and 10
    2
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from fitguard._validation import check_int, check_number
from fitguard.train.callbacks.base import Callback

if TYPE_CHECKING:
    from fitguard.train.trainer import Trainer


class Lookahead(Callback):
    """Lookahead around the Trainer's optimizer (see the module docstring).

    Args:
        k: optimizer steps between two synchronizations (an int >= 1; the paper uses 5 or 10). ``k=1`` with
            ``alpha=1`` is the inner optimizer alone.
        alpha: the slow weights' step towards the fast ones, in (0, 1] (the paper uses 0.5 or 0.8).

    Raises:
        ValueError: ``k`` or ``alpha`` out of range, named with what is allowed.
    """

    def __init__(self, k: int = 5, alpha: float = 0.5) -> None:
        check_int("k", k, low=1)
        check_number("alpha", alpha, low=0, high=1, closed="right", finite=True)
        self.k, self.alpha = k, alpha
        self.synchronizations = 0
        self._steps = 0  # optimizer steps since the last synchronization
        self._slow: list[torch.Tensor] | None = None
        self._saved: dict[str, Any] | None = None  # a checkpoint's slow weights, until on_resume restores them

    def get_config(self) -> dict[str, Any]:
        return {"k": self.k, "alpha": self.alpha}

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.epoch == 0 or self._slow is None:  # a fresh training starts its own cycle (a resumed one loaded it)
            self._slow = [p.detach().clone() for p in trainer.model.parameters()]
            self._steps = self.synchronizations = 0

    def on_batch_end(self, trainer: Trainer, step: int, loss: Any) -> None:
        self._steps += 1
        if self._steps < self.k:
            return
        self._steps = 0
        self.synchronizations += 1
        with torch.no_grad():
            for slow, fast in zip(self._slow, trainer.model.parameters()):
                slow.lerp_(fast.detach(), self.alpha)
                fast.copy_(slow)

    def state_dict(self) -> dict[str, Any]:
        if self._slow is None:
            return {}
        return {"steps": self._steps, "synchronizations": self.synchronizations,
                "slow": [s.clone() for s in self._slow]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved = state

    def on_resume(self, trainer: Trainer) -> None:
        saved = self._saved
        if not saved:
            return
        self._steps, self.synchronizations = int(saved["steps"]), int(saved["synchronizations"])
        device = next(trainer.model.parameters()).device
        self._slow = [torch.as_tensor(s).to(device).clone() for s in saved["slow"]]
