"""add_background_class: a new last class of noise, blank and shuffled-patch images in the data's range."""

from __future__ import annotations

import pytest
import torch

from fitguard.augment import add_background_class


def data() -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.arange(10 * 3 * 8 * 8, dtype=torch.float32).view(10, 3, 8, 8) % 251  # every pixel value distinct-ish
    return X, torch.arange(10) % 3


def test_adds_count_images_of_a_new_class_in_the_data_range() -> None:
    X, y = data()
    X2, y2 = add_background_class(X, y, 3, 7, generator=torch.Generator().manual_seed(0))
    assert tuple(X2.shape) == (17, 3, 8, 8) and torch.equal(X2[:10], X) and torch.equal(y2[:10], y)
    assert y2[10:].tolist() == [3] * 7
    assert float(X2.min()) >= float(X.min()) and float(X2.max()) <= float(X.max())


def test_blank_images_are_flat_and_crops_are_made_of_real_patches() -> None:
    X, y = data()
    blank, _ = add_background_class(X, y, 3, 2, kinds=("blank",), generator=torch.Generator().manual_seed(0))
    assert all(int(torch.unique(img).numel()) == 1 for img in blank[10:])
    crops, _ = add_background_class(X, y, 3, 3, kinds=("crops",), generator=torch.Generator().manual_seed(0), patches=2)
    values = set(X.flatten().tolist())
    assert set(crops[10:].flatten().tolist()) <= values  # nothing invented: every pixel is copied from the data


def test_same_generator_same_images() -> None:
    X, y = data()
    a, _ = add_background_class(X, y, 3, 6, generator=torch.Generator().manual_seed(1))
    b, _ = add_background_class(X, y, 3, 6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_classes=2), "`y` holds label 2, but `num_classes` is 2; labels must be below it"),
        (dict(count=0), "`count` must be an integer >= 1, got 0"),
        (dict(kinds=("noise", "stripes")),
         "`kinds` must be a non-empty list of distinct names from ('noise', 'blank', 'crops'), "
         "got ('noise', 'stripes')"),
        (dict(patches=9), "`patches` must be an integer from 1 to the image side 8, got 9"),
    ],
)
def test_errors_are_named(kwargs: dict, message: str) -> None:
    X, y = data()
    arguments = dict(num_classes=3, count=4) | kwargs
    with pytest.raises(ValueError) as error:
        add_background_class(X, y, **arguments)
    assert str(error.value) == message
