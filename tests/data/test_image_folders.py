from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from fitguard.data import from_folder, image_folders, load, read_image_folder
from fitguard.data.image_cache import archive_key, cache_root

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_folder_pixels_labels_and_order(class_folder, make_images):
    raw = read_image_folder(class_folder)["pool"]
    expected = make_images(class_folder / "dog", 6, seed=1)  # rewrites the same files, returns their pixels
    assert raw.inputs.shape == (18, 3, 6, 5) and raw.inputs.dtype == np.uint8
    assert raw.labels.tolist() == ["cat"] * 6 + ["dog"] * 6 + ["fox"] * 6
    assert np.array_equal(raw.inputs[6:12], np.stack(expected).transpose(0, 3, 1, 2))


def test_zip_reads_the_same_as_the_folder_and_is_cached(class_folder, tmp_path, make_zip, monkeypatch):
    archive = make_zip(class_folder, tmp_path / "images.zip", prefix="wrapped/")
    from_dir = read_image_folder(class_folder)["pool"]
    from_zip = read_image_folder(archive)["pool"]
    assert np.array_equal(from_dir.inputs, from_zip.inputs)
    assert from_dir.labels.tolist() == from_zip.labels.tolist()
    assert (cache_root() / f"images-{archive_key(archive, None)}" / "meta.json").is_file()
    monkeypatch.setattr(image_folders, "open_tree", None)  # a cache hit must not even open the archive
    again = read_image_folder(archive)["pool"]
    assert np.array_equal(again.inputs, from_zip.inputs)


def test_limit_per_class_reads_first_files_and_equals_the_cached_slice(class_folder, tmp_path, make_zip):
    archive = make_zip(class_folder, tmp_path / "limit.zip")
    direct = read_image_folder(archive, limit_per_class=2)["pool"]  # no full cache yet: decodes 2 per class
    read_image_folder(archive)  # fills the cache
    sliced = read_image_folder(archive, limit_per_class=2)["pool"]
    full = read_image_folder(archive)["pool"]
    assert direct.labels.tolist() == ["cat", "cat", "dog", "dog", "fox", "fox"]
    assert np.array_equal(direct.inputs, sliced.inputs)
    assert np.array_equal(direct.inputs, full.inputs[[0, 1, 6, 7, 12, 13]])


