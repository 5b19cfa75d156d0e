"""fitguard.runs: run folders that are never clobbered by accident, and a saved model that loads back as a
predictor for raw data.

Oracles: folders and files written, then re-read from disk; predictions recomputed by hand from the raw rows
(numpy standardization with the training rows' mean and std, then the network); the saved weights read back
with safetensors directly. ``saved_model`` has its own file, tests/test_runs_saved_model.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fitguard.data import from_arrays
from fitguard.errors import FitguardError
from fitguard.models import build
from fitguard.models.ensemble import MeanEnsemble
from fitguard.runs import MARKER, backbone_module, load, prepare_run_dir, rebuild, save_model, write_json

RNG = np.random.default_rng(0)
X = RNG.normal(loc=3.0, scale=2.0, size=(40, 3))
LABELS = np.arange(40) % 2
TARGET = 100.0 + 20.0 * X[:, 0]


def _network(out_features: int = 2, seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build("mlp", (3,), out_features, hidden=[4])


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ----------------------------------------------------------------------------------------------- prepare_run_dir
def test_a_new_folder_is_made_with_its_parents(tmp_path):
    out = prepare_run_dir(str(tmp_path / "runs" / "first"))
    assert out == tmp_path / "runs" / "first" and out.is_dir() and _files(out) == []  # the write probe is gone


def test_an_existing_empty_folder_needs_no_flag(tmp_path):
    assert prepare_run_dir(tmp_path) == tmp_path


def test_a_folder_with_files_is_refused_without_a_flag_and_kept(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FitguardError) as caught:
        prepare_run_dir(tmp_path)
    assert str(caught.value) == (f"run folder {str(tmp_path)!r} already exists; pass --overwrite to replace it or "
                                 "--resume to continue it")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_overwrite_empties_a_fitguard_run_folder(tmp_path):
    (tmp_path / MARKER).write_text("{}")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"x")
    assert prepare_run_dir(tmp_path, overwrite=True) == tmp_path
    assert _files(tmp_path) == []


def test_overwrite_never_deletes_a_folder_fitguard_did_not_make(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(FitguardError) as caught:
        prepare_run_dir(tmp_path, overwrite=True)
    assert str(caught.value) == (f"refusing to overwrite {str(tmp_path)!r}: it is not a fitguard run folder "
                                 "(no run.json); choose another --out")
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("overwrite", [False, True])
def test_resume_keeps_the_folder_as_it_is(tmp_path, overwrite):
    (tmp_path / MARKER).write_text('{"epochs": 3}')
    assert prepare_run_dir(tmp_path, overwrite=overwrite, resume=True) == tmp_path
    assert _files(tmp_path) == [MARKER] and (tmp_path / MARKER).read_text() == '{"epochs": 3}'


@pytest.mark.parametrize("exists", [False, True])
def test_resume_needs_a_folder_with_something_in_it(tmp_path, exists):
    out = tmp_path / "run"
    if exists:
        out.mkdir()
    with pytest.raises(FitguardError) as caught:
        prepare_run_dir(out, resume=True)
    assert str(caught.value) == f"cannot resume: run folder {str(out)!r} does not exist or is empty"


def test_a_file_is_not_a_run_folder(tmp_path):
    out = tmp_path / "results.csv"
    out.write_text("a,b\n")
    with pytest.raises(FitguardError) as caught:
        prepare_run_dir(out, overwrite=True)
    assert str(caught.value) == f"--out {str(out)!r} is a file, not a folder; choose a folder path"
    assert out.read_text() == "a,b\n"


def test_a_folder_that_cannot_be_made_is_refused_in_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "run"  # below a file: mkdir fails whoever runs the test (root included)
    with pytest.raises(FitguardError) as caught:
        prepare_run_dir(out)
    assert str(caught.value) == f"cannot write to run folder {str(out)!r}: Not a directory; choose a writable --out"


# ----------------------------------------------------------------------------------------------------- write_json
def test_write_json_keeps_nan_and_writes_paths_as_text(tmp_path):
    target = tmp_path / "history.json"
    write_json(target, {"loss": [1.0, float("nan")], "out": tmp_path / "run", "epochs": 2})
    read = json.loads(target.read_text())
    assert read["loss"][0] == 1.0 and math.isnan(read["loss"][1])
    assert read["out"] == str(tmp_path / "run") and read["epochs"] == 2
    assert _files(tmp_path) == ["history.json"]  # written atomically: no temporary file left behind


# ------------------------------------------------------------------------------------------------- save and load
@pytest.fixture
def classifier_run(tmp_path):
    data = from_arrays(X, LABELS, class_names=["cat", "dog"], feature_names=["a", "b", "c"])
    network = _network()
    save_model(tmp_path, network, "mlp", {"hidden": [4]}, data)
    return tmp_path, network, data


def _standardized(data, rows: np.ndarray) -> torch.Tensor:
    """The oracle's preprocessing: the training rows' own mean and (population) std, computed here."""
    train = np.asarray(data.raw_train.inputs, dtype=np.float64)
    return torch.tensor((rows - train.mean(0)) / train.std(0), dtype=torch.float32)


def test_save_model_writes_the_weights_and_a_description(classifier_run):
    folder, network, _ = classifier_run
    assert _files(folder) == ["model.json", "model.safetensors"]
    weights = load_file(folder / "model.safetensors")
    expected = network.state_dict()
    assert weights.keys() == expected.keys() and all(torch.equal(weights[k], expected[k]) for k in expected)
    spec = json.loads((folder / "model.json").read_text())
    assert {key: spec[key] for key in ("format", "model", "input_shape", "out_features", "task", "kind",
                                       "class_names", "feature_names", "architecture", "ensemble")} == {
        "format": "fitguard-model/1", "model": {"name": "mlp", "options": {"hidden": [4]}}, "input_shape": [3],
        "out_features": 2, "task": "classification", "kind": "table", "class_names": ["cat", "dog"],
        "feature_names": ["a", "b", "c"], "architecture": None, "ensemble": None}


def test_a_loaded_classifier_predicts_from_raw_rows_as_the_network_does(classifier_run):
    folder, network, data = classifier_run
    predictor = load(folder)
    network.eval()
    with torch.no_grad():
        logits = network(_standardized(data, X[:7]))
    probabilities = torch.softmax(logits, dim=1).numpy()
    assert np.allclose(predictor.predict_proba(X[:7]), probabilities, atol=1e-5)
    names = np.array(["cat", "dog"])[probabilities.argmax(1)]
    assert predictor.predict(X[:7]).tolist() == names.tolist()
    assert predictor.task == "classification" and predictor.class_names == ("cat", "dog")
    assert not predictor.model.training


def test_a_loaded_regressor_predicts_in_the_targets_own_units(tmp_path):
    data = from_arrays(X, TARGET)
    network = _network(out_features=1)
    save_model(tmp_path, network, "mlp", {"hidden": [4]}, data)
    labels = np.asarray(data.raw_train.labels, dtype=np.float64)
    network.eval()
    with torch.no_grad():
        standardized = network(_standardized(data, X[:5]))[:, 0].double().numpy()
    expected = standardized * labels.std() + labels.mean()
    assert np.allclose(load(tmp_path).predict(X[:5]), expected, rtol=1e-5)
    with pytest.raises(FitguardError) as caught:
        load(tmp_path).predict_proba(X[:5])
    assert str(caught.value) == "predict_proba applies to classification models; this one does regression"


def test_no_rows_give_empty_answers(classifier_run, tmp_path):
    # this raised IndexError ("Dimension out of range") before
    folder, _, _ = classifier_run
    predictor = load(folder)
    assert predictor.predict(X[:0]).shape == (0,)
    assert predictor.predict_proba(X[:0]).shape == (0, 2)
    regression = tmp_path / "regression"
    regression.mkdir()
    save_model(regression, _network(out_features=1), "mlp", {"hidden": [4]}, from_arrays(X, TARGET))
    assert load(regression).predict(X[:0]).shape == (0,)


def test_an_ensemble_reloads_as_an_ensemble(tmp_path):
    data = from_arrays(X, LABELS)
    ensemble = MeanEnsemble([_network(seed=1), _network(seed=2)], "classification")
    save_model(tmp_path, ensemble, "mlp", {"hidden": [4]}, data)
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec["ensemble"] == {"members": 2, "mirror": False}
    rebuilt = rebuild(spec)
    assert isinstance(rebuilt, MeanEnsemble) and len(rebuilt.members) == 2
    loaded = load(tmp_path).model
    ensemble.eval()
    rows = _standardized(data, X[:4])
    with torch.no_grad():
        assert torch.allclose(loaded(rows), ensemble(rows))


def test_a_missing_stem_is_named(classifier_run):
    folder, _, _ = classifier_run
    with pytest.raises(FileNotFoundError) as caught:
        load(folder, stem="baseline")
    assert str(caught.value) == f"{str(folder)!r} holds no saved model 'baseline' (baseline.json is missing)"


def test_missing_weights_are_a_fitguard_error(classifier_run):
    folder, _, _ = classifier_run
    (folder / "model.safetensors").unlink()
    with pytest.raises(FitguardError) as caught:
        load(folder)
    assert str(caught.value) == (f"cannot read the model in {str(folder)!r}: [Errno 2] No such file or directory: "
                                 f"{str(folder / 'model.safetensors')!r}")


def test_a_truncated_description_is_a_fitguard_error(classifier_run):
    folder, _, _ = classifier_run
    (folder / "model.json").write_text("")
    with pytest.raises(FitguardError) as caught:
        load(folder)
    assert str(caught.value) == f"cannot read the model in {str(folder)!r}: Expecting value: line 1 column 1 (char 0)"


def test_damaged_weights_are_a_fitguard_error(classifier_run):
    folder, _, _ = classifier_run
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(FitguardError) as caught:
        load(folder)
    # what follows the colon is safetensors' own wording
    assert str(caught.value).startswith(f"model.safetensors in {str(folder)!r} is damaged: ")


@pytest.mark.parametrize("description", [[1, 2], {"format": "fitguard-model/0"}, {}])
def test_a_file_that_is_not_a_model_description_is_refused(classifier_run, description):
    folder, _, _ = classifier_run
    (folder / "model.json").write_text(json.dumps(description))
    with pytest.raises(FitguardError) as caught:
        load(folder)
    assert str(caught.value) == f"{folder / 'model.json'} is not a fitguard model description"


def _edit_description(folder: Path, **changes) -> None:
    spec = json.loads((folder / "model.json").read_text())
    for key, value in changes.items():
        if value is None:
            del spec[key]
        else:
            spec[key] = value
    (folder / "model.json").write_text(json.dumps(spec))


def test_a_description_missing_a_key_is_refused(classifier_run):
    folder, _, _ = classifier_run
    _edit_description(folder, preprocessor=None)
    with pytest.raises(FitguardError) as caught:
        load(folder)
    assert str(caught.value) == f"{folder / 'model.json'} is incomplete or damaged (KeyError: 'preprocessor')"


def test_weights_that_do_not_fit_the_description_are_refused_with_the_first_mismatch(classifier_run):
    folder, _, _ = classifier_run
    _edit_description(folder, model={"name": "mlp", "options": {"hidden": [5]}})
    with pytest.raises(FitguardError) as caught:
        load(folder)
    assert str(caught.value) == (
        f"model.safetensors in {str(folder)!r} does not fit the architecture in model.json: size mismatch for "
        "linear1.weight: copying a param with shape torch.Size([4, 3]) from checkpoint, the shape in current model "
        "is torch.Size([5, 3]).")


def test_an_architecture_of_an_unknown_kind_is_refused(classifier_run):
    folder, _, _ = classifier_run
    _edit_description(folder, architecture={"kind": "bogus"})
    with pytest.raises(FitguardError) as caught:
        load(folder)
    assert str(caught.value) == (f"{folder / 'model.json'} has an unusable architecture: kind: Input should be "
                                 "'network', 'named', 'weights' or 'run'")


# ------------------------------------------------------------------------------------------------ backbone_module
def test_backbone_module_loads_a_saved_model_and_passes_anything_else_through(classifier_run, tmp_path):
    folder, network, data = classifier_run
    module = torch.nn.Linear(2, 2)
    assert backbone_module(module) is module
    assert backbone_module("resnet18") == "resnet18"
    bare = tmp_path / "elsewhere" / "weights.safetensors"  # no .json beside it: load_backbone's to read
    assert backbone_module(bare) == bare
    save_model(folder, _network(seed=7), "mlp", {"hidden": [4]}, data, stem="best")
    from_folder, from_file = backbone_module(folder), backbone_module(folder / "best.safetensors")
    assert all(torch.equal(from_folder.state_dict()[k], v) for k, v in network.state_dict().items())
    assert all(torch.equal(from_file.state_dict()[k], v) for k, v in _network(seed=7).state_dict().items())


def test_an_ensemble_of_different_networks_reloads_each_member_as_it_was_built(tmp_path):
    data = from_arrays(X, LABELS)
    torch.manual_seed(3)
    wider = build("mlp", (3,), 2, hidden=[8, 8])
    ensemble = MeanEnsemble([_network(seed=1), wider], "classification", mirror=False)
    models = [("mlp", {"hidden": [4]}), ("mlp", {"hidden": [8, 8]})]
    save_model(tmp_path, ensemble, "mlp", {"hidden": [4]}, data, member_models=models)
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec["ensemble"] == {"members": 2, "mirror": False,
                                "models": [{"name": "mlp", "options": {"hidden": [4]}},
                                           {"name": "mlp", "options": {"hidden": [8, 8]}}]}
    loaded = load(tmp_path).model
    assert [sum(p.numel() for p in m.parameters()) for m in loaded.members] == [
        sum(p.numel() for p in m.parameters()) for m in ensemble.members]
    ensemble.eval()
    rows = _standardized(data, X[:4])
    with torch.no_grad():
        assert torch.allclose(loaded(rows), ensemble(rows))


@pytest.mark.parametrize(("model", "models", "given"), [
    ("ensemble", [("mlp", {"hidden": [4]})], "an ensemble of 2"),
    ("network", [("mlp", {"hidden": [4]})], "a model that is no ensemble")])
def test_member_models_that_do_not_match_the_members_are_refused(tmp_path, model, models, given):
    network = _network(seed=1)
    saved = MeanEnsemble([network, _network(seed=2)], "classification") if model == "ensemble" else network
    with pytest.raises(ValueError) as caught:
        save_model(tmp_path, saved, "mlp", {"hidden": [4]}, from_arrays(X, LABELS), member_models=models)
    assert str(caught.value) == ("`member_models` needs one (name, options) per member of an ensemble of built "
                                 f"networks, got 1 for {given}")
    assert not (tmp_path / "model.json").exists()
