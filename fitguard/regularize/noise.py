"""Gaussian noise on weights (during training forward passes) and on input features (training batches).

Weight noise follows the perturb / restore protocol: the Trainer calls ``perturb`` before the training forward
pass and ``restore`` after ``backward`` and before ``optimizer.step``, so the gradient is taken at the noisy
weights and applied to the clean ones. The clean weights are kept as copies and written back bit for bit, so
evaluation, checkpoints and saved models never see noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from fitguard._validation import check_bool
from fitguard.errors import FitguardError
from fitguard.regularize.selection import NamedParameters, check_layers, check_nonnegative, select_parameters


def gaussian_like(
    tensor: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """``sigma * N(0, 1)`` noise of ``tensor``'s shape, drawn from ``generator`` and moved to its device.

    Args:
        tensor: gives the shape, dtype and the device the noise ends on.
        sigma: the standard deviation, a number or a tensor that broadcasts against ``tensor``.
        generator: the source of the draw (on its own device); None: torch's global generator on ``tensor``'s device.

    Example:
        >>> noise = gaussian_like(torch.zeros(10_000), 0.5, torch.Generator().manual_seed(0))
        >>> round(noise.std().item(), 1)
        0.5
    """
    device = generator.device if generator is not None else tensor.device
    standard = torch.randn(tensor.shape, generator=generator, device=device, dtype=tensor.dtype)
    return standard.to(tensor.device) * sigma


class WeightNoise:
    """Add ``N(0, sigma²)`` to the selected weights for each training forward pass.

    With ``relative=True`` the standard deviation is ``sigma`` times each tensor's own (population) standard
    deviation, measured on the clean weights at every step, so one ``sigma`` suits layers of any scale.

    Args:
        sigma: Standard deviation of the noise, a finite number >= 0: in weight units, or a multiple of each
            tensor's own standard deviation when ``relative``.
        relative: Scale the noise by each selected tensor's population standard deviation. Default False.
        layers: An fnmatch glob or list of globs over parameter names; None (default): every weight matrix and
            kernel (``*weight`` with two or more dimensions), never biases.

    Example:
        >>> model = nn.Linear(3, 2)
        >>> noise = WeightNoise(0.1)
        >>> params = noise.select(model)
        >>> clean = model.weight.detach().clone()
        >>> noise.perturb(params, torch.Generator().manual_seed(0))
        >>> bool(torch.equal(model.weight, clean))
        False
        >>> noise.restore(params)
        >>> bool(torch.equal(model.weight, clean))
        True
    """

    def __init__(self, sigma: float, relative: bool = False, layers: str | Sequence[str] | None = None) -> None:
        check_nonnegative("sigma", sigma)
        check_bool("relative", relative)
        self.sigma = sigma
        self.relative = relative
        self.layers = layers
        self._globs = check_layers(layers)
        # Copies of the clean weights, allocated once and reused every step; `_perturbed` says they are live.
        self._clean: list[torch.Tensor] = []
        self._perturbed = False

    def select(self, model: nn.Module) -> NamedParameters:
        """The ``(name, parameter)`` pairs to perturb (default: weight matrices and kernels).

        Args:
            model: the network whose parameters ``layers`` selects.
        """
        return select_parameters(model, self._globs)

    @torch.no_grad()
    def perturb(self, params: NamedParameters, generator: torch.Generator | None = None) -> None:
        """Save the clean weights, then add noise in place.

        Args:
            params: what :meth:`select` returned.
            generator: the source of the noise; None (default): torch's global generator on each parameter's device.

        Raises:
            FitguardError: when called twice without :meth:`restore` in between.
        """
        if self._perturbed:
            raise FitguardError("WeightNoise.perturb() called twice without restore(); the clean weights would be lost")
        if [(c.shape, c.dtype, c.device) for c in self._clean] != [(p.shape, p.dtype, p.device) for _, p in params]:
            self._clean = [p.detach().clone() for _, p in params]
        else:
            for clean, (_, parameter) in zip(self._clean, params):
                clean.copy_(parameter)
        self._perturbed = True
        for _, parameter in params:
            scale: float | torch.Tensor = self.sigma
            if self.relative:
                scale = self.sigma * parameter.std(correction=0)
            parameter.add_(gaussian_like(parameter, scale, generator))

    @torch.no_grad()
    def restore(self, params: NamedParameters) -> None:
        """Write the clean weights back (bit-exact); gradients computed at the noisy weights are kept.

        Args:
            params: the same pairs :meth:`perturb` was given.

        Raises:
            FitguardError: without a :meth:`perturb` before it, or with a different number of parameters.
        """
        if not self._perturbed:
            raise FitguardError("WeightNoise.restore() called without a perturb() before it")
        if len(self._clean) != len(params):
            raise FitguardError(
                f"WeightNoise.restore() got {len(params)} parameters but perturb() saved {len(self._clean)}"
            )
        for (_, parameter), clean in zip(params, self._clean):
            parameter.copy_(clean)
        self._perturbed = False

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``WeightNoise(**config)`` builds an equal one."""
        return {"sigma": self.sigma, "relative": self.relative, "layers": self.layers}

    def __repr__(self) -> str:
        return f"WeightNoise(sigma={self.sigma!r}, relative={self.relative!r}, layers={self.layers!r})"


class InputNoise:
    """Add ``N(0, sigma²)`` to every feature of a training batch (tabular data, standardized features).

    Features standardized on the training split have unit variance, so ``sigma`` reads in standard deviations.
    Apply it to training batches only.

    Args:
        sigma: Standard deviation of the noise added to each feature, a finite number >= 0 (0 returns the
            batch unchanged).

    Example:
        >>> x = torch.zeros(4, 3)
        >>> noisy = InputNoise(0.1)(x, torch.Generator().manual_seed(0))
        >>> noisy.shape, bool(torch.equal(x, torch.zeros(4, 3)))
        (torch.Size([4, 3]), True)
    """

    def __init__(self, sigma: float) -> None:
        check_nonnegative("sigma", sigma)
        self.sigma = sigma

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not x.is_floating_point():
            raise ValueError(f"InputNoise needs floating-point features, got a tensor of dtype {x.dtype}")
        if self.sigma == 0:
            return x
        return x + gaussian_like(x, self.sigma, generator)

    def augment(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The Trainer's ``augment(x, y, generator)`` form: noisy features, targets unchanged.

        Args:
            x: a batch of floating-point features.
            y: the batch's targets, returned as they are.
            generator: the source of the noise; None (default): torch's global generator on ``x``'s device.
        """
        return self(x, generator), y

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, so that ``InputNoise(**config)`` builds an equal one."""
        return {"sigma": self.sigma}

    def __repr__(self) -> str:
        return f"InputNoise(sigma={self.sigma!r})"