def test_split_layout_keeps_its_test_split_and_carves_val(tmp_path, make_images):
    root = tmp_path / "split"
    for k, name in enumerate(["a", "b"]):
        make_images(root / "train" / name, 10, seed=k)
        make_images(root / "test" / name, 3, seed=10 + k)
    data = load(root, val=0.2, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (16, 4, 6)
    assert data.class_names == ("a", "b")
    assert data.input_shape == (3, 6, 5)
    assert torch.bincount(data.val.y).tolist() == [2, 2]
    assert sorted(data.raw_test.labels.tolist()) == ["a"] * 3 + ["b"] * 3


def test_greyscale_folder_is_one_channel_and_standardized_per_channel_on_train(tmp_path, make_images):
    root = tmp_path / "grey"
    for k, name in enumerate(["a", "b"]):
        make_images(root / name, 10, size=(4, 4), mode="L", seed=k)
    data = from_folder(root, val=0.2, test=0.2, seed=1)
    assert data.input_shape == (1, 4, 4)
    pixels = data.raw_train.inputs.astype(np.float64) / 255.0
    expected = (pixels - pixels.mean()) / pixels.std()
    np.testing.assert_allclose(data.train.X.numpy(), expected, atol=1e-6)
    assert data.preprocessor.mean == pytest.approx((pixels.mean(),))


def test_image_size_resizes_mixed_sizes(tmp_path, make_images):
    root = tmp_path / "mixed"
    make_images(root / "a", 4, size=(6, 5))
    make_images(root / "b", 4, size=(8, 8))
    with pytest.raises(ValueError) as error:
        from_folder(root)
    assert str(error.value) == (
        f"images differ in size: {root / 'a/000.png'} is 6x5 but {root / 'b/000.png'} is 8x8 (height x width); "
        "pass image_size=(height, width) to resize all"
    )
    data = from_folder(root, image_size=7, val=0.25, test=0.25)
    assert data.input_shape == (3, 7, 7)
    assert data.preprocessor.image_size == (7, 7)


def test_corrupt_image_in_a_zip_is_named(class_folder, tmp_path, make_zip):
    archive = make_zip(class_folder, tmp_path / "corrupt.zip")
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr("dog/999.png", b"garbage")
    with pytest.raises(ValueError) as error:
        read_image_folder(archive)
    assert str(error.value) == f"{archive}:dog/999.png is not a readable PNG or JPEG image; remove or replace it"


def test_zip_bomb_guard_through_the_loader(class_folder, tmp_path, make_zip):
    archive = make_zip(class_folder, tmp_path / "guarded.zip")
    total = sum(info.file_size for info in zipfile.ZipFile(archive).infolist())
    with pytest.raises(ValueError) as error:
        read_image_folder(archive, max_uncompressed_bytes=100)
    assert str(error.value) == (
        f"{archive} would expand to {total} bytes, more than max_uncompressed_bytes=100; "
        "refusing to read it (raise max_uncompressed_bytes if you trust this archive)"
    )


def test_argument_errors(class_folder, tmp_path, make_images):
    for kwargs, message in [
        ({"limit_per_class": 0}, "`limit_per_class` must be None or an integer >= 1, got 0"),
        ({"image_size": (3, 0)}, "`image_size` must be a positive int or (height, width), got (3, 0)"),
    ]:
        with pytest.raises(ValueError) as error:
            read_image_folder(class_folder, **kwargs)
        assert str(error.value) == message
    with pytest.raises(FileNotFoundError) as error:
        read_image_folder(tmp_path / "missing")
    assert str(error.value) == f"image folder or zip {tmp_path / 'missing'} does not exist"
    only = tmp_path / "only"
    make_images(only / "val" / "a", 1)
    make_images(only / "test" / "a", 1)
    with pytest.raises(ValueError) as error:
        read_image_folder(only)
    assert str(error.value) == f"{only} has split folders 'test', 'val' but no 'train' folder to train on"


def test_a_test_class_without_training_images_is_refused(tmp_path, make_images):
    root = tmp_path / "split"
    make_images(root / "train" / "a", 4)
    make_images(root / "train" / "b", 4)
    make_images(root / "test" / "c", 2)
    with pytest.raises(ValueError) as error:
        from_folder(root)
    assert str(error.value) == "classes 'c' appear in the test split but have no training samples"


def test_test_path_must_match_training_image_size(class_folder, tmp_path, make_images):
    other = tmp_path / "other"
    for name in ["cat", "dog", "fox"]:
        make_images(other / name, 2, size=(9, 9))
    with pytest.raises(ValueError) as error:
        from_folder(class_folder, test_path=other)
    assert str(error.value) == (
        f"images in {other} (test) are 9x9, but training images are 6x5; "
        "pass image_size=(height, width) to resize all"
    )


@pytest.mark.skipif(not (SHARED / "cifar10-train.zip").is_file(), reason="shared CIFAR-10 zips not present")
def test_cifar10_zips_load_through_the_general_path():
    data = load(SHARED / "cifar10-train.zip", limit_per_class=4, test_path=SHARED / "cifar10-test.zip",
                test_limit_per_class=2, val=0.25, seed=0)
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    assert data.class_names == names
    assert data.input_shape == (3, 32, 32)
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 20)
    assert torch.bincount(data.test.y).tolist() == [2] * 10
    assert torch.bincount(torch.cat([data.train.y, data.val.y])).tolist() == [4] * 10
    assert torch.equal(data.preprocessor.transform(data.raw_test.inputs), data.test.X)
