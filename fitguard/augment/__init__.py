"""Data augmentation: batched image transforms on the device (kornia), mixup/cutmix, background class, saving.

Every augmentation is called as ``augment(x, y, generator) -> (x, y)``; the Trainer applies it to training
batches only.

Example:
    >>> import torch
    >>> from fitguard import augment
    >>> chain = augment.Compose([augment.images(rotate=15, flip=True), augment.mixup(0.2, num_classes=10)])
    >>> x, y = chain(torch.rand(8, 3, 32, 32), torch.arange(8), torch.Generator().manual_seed(0))
    >>> tuple(y.shape)
    (8, 10)
"""

from __future__ import annotations

from fitguard.augment.background import add_background_class
from fitguard.augment.compose import Compose
from fitguard.augment.mixing import CutMix, MixUp, cutmix, mixup, soft_cross_entropy, soft_targets
from fitguard.augment.pipeline import ImageAugment, images
from fitguard.augment.save import save_augmented

__all__ = [
    "Compose",
    "CutMix",
    "ImageAugment",
    "MixUp",
    "add_background_class",
    "cutmix",
    "images",
    "mixup",
    "save_augmented",
    "soft_cross_entropy",
    "soft_targets",
]
