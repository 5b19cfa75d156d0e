"""save_augmented: files, a manifest whose parameters reproduce every saved image, a contact sheet, no clobbering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fitguard.augment import ImageAugment, images, save_augmented
from fitguard.augment.save import to_uint8
from fitguard.errors import FitguardError


def pixels() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (5, 3, 12, 12), generator=g).float(), torch.tensor([0, 1, 2, 1, 0])


def test_manifest_parameters_reproduce_every_saved_image(tmp_path: Path) -> None:
    X, y = pixels()
    aug = images(rotate=20, flip=True, scale=0.1, shift=0.1, crop=2, brightness=0.1, noise=0.05, p=0.7)
    path = save_augmented(X, y, aug, tmp_path, 12, prefix="cat", class_names=["a", "b", "c"],
                          sources=[f"img{i}.png" for i in range(5)], seed=3, batch_size=5)
    manifest = json.loads(path.read_text())
    assert manifest["pixel_scale"] == 255.0 and len(manifest["outputs"]) == 12
    replayer = ImageAugment(**manifest["augment"])
    for entry in manifest["outputs"]:
        assert entry["file"] == f"cat_{entry['index']:02d}_{entry['class_name']}.png"
        assert entry["label"] == int(y[entry["source_index"]]) and entry["source"] == f"img{entry['source_index']}.png"
        source = X[entry["source_index"]][None] / manifest["pixel_scale"]
        expected = to_uint8(replayer.replay(source, [entry]))[0]
        saved = np.asarray(Image.open(tmp_path / entry["file"]))
        assert np.array_equal(saved, expected), entry["file"]
    sheet = Image.open(tmp_path / manifest["contact_sheet"])
    assert sheet.size[1] == 2 * (12 * 4 + 4)


def test_every_source_is_used_before_any_repeats(tmp_path: Path) -> None:
    X, y = pixels()
    manifest = json.loads(save_augmented(X, y, images(flip=True), tmp_path, 10).read_text())
    sources = [entry["source_index"] for entry in manifest["outputs"]]
    assert sorted(sources[:5]) == sorted(sources[5:]) == [0, 1, 2, 3, 4]


def test_jpeg_and_greyscale(tmp_path: Path) -> None:
    X = torch.rand(3, 1, 8, 8)
    save_augmented(X, torch.tensor([1, 1, 1]), images(flip=True), tmp_path, 3, image_format="jpeg")
    files = sorted(p.name for p in tmp_path.glob("*.jpeg"))
    assert files == ["data_0_1.jpeg", "data_1_1.jpeg", "data_2_1.jpeg"]
    assert Image.open(tmp_path / files[0]).mode == "L"


def test_refuses_a_non_empty_folder_unless_overwrite(tmp_path: Path) -> None:
    X, y = pixels()
    save_augmented(X, y, images(flip=True), tmp_path, 4)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FitguardError) as error:
        save_augmented(X, y, images(flip=True), tmp_path, 2)
    assert str(error.value) == f"{tmp_path} is not empty; choose an empty folder or pass overwrite=True (--overwrite)"
    path = save_augmented(X, y, images(flip=True), tmp_path, 2, overwrite=True)
    written = [entry["file"] for entry in json.loads(path.read_text())["outputs"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["contact_sheet.png", "manifest.json", "notes.txt", *written]
    )
    assert len(written) == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"  # what fitguard did not write stays


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(count=0), "`count` must be an integer >= 1, got 0"),
        (dict(image_format="gif"), "`image_format` must be 'png' or 'jpeg', got 'gif'"),
        (dict(prefix="a/b"), "`prefix` must be a non-empty name of letters, digits, '_', '-' or '.', got 'a/b'"),
        (dict(class_names=["a"]), "`class_names` has 1 names, but `y` holds label 2"),
        (dict(X=-torch.ones(5, 3, 4, 4)),
         "`X` must hold raw pixels in [0, 1] or [0, 255], got values from -1.0 to -1.0"),
        (dict(augment="flip"), "`augment` must be an ImageAugment from fitguard.augment.images(...), got str"),
    ],
)
def test_errors_are_named(tmp_path: Path, kwargs: dict, message: str) -> None:
    X, y = pixels()
    arguments = dict(X=X, y=y, augment=images(flip=True), count=3) | kwargs
    with pytest.raises(ValueError) as error:
        save_augmented(out_dir=tmp_path, **arguments)
    assert str(error.value) == message
