"""fitguard.architecture: how a saved network is rebuilt, written by recipe and read by runs."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import fitguard
from fitguard.architecture import ArchitectureSpec
from fitguard.cli import main
from fitguard.data import load
from fitguard.errors import FitguardError
from fitguard.models import build
from fitguard.runs import save_model, write_json

# fine-tuned (`fitguard train --backbone RUN --freeze-all-but 1`) from a train run by fitguard before
# ArchitectureSpec, with the probabilities that code predicted for the first 20 test rows
OLD_RUN = Path(__file__).with_name("fixtures") / "finetuned_run_v1"


@pytest.fixture(scope="module")
def digits():
    return load("digits", val=0.2, test=0.2, seed=0)


def _doctor_like_folder(folder: Path, digits, hidden: list[int]) -> Path:
    """What a doctor run folder holds of its model: best.json and best.safetensors (no model.json), and run.json."""
    folder.mkdir()
    torch.manual_seed(0)
    save_model(folder, build("mlp", digits.input_shape, digits.out_features, hidden=hidden), "mlp",
               {"hidden": hidden}, digits, stem="best")
    write_json(folder / "run.json", {"command": "doctor"})
    return folder


def _fine_tune(capsys, backbone: Path, out: Path) -> None:
    code = main(["train", "--data", "digits", "--backbone", str(backbone), "--freeze-all-but", "1", "--epochs", "1",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err


def test_a_run_folder_written_before_the_spec_still_loads_and_predicts_the_same(digits):
    expected = json.loads((OLD_RUN / "expected.json").read_text())["predict_proba"]
    assert json.loads((OLD_RUN / "model.json").read_text())["architecture"]["architecture"] is None  # old shape
    predictor = fitguard.load(OLD_RUN)
    assert ArchitectureSpec.saved(predictor.spec).kind == "run"
    np.testing.assert_allclose(predictor.predict_proba(digits.raw_test.inputs[:20]), expected, atol=1e-6)


@pytest.mark.parametrize("given", ["folder", "weights file"])
def test_a_model_fine_tuned_from_a_doctor_run_reloads_after_that_folder_is_gone(tmp_path, capsys, digits, given):
    source = _doctor_like_folder(tmp_path / "doctor", digits, hidden=[8])
    backbone = source if given == "folder" else source / "best.safetensors"
    _fine_tune(capsys, backbone, tmp_path / "tuned")
    before = fitguard.load(tmp_path / "tuned").predict_proba(digits.raw_test.inputs)
    shutil.rmtree(source)
    predictor = fitguard.load(tmp_path / "tuned")
    assert np.array_equal(predictor.predict_proba(digits.raw_test.inputs), before)
    # the pretrained network is described in full, not by the path it came from
    assert predictor.spec["architecture"] == {"kind": "run", "model": {"name": "mlp", "options": {"hidden": [8]}},
                                              "input_shape": [1, 8, 8], "out_features": 10}


def test_each_kind_describes_itself_and_rebuilds_the_network_it_names():
    mlp = {"name": "mlp", "options": {"hidden": [8]}}
    network = ArchitectureSpec(kind="network", model=mlp)
    weights = ArchitectureSpec(kind="weights", model=mlp)
    run = ArchitectureSpec(kind="run", model=mlp, input_shape=[64], out_features=10)
    twice = ArchitectureSpec(kind="run", model=mlp, input_shape=[64], out_features=3, architecture=run)
    assert [spec.describe() for spec in (network, weights, run, twice)] == [
        "mlp {'hidden': [8]}",
        "mlp {'hidden': [8]} with pretrained weights, with a new head",
        "mlp {'hidden': [8]} pretrained by a fitguard run, with a new head",
        "mlp {'hidden': [8]} pretrained by a fitguard run, with a new head pretrained by a fitguard run, "
        "with a new head",
    ]
    assert ArchitectureSpec(kind="named", name="mobilenet_v2").describe() == "pretrained backbone mobilenet_v2"
    for spec in (network, weights, run, twice):
        model = spec.rebuild([64], 4)
        assert model(torch.zeros(2, 64)).shape == (2, 4)
        assert sum(p.numel() for p in model.parameters()) == 64 * 8 + 8 + 8 * 4 + 4
    assert network.to_saved() is None and ArchitectureSpec.saved({"model": mlp, "architecture": None}) == network
    assert ArchitectureSpec.saved({"model": mlp, "architecture": twice.to_saved()}) == twice


def test_a_kind_without_what_it_needs_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="kind 'run' needs input_shape and out_features"):
        ArchitectureSpec(kind="run", model={"name": "mlp"})
    shutil.copytree(OLD_RUN, tmp_path / "run")
    spec = json.loads((tmp_path / "run" / "model.json").read_text())
    spec["architecture"]["kind"] = "magic"
    (tmp_path / "run" / "model.json").write_text(json.dumps(spec))
    with pytest.raises(FitguardError) as caught:
        fitguard.load(tmp_path / "run")
    assert str(caught.value) == (f"{tmp_path / 'run' / 'model.json'} has an unusable architecture: kind: Input should "
                                 "be 'network', 'named', 'weights' or 'run'")
