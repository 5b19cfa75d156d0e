from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # One cache per test session: nothing lands in ~/.cache, and MNIST-1D is generated once per session.
    monkeypatch.setenv("FITGUARD_CACHE", str(tmp_path_factory.getbasetemp() / "fitguard-cache"))


def write_images(folder: Path, count: int, size=(6, 5), mode="RGB", seed=0, suffix=".png") -> list[np.ndarray]:
    """Write ``count`` random images into ``folder``; returns their pixels (H, W, C) in file-name order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for i in range(count):
        shape = (size[0], size[1], 3) if mode == "RGB" else size
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}{suffix}")
        arrays.append(pixels if pixels.ndim == 3 else pixels[:, :, None])
    return arrays


def zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """root/<class>/NNN.png: 3 classes x 6 RGB 6x5 images."""
    root = tmp_path / "images"
    for k, name in enumerate(["cat", "dog", "fox"]):
        write_images(root / name, 6, seed=k)
    return root


@pytest.fixture
def make_images():
    return write_images


@pytest.fixture
def make_zip():
    return zip_folder
