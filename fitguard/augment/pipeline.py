"""Batched image augmentation on the training device, built on ``kornia.augmentation``.

One call transforms a whole (B, C, H, W) batch where it already lives (CPU or GPU): no per-sample Python, no
DataLoader workers. Randomness comes from an explicit ``torch.Generator`` (see ``seeding``), and ``sample``
also returns, per image, the exact parameters kornia drew, which ``replay`` applies again bit for bit; that is
what the ``fitguard augment`` manifest stores.
"""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch

from fitguard._validation import check_bool, check_int, check_number
from fitguard.augment.checks import check_fraction, check_images, check_rotate, check_scale, check_shift
from fitguard.augment.records import Record, replay_step, rows_of
from fitguard.augment.seeding import draw_seed, seeded_global_rng

Range = tuple[float, float]


class ImageAugment:
    """Random rotate / flip / scale / shift / crop / brightness / contrast / erasing / noise for image batches.

    Each transform is applied to each image independently with probability ``p`` (``crop`` to every image).
    Geometric transforms never touch the labels. Values are in the units of the data: kornia's intensity
    transforms assume pixels in [0, 1], and nothing is clamped, so standardized inputs stay valid.

    Args:
        rotate: Rotation in degrees: r in [0, 360] for a uniform angle in [-r, r], or a (min, max) pair within
            [-360, 360]. Default 0 (none).
        flip: Mirror left-right. Default False.
        vflip: Mirror up-down. Default False.
        scale: Zoom factor: s in [0, 1) for [1 - s, 1 + s], or a (min, max) pair with 0 < min <= max; None
            (default): no zoom.
        shift: Translation as a fraction of width and height in [0, 1), one number or a (horizontal, vertical)
            pair. Default 0 (none).
        crop: Pad by this many pixels (>= 1) and cut a random window of the original size, applied to every
            image; None (default): no crop.
        brightness: b in [0, 1]: a random brightness shift in [-b, b] (kornia's, unclamped). Default 0 (none).
        contrast: c in [0, 1): multiply by a factor in [1 - c, 1 + c]. Default 0 (none).
        erase: 0 (default, off) or the largest share of an image, in (0.02, 1], a random rectangle set to 0 may
            cover.
        noise: Standard deviation (>= 0, pixel units) of added Gaussian noise. Default 0 (none).
        p: Probability in [0, 1] that each transform hits each image (not ``crop``). Default 0.5.
        seed: Seeds this object's generator (>= 0), used when a call passes none; None (default): torch's global
            generator then.

    Raises:
        ValueError: any value outside the ranges above.

    Example:
        >>> aug = ImageAugment(rotate=15, flip=True, seed=0)
        >>> x, y = aug(torch.rand(4, 3, 8, 8), torch.arange(4))
        >>> tuple(x.shape), y.tolist()
        ((4, 3, 8, 8), [0, 1, 2, 3])
    """

    def __init__(
        self,
        *,
        rotate: float | Range = 0.0,
        flip: bool = False,
        vflip: bool = False,
        scale: float | Range | None = None,
        shift: float | Range = 0.0,
        crop: int | None = None,
        brightness: float = 0.0,
        contrast: float = 0.0,
        erase: float = 0.0,
        noise: float = 0.0,
        p: float = 0.5,
        seed: int | None = None,
    ) -> None:
        self._degrees = check_rotate(rotate)
        for name, value in (("flip", flip), ("vflip", vflip)):
            check_bool(name, value)
        self._scale = None if scale is None else check_scale(scale)
        self._shift = check_shift(shift)
        check_int("crop", crop, low=1, none_ok=True)
        check_fraction("brightness", brightness, upper_open=False)
        check_fraction("contrast", contrast, upper_open=True)
        if isinstance(erase, bool) or not isinstance(erase, (int, float)) or not (erase == 0 or 0.02 < erase <= 1):
            raise ValueError(f"`erase` must be 0 (off) or the largest erased share of an image in (0.02, 1], "
                             f"got {erase!r}")
        check_number("noise", noise, low=0)
        check_fraction("p", p, upper_open=False)
        check_int("seed", seed, low=0, none_ok=True)
        self.rotate, self.flip, self.vflip, self.scale, self.shift = rotate, flip, vflip, scale, shift
        self.crop, self.brightness, self.contrast, self.erase, self.noise, self.p, self.seed = (
            crop, brightness, contrast, erase, noise, p, seed
        )
        self._steps = self._build_steps()
        self._crops: dict[tuple[int, int], K.RandomCrop] = {}
        self._noise = K.RandomGaussianNoise(mean=0.0, std=float(noise), p=p) if noise > 0 else None
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)
        self._device = torch.device("cpu")

    def _build_steps(self) -> dict[str, K.AugmentationBase2D]:
        steps: dict[str, K.AugmentationBase2D] = {}
        if self._degrees != (0.0, 0.0) or self._scale is not None or self._shift != (0.0, 0.0):
            steps["affine"] = K.RandomAffine(
                degrees=self._degrees,
                translate=None if self._shift == (0.0, 0.0) else self._shift,
                scale=self._scale,
                p=self.p,
            )
        if self.flip:
            steps["flip"] = K.RandomHorizontalFlip(p=self.p)
        if self.vflip:
            steps["vflip"] = K.RandomVerticalFlip(p=self.p)
        if self.brightness > 0:
            steps["brightness"] = K.RandomBrightness(
                (1 - self.brightness, 1 + self.brightness), clip_output=False, p=self.p
            )
        if self.contrast > 0:
            steps["contrast"] = K.RandomContrast((1 - self.contrast, 1 + self.contrast), clip_output=False, p=self.p)
        if self.erase > 0:
            # cutout / random erasing (DeVries & Taylor 2017; Zhong et al. 2020): a rectangle of 2% up to `erase`
            # of the image, aspect 0.3 to 3.3, set to 0 -- the mean of standardized inputs
            steps["erase"] = K.RandomErasing(scale=(0.02, float(self.erase)), ratio=(0.3, 3.3), value=0.0, p=self.p)
        return steps

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``ImageAugment(**config)`` builds an equal pipeline."""
        return {
            "rotate": self.rotate, "flip": self.flip, "vflip": self.vflip, "scale": self.scale,
            "shift": self.shift, "crop": self.crop, "brightness": self.brightness, "contrast": self.contrast,
            "erase": self.erase, "noise": self.noise, "p": self.p, "seed": self.seed,
        }

    def __repr__(self) -> str:
        return "images(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment ``x``; ``y`` comes back untouched (no transform here moves the label)."""
        return self._run(x, generator, record=False)[0], y

    def sample(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, list[Record]]:
        """Augment ``x`` and return, per image, the JSON-ready parameters drawn (for ``replay``).

        Args:
            x: a batch of images (N, C, H, W).
            generator: the source of the draws; None (default): the pipeline's own (from its ``seed``).

        Returns:
            The augmented images and one record per image.
        """
        return self._run(x, generator, record=True)

    def replay(self, x: torch.Tensor, records: list[Record]) -> torch.Tensor:
        """Apply recorded parameters to ``x`` (one record per image): the same output ``sample`` gave.

        Args:
            x: a batch of images (N, C, H, W).
            records: what :meth:`sample` returned for these images, one per image.

        Raises:
            ValueError: when ``records`` does not hold one record per image.
        """
        check_images(x)
        if len(records) != x.shape[0]:
            raise ValueError(f"`records` must hold one record per image, got {len(records)} for {x.shape[0]} images")
        self._to_device(x.device)
        for name, step in self._all_steps(x).items():
            x = replay_step(name, step, x, records)
        return x

    def _run(
        self, x: torch.Tensor, generator: torch.Generator | None, record: bool
    ) -> tuple[torch.Tensor, list[Record]]:
        check_images(x)
        generator = generator if generator is not None else self._generator
        seed, noise_seed = draw_seed(generator), draw_seed(generator)
        self._to_device(x.device)
        records: list[Record] = [{"row": i, "steps": {}} for i in range(x.shape[0])] if record else []
        shape = list(x.shape)
        with seeded_global_rng(seed, x.device):
            for name, step in self._all_steps(x).items():
                if name == "noise":
                    continue
                x = step(x)
                if record:
                    for r, row in zip(records, rows_of(step._params, len(records))):
                        r["steps"][name] = row
        if self._noise is not None:
            # Its own seed, so one image's noise is regenerated from (seed, batch shape, row) without
            # storing B*C*H*W floats in the manifest.
            with seeded_global_rng(noise_seed, x.device):
                x = self._noise(x)
            if record:
                gates = self._noise._params["batch_prob"].tolist()
                for r in records:
                    r["steps"]["noise"] = {"batch_prob": gates[r["row"]], "seed": noise_seed, "batch_shape": shape}
        return x, records

    def _all_steps(self, x: torch.Tensor) -> dict[str, K.AugmentationBase2D]:
        steps: dict[str, K.AugmentationBase2D] = {}
        if self.crop is not None:
            size = (int(x.shape[2]), int(x.shape[3]))
            if size not in self._crops:
                # kornia's crop gate is per batch, not per image, so it always runs; a centred window is the identity.
                self._crops[size] = K.RandomCrop(size, padding=self.crop, p=1.0).to(self._device)
            steps["crop"] = self._crops[size]
        steps.update(self._steps)
        if self._noise is not None:
            steps["noise"] = self._noise
        return steps

    def _to_device(self, device: torch.device) -> None:
        # kornia draws its parameters on its modules' device; keeping them with the batch avoids a host round trip.
        if device != self._device:
            for step in [*self._steps.values(), *self._crops.values(), *([self._noise] if self._noise else [])]:
                step.to(device)
            self._device = device


