"""images(...): geometric transforms against torch's own rot90/flip, reproducibility, records, validation."""

from __future__ import annotations

import json

import pytest
import torch

from fitguard.augment import ImageAugment, images

FULL = dict(rotate=15, flip=True, vflip=True, scale=0.1, shift=0.1, crop=2, brightness=0.2, contrast=0.2, erase=0.3,
            noise=0.1)


def batch(n: int = 6, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(42))


def test_rotation_by_90_degrees_equals_rot90() -> None:
    x = batch()
    out, _ = images(rotate=(90, 90), p=1.0)(x, torch.arange(6), torch.Generator().manual_seed(0))
    # kornia's positive angle turns clockwise as displayed, which is rot90's negative direction
    torch.testing.assert_close(out, torch.rot90(x, k=-1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_flips_equal_torch_flip() -> None:
    x, g = batch(), torch.Generator().manual_seed(0)
    torch.testing.assert_close(images(flip=True, p=1.0)(x, torch.arange(6), g)[0], torch.flip(x, dims=(3,)))
    torch.testing.assert_close(images(vflip=True, p=1.0)(x, torch.arange(6), g)[0], torch.flip(x, dims=(2,)))


def test_p_is_the_share_of_images_hit() -> None:
    x = torch.rand(2000, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out, _ = images(flip=True, p=0.3)(x, torch.zeros(2000), torch.Generator().manual_seed(1))
    flipped = (out == torch.flip(x, dims=(3,))).flatten(1).all(1) & ~(out == x).flatten(1).all(1)
    assert abs(flipped.float().mean().item() - 0.3) < 0.04


@pytest.mark.parametrize("config", [dict(rotate=30), dict(flip=True, vflip=True), dict(scale=0.2, shift=0.2), FULL])
def test_labels_are_never_changed(config: dict) -> None:
    y = torch.tensor([3, 1, 4, 1, 5, 9])
    _, out_y = images(p=1.0, **config)(batch(), y.clone(), torch.Generator().manual_seed(0))
    assert torch.equal(out_y, y)


def test_same_seed_same_batch_and_different_seeds_differ() -> None:
    aug, x, y = images(**FULL), batch(), torch.arange(6)
    first = aug(x, y, torch.Generator().manual_seed(7))[0]
    again = aug(x, y, torch.Generator().manual_seed(7))[0]
    other = aug(x, y, torch.Generator().manual_seed(8))[0]
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_seed_argument_makes_a_fresh_object_repeat_itself() -> None:
    x, y = batch(), torch.arange(6)
    a, b = images(**FULL, seed=3), images(**FULL, seed=3)
    assert torch.equal(a(x, y)[0], b(x, y)[0])
    assert torch.equal(a(x, y)[0], b(x, y)[0])  # second calls match too: both generators advanced alike


def test_global_rng_is_left_untouched() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    images(**FULL)(batch(), torch.arange(6), torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(3), expected)


def test_records_replay_the_batch_exactly_after_a_json_round_trip() -> None:
    aug, x = images(**FULL, p=0.5), batch()
    out, records = aug.sample(x, torch.Generator().manual_seed(5))
    records = json.loads(json.dumps(records))
    assert torch.equal(aug.replay(x, records), out)
    # one image alone, with a fresh object built from the config: same pixels
    fresh = ImageAugment(**aug.get_config())
    assert torch.equal(fresh.replay(x[3:4], records[3:4]), out[3:4])


def test_erase_zeroes_one_rectangle_of_the_asked_share_and_leaves_the_rest() -> None:
    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)) + 0.1  # no pixel is 0 before
    out = images(erase=0.3, p=1.0)(x, torch.arange(8), torch.Generator().manual_seed(0))[0]
    for image, original in zip(out, x):
        erased = (image == 0).all(0)  # every channel of a pixel erased together
        rows, columns = erased.any(1).nonzero().ravel(), erased.any(0).nonzero().ravel()
        height, width = int(rows.max() - rows.min() + 1), int(columns.max() - columns.min() + 1)
        assert int(erased.sum()) == height * width                     # one filled rectangle
        assert 0.01 * 32 * 32 <= height * width <= 0.32 * 32 * 32       # 2% to 30% of the image, up to rounding
        assert torch.equal(image[:, ~erased], original[:, ~erased])     # nothing else touched


def test_records_name_the_drawn_parameters() -> None:
    _, records = images(rotate=(10, 10), flip=True, p=1.0).sample(batch(2), torch.Generator().manual_seed(0))
    assert records[0]["steps"]["affine"]["angle"] == pytest.approx(10.0)
    assert records[0]["steps"]["flip"] == {"batch_prob": 1.0}


def test_get_config_round_trips() -> None:
    aug = images(**FULL, p=0.25, seed=4)
    assert ImageAugment(**aug.get_config()).get_config() == aug.get_config()
    assert repr(aug).startswith("images(rotate=15, flip=True")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(rotate=-5), "`rotate` must be degrees r in [0, 360] (for [-r, r]) or a (min, max) pair with "
                          "-360 <= min <= max <= 360, got -5"),
        (dict(rotate=(20, 10)), "`rotate` must be degrees r in [0, 360] (for [-r, r]) or a (min, max) pair with "
                                "-360 <= min <= max <= 360, got (20, 10)"),
        (dict(flip="yes"), "`flip` must be True or False, got 'yes'"),
        (dict(erase=0.01), "`erase` must be 0 (off) or the largest erased share of an image in (0.02, 1], got 0.01"),
        (dict(vflip=1), "`vflip` must be True or False, got 1"),
        (dict(scale=1.5), "`scale` must be None, s in [0, 1) (for [1 - s, 1 + s]) or a (min, max) pair with "
                          "0 < min <= max, got 1.5"),
        (dict(scale=(0, 1.2)), "`scale` must be None, s in [0, 1) (for [1 - s, 1 + s]) or a (min, max) pair with "
                               "0 < min <= max, got (0, 1.2)"),
        (dict(shift=1.0), "`shift` must be a fraction in [0, 1) or a (horizontal, vertical) pair of them, got 1.0"),
        (dict(crop=0), "`crop` must be None or an integer >= 1, got 0"),
        (dict(brightness=1.5), "`brightness` must be a number in [0, 1], got 1.5"),
        (dict(contrast=1.0), "`contrast` must be a number in [0, 1), got 1.0"),
        (dict(noise=-0.1), "`noise` must be a number >= 0, got -0.1"),
        (dict(p=1.2), "`p` must be a number in [0, 1], got 1.2"),
        (dict(seed=-1), "`seed` must be None or an integer >= 0, got -1"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as error:
        images(**kwargs)
    assert str(error.value) == message


def test_bad_inputs_are_named() -> None:
    aug = images(flip=True)
    with pytest.raises(ValueError) as error:
        aug(torch.rand(3, 8, 8), torch.arange(3))
    assert str(error.value) == (
        "`x` must be a floating-point tensor of shape (B, C, H, W), got shape (3, 8, 8) and dtype torch.float32"
    )
    with pytest.raises(ValueError) as error:
        aug(batch(), torch.arange(6), generator=7)
    assert str(error.value) == "`generator` must be None or a torch.Generator, got int"
    with pytest.raises(ValueError) as error:
        aug.replay(batch(), [])
    assert str(error.value) == "`records` must hold one record per image, got 0 for 6 images"
