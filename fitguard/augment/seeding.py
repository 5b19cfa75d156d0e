"""Reproducible randomness for kornia, which draws from torch's *global* RNG and takes no generator.

Each augmentation call draws one integer seed from the caller's explicit ``torch.Generator``, then runs kornia
inside ``torch.random.fork_rng`` with the global RNG seeded to it. Two things follow: the same generator state
gives the same batch bit for bit, and the caller's global RNG stream (dropout masks, weight init) is left exactly
where it was, so switching augmentation on does not silently change every other random draw in training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from fitguard._validation import check_type

SEED_BOUND = 2**62  # fits int64 and JSON integers read back by any language with 64-bit ints


def draw_seed(generator: torch.Generator | None = None) -> int:
    """One seed in [0, 2**62) drawn from ``generator`` (torch's global RNG when None).

    Args:
        generator: the source of the draw; None (default): torch's global RNG.

    Raises:
        ValueError: a ``generator`` that is not a ``torch.Generator``.

    Example:
        >>> draw_seed(torch.Generator().manual_seed(0)) == draw_seed(torch.Generator().manual_seed(0))
        True
    """
    check_type("generator", generator, torch.Generator, none_ok=True, what="a torch.Generator")
    device = generator.device if generator is not None else None  # a CUDA generator draws on its own device
    return int(torch.randint(0, SEED_BOUND, (1,), generator=generator, device=device).item())


@contextmanager
def seeded_global_rng(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Seed the global CPU RNG (and ``device``'s, if CUDA) to ``seed`` inside; restore both on exit.

    Args:
        seed: the seed both RNGs get inside.
        device: the device whose CUDA RNG is seeded too, when it is a CUDA device (default "cpu": the CPU RNG only).

    Example:
        >>> with seeded_global_rng(3):
        ...     a = torch.rand(2)
        >>> with seeded_global_rng(3):
        ...     b = torch.rand(2)
        >>> bool((a == b).all())
        True
    """
    device = torch.device(device)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield
