"""`fitguard augment` on a tiny PNG folder: files, a manifest that replays each saved image, refusal to clobber."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from fitguard.augment import ImageAugment
from fitguard.augment.save import to_uint8
from fitguard.commands.augment import LOAD_OPTIONS, register
from fitguard.data import load


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def version() -> None:  # a second command keeps typer from collapsing the app into `augment` alone
        pass

    return app


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{i}.png")
    return tmp_path / "images"


def test_writes_images_manifest_and_contact_sheet(app: typer.Typer, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "augment", str(folder), "--count", "8", "--save-to-dir", str(out), "--save-prefix", "pet",
        "--rotate", "20", "--flip", "--shift", "0.1", "--noise", "0.02", "--p", "0.8", "--seed", "4",
    ])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"] == {"source": str(folder), "split": "train", "load_options": LOAD_OPTIONS}
    assert manifest["augment"]["rotate"] == 20.0 and manifest["seed"] == 4
    assert (out / "contact_sheet.png").exists()
    X = load(manifest["data"]["source"], **manifest["data"]["load_options"]).train.X
    replayer = ImageAugment(**manifest["augment"])
    for entry in manifest["outputs"]:
        assert entry["file"] == f"pet_{entry['index']}_{entry['class_name']}.png"
        assert entry["class_name"] in ("cat", "dog")
        expected = to_uint8(replayer.replay(X[entry["source_index"]][None] / manifest["pixel_scale"], [entry]))[0]
        assert np.array_equal(np.asarray(Image.open(out / entry["file"])), expected)
    assert len(list(out.glob("pet_*.png"))) == 8


def test_refuses_a_non_empty_folder_without_overwrite(app: typer.Typer, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = CliRunner().invoke(app, ["augment", str(folder), "--count", "2", "--save-to-dir", str(out), "--flip"])
    assert isinstance(result.exception, ValueError)
    assert str(result.exception) == f"{out} is not empty; choose an empty folder or pass overwrite=True (--overwrite)"
    result = CliRunner().invoke(app, ["augment", str(folder), "--count", "2", "--save-to-dir", str(out), "--flip",
                                      "--overwrite", "--save-format", "jpeg"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("data_*.jpeg"))) == 2 and (out / "keep.txt").exists()


def test_bad_options_are_named(app: typer.Typer, folder: Path, tmp_path: Path) -> None:
    base = ["augment", str(folder), "--save-to-dir", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*base, "--save-format", "gif"])
    assert str(result.exception) == "`--save-format` must be 'png' or 'jpeg', got 'gif'"
    result = CliRunner().invoke(app, [*base, "--p", "2"])
    assert str(result.exception) == "`p` must be a number in [0, 1], got 2.0"
