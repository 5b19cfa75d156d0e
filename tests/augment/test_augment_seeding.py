"""seeded_global_rng: kornia's global draws become a function of an explicit generator, and nothing leaks."""

from __future__ import annotations

import pytest
import torch

from fitguard.augment.seeding import draw_seed, seeded_global_rng


def test_inside_draws_depend_only_on_the_seed_and_outside_stream_continues() -> None:
    torch.manual_seed(0)
    before = torch.rand(2)
    with seeded_global_rng(draw_seed(torch.Generator().manual_seed(9))):
        inside = torch.rand(3)
    after = torch.rand(2)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(4), torch.cat([before, after]))  # the global stream never noticed
    with seeded_global_rng(draw_seed(torch.Generator().manual_seed(9))):
        assert torch.equal(torch.rand(3), inside)


def test_generator_must_be_a_generator() -> None:
    with pytest.raises(ValueError) as error:
        draw_seed(3)
    assert str(error.value) == "`generator` must be None or a torch.Generator, got int"
