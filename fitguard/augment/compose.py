"""Chain augmentations that share the call ``(x, y, generator) -> (x, y)``, e.g. ``images(...)`` then mixup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from fitguard.augment.mixing import CutMix, MixUp
from fitguard.augment.pipeline import ImageAugment

Augmentation = Callable[[torch.Tensor, torch.Tensor, "torch.Generator | None"], tuple[torch.Tensor, torch.Tensor]]
KINDS: dict[str, type] = {"images": ImageAugment, "mixup": MixUp, "cutmix": CutMix}


class Compose:
    """Apply ``steps`` in order with one generator; each step is an augmentation or ``{"type", "config"}``.

    Setting ``num_classes`` on the Compose passes it to every step that takes one (mixup, cutmix).

    Args:
        steps: A non-empty list of augmentations (callables ``(x, y, generator) -> (x, y)``) or their saved form
            ``{"type": "images" | "mixup" | "cutmix", "config": {...}}``, applied in order.

    Example:
        >>> from fitguard.augment import images, mixup
        >>> chain = Compose([images(flip=True), mixup(0.4, num_classes=3)])
        >>> x, y = chain(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]), torch.Generator().manual_seed(0))
        >>> tuple(y.shape)
        (4, 3)
        >>> Compose(**chain.get_config()).get_config() == chain.get_config()
        True
    """

    def __init__(self, steps: Sequence[Augmentation | dict[str, Any]]) -> None:
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence) or len(steps) == 0:
            raise ValueError(f"`steps` must be a non-empty list of augmentations, got {steps!r}")
        self.steps = [_build(i, step) for i, step in enumerate(steps)]

    @property
    def num_classes(self) -> int | None:
        found = [getattr(step, "num_classes", None) for step in self.steps]
        return next((n for n in found if n is not None), None)

    @num_classes.setter
    def num_classes(self, value: int | None) -> None:
        for step in self.steps:
            if hasattr(step, "num_classes"):
                step.num_classes = value

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for step in self.steps:
            x, y = step(x, y, generator)
        return x, y

    def get_config(self) -> dict[str, Any]:
        """The steps as ``{"type": kind, "config": ...}`` entries, so that the pipeline can be saved and rebuilt.

        Raises:
            ValueError: when a step is not one of the known kinds (a custom callable has no config).
        """
        configs = []
        for i, step in enumerate(self.steps):
            kind = next((name for name, cls in KINDS.items() if type(step) is cls), None)
            if kind is None:
                raise ValueError(f"steps[{i}] is a {type(step).__name__}, which has no config; "
                                 f"only {', '.join(KINDS)} steps can be saved")
            configs.append({"type": kind, "config": step.get_config()})
        return {"steps": configs}

    def __repr__(self) -> str:
        return f"Compose({self.steps!r})"


def _build(index: int, step: Augmentation | dict[str, Any]) -> Augmentation:
    if isinstance(step, dict):
        kind = step.get("type")
        if kind not in KINDS or not isinstance(step.get("config", {}), dict):
            raise ValueError(f"steps[{index}] must have 'type' in {sorted(KINDS)} and a 'config' dict, got {step!r}")
        return KINDS[kind](**step.get("config", {}))
    if not callable(step):
        raise ValueError(f"steps[{index}] must be callable as (x, y, generator) -> (x, y), got {step!r}")
    return step
