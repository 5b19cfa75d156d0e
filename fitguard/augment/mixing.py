"""MixUp (Zhang et al., 2018) and CutMix (Yun et al., 2019): blend pairs of rows and their targets.

MixUp blends any inputs -- table rows, signals, images (Zhang et al. ran it on UCI tables too); CutMix pastes a box,
so it takes images (B, C, H, W) only.

Both return soft targets, float (B, num_classes) rows summing to 1, to be trained with
:func:`soft_cross_entropy`. ``num_classes`` comes from, in order: targets that are already soft (their width),
the constructor argument, or a ``num_classes`` attribute the Trainer sets before training.
λ ~ Beta(α, α) is drawn once per batch with numpy seeded from the explicit torch generator (torch's Beta
sampler takes no generator); the partner of each image is a permutation drawn from the same generator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fitguard._validation import check_int
from fitguard.augment.checks import check_images, check_positive_alpha
from fitguard.augment.seeding import draw_seed


def soft_targets(y: torch.Tensor, num_classes: int | None) -> torch.Tensor:
    """Class indices (B,) -> one-hot float (B, K); soft targets (B, K) pass through.

    Args:
        y: Integer class indices of shape (B,), or floating-point soft targets of shape (B, K).
        num_classes: K for one-hot encoding; needed (not None) for class indices.

    Raises:
        ValueError: ``y`` of another shape or dtype, or class indices with ``num_classes`` None.

    Example:
        >>> soft_targets(torch.tensor([0, 2]), 3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if y.ndim == 2 and y.is_floating_point():
        return y
    if y.ndim != 1 or y.is_floating_point():
        raise ValueError(f"`y` must be class indices (B,) or soft targets (B, K), got shape {tuple(y.shape)}"
                         f" and dtype {y.dtype}")
    if num_classes is None:
        raise ValueError("`num_classes` is not set: pass it to mixup()/cutmix() or let the Trainer set it")
    return F.one_hot(y, num_classes).to(torch.get_default_dtype())


def mix(x: torch.Tensor, targets: torch.Tensor, partner: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """x' = λ·x + (1 − λ)·x[partner], and the same for the targets (pure).

    Args:
        x: the batch's inputs.
        targets: its targets as rows (one-hot or probabilities).
        partner: for each row, the index of the row it is mixed with.
        lam: the weight of the row itself.
    """
    return lam * x + (1 - lam) * x[partner], lam * targets + (1 - lam) * targets[partner]


def cutmix_box(height: int, width: int, lam: float, center: tuple[float, float]) -> tuple[int, int, int, int]:
    """Box (top, bottom, left, right) of area ≈ (1 − λ)·H·W around ``center`` (fractions), clipped to the image.

    Args:
        height: the image's height.
        width: its width.
        lam: the share of the image kept, in [0, 1].
        center: the box's centre as (vertical, horizontal) fractions of the size.

    Example:
        >>> cutmix_box(10, 10, 0.75, (0.5, 0.5))
        (3, 8, 3, 8)
    """
    cut = float(np.sqrt(1.0 - lam))
    cy, cx = center[0] * height, center[1] * width
    half_h, half_w = cut * height / 2, cut * width / 2
    top, bottom = _clip_round(cy - half_h, height), _clip_round(cy + half_h, height)
    left, right = _clip_round(cx - half_w, width), _clip_round(cx + half_w, width)
    return top, bottom, left, right


def _clip_round(value: float, size: int) -> int:
    # Half up, not Python's half-to-even, so a centred box stays symmetric.
    return min(max(math.floor(value + 0.5), 0), size)


def paste(
    x: torch.Tensor, targets: torch.Tensor, partner: torch.Tensor, box: tuple[int, int, int, int]
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Paste ``x[partner]``'s box into each image; targets weighted by the exact pasted area (pure).

    Returns the images, the targets and λ = 1 − pasted area / image area (what the box really covers, after
    clipping at the border, not the λ drawn).

    Args:
        x: the images (N, C, H, W).
        targets: their targets as rows (one-hot or probabilities).
        partner: for each image, the index of the image whose box is pasted in.
        box: (top, bottom, left, right), as :func:`cutmix_box` returns it.
    """
    top, bottom, left, right = box
    out = x.clone()
    out[:, :, top:bottom, left:right] = x[partner][:, :, top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / (x.shape[2] * x.shape[3])
    return out, lam * targets + (1 - lam) * targets[partner], lam


class _Mixing:
    name = ""

    def __init__(self, alpha: float = 1.0, *, num_classes: int | None = None, seed: int | None = None) -> None:
        check_positive_alpha(alpha)
        check_int("num_classes", num_classes, low=2, none_ok=True)
        check_int("seed", seed, low=0, none_ok=True)
        self.alpha, self.num_classes, self.seed = alpha, num_classes, seed
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.last_lambda_: float | None = None

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``type(self)(**config)`` builds an equal augmentation."""
        return {"alpha": self.alpha, "num_classes": self.num_classes, "seed": self.seed}

    def __repr__(self) -> str:
        return f"{self.name}(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"

    def _check(self, x: torch.Tensor) -> None:
        check_images(x)

    def _draw(self, x: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, np.random.Generator]:
        self._check(x)
        generator = generator if generator is not None else self._generator
        partner = torch.randperm(x.shape[0], generator=generator).to(x.device)
        return partner, np.random.default_rng(draw_seed(generator))


class MixUp(_Mixing):
    """Blend each row with a random partner: x' = λx + (1−λ)x_j, y' = λy + (1−λ)y_j, λ ~ Beta(α, α); ``x`` is any
    floating-point batch (B, ...): table rows, signals or images.

    Args:
        alpha: Both shape parameters of the Beta distribution λ is drawn from, > 0 (small values keep λ
            near 0 or 1: little mixing). Default 1.0.
        num_classes: Number of classes (>= 2) for turning class indices into one-hot rows; None (default): set
            later (by :class:`Compose` or the Trainer); calling with class indices while it is None raises.
        seed: Seeds this step's own generator (>= 0), used only when called without a generator (the Trainer
            always passes its own); None (default): torch's global generator.

    Example:
        >>> x, y = MixUp(0.4, num_classes=3, seed=0)(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]))
        >>> torch.allclose(y.sum(1), torch.ones(4))
        True
        >>> MixUp(0.4, num_classes=2, seed=0)(torch.rand(4, 5), torch.tensor([0, 1, 1, 0]))[0].shape
        torch.Size([4, 5])
    """

    name = "mixup"

    def _check(self, x: torch.Tensor) -> None:
        if not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim >= 2 and x.shape[0] > 0):
            got = f"shape {tuple(x.shape)} and dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"`x` must be a floating-point batch (B, ...) of rows, signals or images, got {got}")

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        targets = soft_targets(y, self.num_classes)
        partner, rng = self._draw(x, generator)
        lam = float(rng.beta(self.alpha, self.alpha))
        self.last_lambda_ = lam
        return mix(x, targets.to(x.dtype), partner, lam)


class CutMix(_Mixing):
    """Paste a random box from a partner image; targets weighted by the pasted area, λ ~ Beta(α, α).

    Args:
        alpha: Both shape parameters of the Beta distribution λ is drawn from, > 0 (small values keep λ
            near 0 or 1: little mixing). Default 1.0.
        num_classes: Number of classes (>= 2) for turning class indices into one-hot rows; None (default): set
            later (by :class:`Compose` or the Trainer); calling with class indices while it is None raises.
        seed: Seeds this step's own generator (>= 0), used only when called without a generator (the Trainer
            always passes its own); None (default): torch's global generator.

    Example:
        >>> x, y = CutMix(1.0, num_classes=2, seed=0)(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 1, 0]))
        >>> torch.allclose(y.sum(1), torch.ones(4))
        True
    """

    name = "cutmix"

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        targets = soft_targets(y, self.num_classes)
        partner, rng = self._draw(x, generator)
        lam = float(rng.beta(self.alpha, self.alpha))
        box = cutmix_box(x.shape[2], x.shape[3], lam, (float(rng.uniform()), float(rng.uniform())))
        out, mixed, self.last_lambda_ = paste(x, targets.to(x.dtype), partner, box)
        return out, mixed


def mixup(alpha: float = 0.2, *, num_classes: int | None = None, seed: int | None = None) -> MixUp:
    """MixUp with λ ~ Beta(alpha, alpha); see :class:`MixUp`.

    Args:
        alpha: Both shape parameters of the Beta distribution λ is drawn from, > 0 (small values keep λ
            near 0 or 1: little mixing). Default 0.2.
        num_classes: Number of classes (>= 2) for turning class indices into one-hot rows; None (default): set
            later (by :class:`Compose` or the Trainer); calling with class indices while it is None raises.
        seed: Seeds this step's own generator (>= 0), used only when called without a generator (the Trainer
            always passes its own); None (default): torch's global generator.
    """
    return MixUp(alpha, num_classes=num_classes, seed=seed)


def cutmix(alpha: float = 1.0, *, num_classes: int | None = None, seed: int | None = None) -> CutMix:
    """CutMix with λ ~ Beta(alpha, alpha); see :class:`CutMix`.

    Args:
        alpha: Both shape parameters of the Beta distribution λ is drawn from, > 0 (small values keep λ
            near 0 or 1: little mixing). Default 1.0.
        num_classes: Number of classes (>= 2) for turning class indices into one-hot rows; None (default): set
            later (by :class:`Compose` or the Trainer); calling with class indices while it is None raises.
        seed: Seeds this step's own generator (>= 0), used only when called without a generator (the Trainer
            always passes its own); None (default): torch's global generator.
    """
    return CutMix(alpha, num_classes=num_classes, seed=seed)


def soft_cross_entropy(logits: torch.Tensor, y_soft: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ_k y_k · log softmax(logits)_k; integer class targets are one-hot encoded.

    Equal to ``F.cross_entropy(logits, y_soft)`` with probability targets; written out so the formula is visible.

    Args:
        logits: Raw scores of shape (B, K).
        y_soft: Target probabilities of shape (B, K), or integer class indices (B,).

    Raises:
        ValueError: ``logits`` not 2-D, or targets of another shape.

    Example:
        >>> round(float(soft_cross_entropy(torch.zeros(1, 2), torch.tensor([[0.5, 0.5]]))), 4)
        0.6931
    """
    if logits.ndim != 2:
        raise ValueError(f"`logits` must have shape (B, K), got {tuple(logits.shape)}")
    targets = soft_targets(y_soft, logits.shape[1]) if not y_soft.is_floating_point() else y_soft
    if targets.shape != logits.shape:
        raise ValueError(f"`y_soft` must have the shape of `logits` {tuple(logits.shape)}, got {tuple(targets.shape)}")
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