def images(
    rotate: float | Range = 0.0,
    flip: bool = False,
    vflip: bool = False,
    scale: float | Range | None = None,
    shift: float | Range = 0.0,
    crop: int | None = None,
    brightness: float = 0.0,
    contrast: float = 0.0,
    erase: float = 0.0,
    noise: float = 0.0,
    p: float = 0.5,
    seed: int | None = None,
) -> ImageAugment:
    """Build an :class:`ImageAugment`.

    ``rotate``: degrees, a number r for uniform in [-r, r] or a (min, max) pair; ``rotate=(90, 90)`` equals
    ``torch.rot90(x, k=-1, dims=(2, 3))`` (clockwise as displayed, row 0 at the top).
    ``flip`` / ``vflip``: left-right / up-down mirror. ``scale``: zoom factor, s for [1 - s, 1 + s] or a
    (min, max) pair. ``shift``: fraction of width/height, one number or (horizontal, vertical).
    ``crop``: pad by this many pixels and cut a random window of the original size (the CIFAR recipe).
    ``brightness``: add a uniform shift in [-b, b]. ``contrast``: multiply by a factor in [1 - c, 1 + c].
    ``erase``: cutout / random erasing, a rectangle of 2% up to this share of the image set to 0 (the mean of
    standardized inputs).
    ``noise``: Gaussian noise of this standard deviation. ``p``: chance each transform hits each image.
    ``seed``: seeds the generator used when a call passes none.

    Args:
        rotate: Rotation in degrees: r in [0, 360] for a uniform angle in [-r, r], or a (min, max) pair within
            [-360, 360]. Default 0 (none).
        flip: Mirror left-right. Default False.
        vflip: Mirror up-down. Default False.
        scale: Zoom factor: s in [0, 1) for [1 - s, 1 + s], or a (min, max) pair with 0 < min <= max; None
            (default): no zoom.
        shift: Translation as a fraction of width and height in [0, 1), one number or a (horizontal, vertical)
            pair. Default 0 (none).
        crop: Pad by this many pixels (>= 1) and cut a random window of the original size, applied to every
            image; None (default): no crop.
        brightness: b in [0, 1]: a random brightness shift in [-b, b] (kornia's, unclamped). Default 0 (none).
        contrast: c in [0, 1): multiply by a factor in [1 - c, 1 + c]. Default 0 (none).
        erase: 0 (default, off) or the largest share of an image, in (0.02, 1], a random rectangle set to 0 may
            cover.
        noise: Standard deviation (>= 0, pixel units) of added Gaussian noise. Default 0 (none).
        p: Probability in [0, 1] that each transform hits each image (not ``crop``). Default 0.5.
        seed: Seeds this object's generator (>= 0), used when a call passes none; None (default): torch's global
            generator then.

    Raises:
        ValueError: any value outside the ranges above.

    Example:
        >>> aug = images(rotate=15, flip=True, scale=(0.9, 1.1), shift=0.1, seed=0)
        >>> aug(torch.rand(2, 1, 8, 8), torch.tensor([3, 5]))[1].tolist()
        [3, 5]
    """
    return ImageAugment(
        rotate=rotate, flip=flip, vflip=vflip, scale=scale, shift=shift, crop=crop, brightness=brightness,
        contrast=contrast, erase=erase, noise=noise, p=p, seed=seed,
    )
