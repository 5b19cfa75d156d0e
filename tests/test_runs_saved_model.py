"""fitguard.runs.saved_model: the one place that decides which saved model a run folder holds, and its users
(``fitguard.load``, ``fitguard predict``, a run folder given as a backbone)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fitguard.cli import main
from fitguard.data import from_arrays
from fitguard.models import build
from fitguard.recipe import transferred_architecture
from fitguard.runs import load, save_model, saved_model

X = np.random.default_rng(0).normal(size=(40, 3))
Y = np.arange(40) % 2


def _network(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build("mlp", (3,), 2, hidden=[4])


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A folder per case; ``model`` and ``best`` hold different weights (seed 1 and 2), so a load shows which."""
    data = from_arrays(X, Y)
    root = tmp_path_factory.mktemp("runs")
    found = {}
    for case, stems in {"model": ["model"], "best": ["best"], "both": ["model", "best"], "neither": []}.items():
        found[case] = root / case
        found[case].mkdir()
        for stem in stems:
            save_model(found[case], _network(1 if stem == "model" else 2), "mlp", {"hidden": [4]}, data, stem=stem)
    (found["neither"] / "run.json").write_text("{}")
    return found


@pytest.mark.parametrize(("case", "stem"), [("model", "model"), ("best", "best"), ("both", "model")])
def test_the_folder_decides_and_load_takes_that_model(folders, case, stem):
    assert saved_model(folders[case]) == stem
    expected = _network(1 if stem == "model" else 2).state_dict()
    loaded = load(folders[case]).model.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[key], expected[key]) for key in expected)


def test_an_explicit_stem_still_wins(folders):
    best = load(folders["both"], stem="best").model.state_dict()
    assert all(torch.equal(best[key], value) for key, value in _network(2).state_dict().items())


def test_a_folder_with_neither_is_refused_in_one_line(folders):
    message = f"{str(folders['neither'])!r} holds no saved model: neither model.json nor best.json is there"
    with pytest.raises(FileNotFoundError) as error:
        saved_model(folders["neither"])
    assert str(error.value) == message
    with pytest.raises(FileNotFoundError) as error:
        load(folders["neither"])
    assert str(error.value) == message


def test_predict_uses_the_same_decision(folders, tmp_path, capsys):
    raw = tmp_path / "rows.npy"
    np.save(raw, X[:5])
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(folders["best"]), str(raw), "--out", str(out)]) == 0, capsys.readouterr().err
    written = np.array([[float(v) for v in line.split(",")[2:]] for line in out.read_text().splitlines()[1:]])
    best, model = (load(folders["best"], stem="best").predict_proba(X[:5]),
                   load(folders["both"], stem="model").predict_proba(X[:5]))
    assert np.allclose(written, best, atol=1e-5) and not np.allclose(written, model, atol=1e-3)
    capsys.readouterr()
    assert main(["predict", str(folders["neither"]), str(raw), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {str(folders['neither'])!r} holds no saved model: "
                                                "neither model.json nor best.json is there")


def test_a_doctor_run_as_a_backbone_is_recorded_as_a_run_so_it_reloads_without_the_folder(folders, tmp_path):
    source = tmp_path / "pretrained"
    shutil.copytree(folders["best"], source)
    architecture = transferred_architecture(str(source)).to_saved()
    assert architecture["kind"] == "run" and architecture["model"] == {"name": "mlp", "options": {"hidden": [4]}}
    assert transferred_architecture(str(folders["neither"])).to_saved() == {"kind": "named",
                                                                            "name": str(folders["neither"])}
