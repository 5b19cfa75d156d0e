from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fitguard.data.images import decode_image, decode_images, find_layout


def test_layouts_with_and_without_splits_and_a_wrapping_folder():
    assert find_layout(["b/2.png", "a/1.jpg", "a/.DS_Store", "__MACOSX/a/._1.jpg"], "r") == {
        "pool": {"a": ["a/1.jpg"], "b": ["b/2.png"]}
    }
    assert find_layout(["train/a/1.png", "test/a/2.png", "train/b/3.JPEG"], "r") == {
        "test": {"a": ["test/a/2.png"]},
        "train": {"a": ["train/a/1.png"], "b": ["train/b/3.JPEG"]},
    }
    assert find_layout(["cifar/train/a/1.png", "cifar/train/b/2.png"], "r") == {
        "train": {"a": ["cifar/train/a/1.png"], "b": ["cifar/train/b/2.png"]}
    }


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "no images found in r; expected <class>/<image> (.png, .jpg, .jpeg)"),
        (["a/1.png", "a/notes.txt"], "a/notes.txt in r is not an image; only .png, .jpg and .jpeg files may be there"),
        (["a/1.png", "top.png"], "unexpected path 'top.png' in r; expected <class>/<image> or "
                                 "<split>/<class>/<image> with split in train/val/test"),
        (["a/1.png", "b/c/2.png"], "unexpected path 'b/c/2.png' in r; expected <class>/<image> or "
                                   "<split>/<class>/<image> with split in train/val/test"),
    ],
)
def test_bad_layouts_are_explained(files, message):
    with pytest.raises(ValueError) as error:
        find_layout(files, "r")
    assert str(error.value) == message


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_keeps_pixels_and_channels():
    rgb = np.random.default_rng(0).integers(0, 256, (4, 3, 3), dtype=np.uint8)
    grey = rgb[:, :, 0].copy()
    assert np.array_equal(decode_image(png(rgb), "x"), rgb)
    assert np.array_equal(decode_image(png(grey), "x"), grey[:, :, None])
    assert decode_image(png(rgb), "x", image_size=(8, 6)).shape == (8, 6, 3)


def test_corrupt_file_is_named():
    with pytest.raises(ValueError) as error:
        decode_image(b"not an image", "root/cat/1.png")
    assert str(error.value) == "root/cat/1.png is not a readable PNG or JPEG image; remove or replace it"


def test_mixed_sizes_are_refused_unless_resized():
    files = {"a.png": png(np.zeros((4, 3), np.uint8)), "b.png": png(np.zeros((5, 3), np.uint8))}
    with pytest.raises(ValueError) as error:
        decode_images(list(files), files.__getitem__, str)
    assert str(error.value) == (
        "images differ in size: a.png is 4x3 but b.png is 5x3 (height x width); "
        "pass image_size=(height, width) to resize all"
    )
    assert decode_images(list(files), files.__getitem__, str, image_size=(4, 4)).shape == (2, 1, 4, 4)


def test_greyscale_among_colour_is_promoted():
    files = {"a.png": png(np.full((2, 2, 3), 9, np.uint8)), "b.png": png(np.full((2, 2), 7, np.uint8))}
    out = decode_images(list(files), files.__getitem__, str)
    assert out.shape == (2, 3, 2, 2)
    assert np.all(out[1] == 7)
