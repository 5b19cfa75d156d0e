"""Flip test-time augmentation: the validation figures every image trial records (``details["mirror"]``), the rule
that decides it for the kept recipe (``fitguard.doctor.phases.mirror_helps``), and the tested and shipped models that
predict with it (``MeanEnsemble(mirror=True)``, saved and loaded as such)."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from fitguard.cli import app
from fitguard.doctor import DoctorOptions, phases
from fitguard.doctor.pipeline import base_config
from fitguard.models.ensemble import MeanEnsemble
from fitguard.recipe import load_data
from fitguard.runs import rebuild
from fitguard.search.evaluate import fold_mean, train_recipe
from fitguard.search.scoring import Trial, mirror_scores

SMALL_CNN = {"model": {"name": "cnn", "widths": [8, 16]}, "train": {"max_epochs": 6, "lr": 0.01},
             "early_stopping": None}


def _nll_and_accuracy(probabilities: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    picked = probabilities[torch.arange(len(y)), y]
    return float(-picked.log().mean()), float((probabilities.argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def digits_cnn():
    options = DoctorOptions(data="digits", train_fraction=0.3, seed=0, quiet=True, device="cpu")
    base = base_config(options)
    data = load_data(base)
    trial, run, _ = train_recipe(base, SMALL_CNN, data, name="cnn", phase="test")
    return data, trial, run


def test_an_image_trial_records_the_mirror_views_as_a_hand_computed_average_scores_them(digits_cnn):
    data, trial, run = digits_cnn
    model = run.model.eval()
    with torch.no_grad():
        plain = torch.softmax(model(data.val.X), 1)
        mirrored = torch.softmax(model(data.val.X.flip(-1)), 1)
    loss, accuracy = _nll_and_accuracy((plain + mirrored) / 2, data.val.y)
    plain_loss, plain_accuracy = _nll_and_accuracy(plain, data.val.y)
    found = trial.details["mirror"]
    assert found["val_score"] == pytest.approx(accuracy, abs=1e-6)
    assert found["val_loss"] == pytest.approx(loss, rel=1e-4)
    assert found["plain_val_score"] == pytest.approx(plain_accuracy, abs=1e-6) == pytest.approx(trial.val_score)
    assert found["plain_val_loss"] == pytest.approx(plain_loss, rel=1e-4)
    _, mirrored_accuracy = _nll_and_accuracy(mirrored, data.val.y)
    assert found["mirrored_val_score"] == pytest.approx(mirrored_accuracy, abs=1e-6)
    # the paired z by hand: per row, plain right minus mirrored right; its mean over its standard error
    difference = ((plain.argmax(1) == data.val.y).numpy().astype(float)
                  - (mirrored.argmax(1) == data.val.y).numpy().astype(float))
    z = difference.mean() / (difference.std(ddof=1) / np.sqrt(len(difference)))
    assert found["mirrored_z"] == pytest.approx(z, rel=1e-5)
    # a mirrored digit is mostly no digit: far worse alone, the mean worse too, and the rule keeps the plain prediction
    assert found["mirrored_z"] > phases.MIRROR_Z and found["mirrored_val_score"] < found["plain_val_score"] - 0.2
    assert found["val_score"] < found["plain_val_score"] and found["val_loss"] > found["plain_val_loss"]
    assert not phases.mirror_helps(trial)


def test_tables_and_empty_validation_parts_measure_no_mirror_views(digits_cnn):
    data, _, run = digits_cnn
    empty = type(data.val)(data.val.X[:0], data.val.y[:0])
    assert mirror_scores(run, empty, ("val_accuracy", "max"), {}) is None
    flat = type(data.val)(data.val.X.flatten(1), data.val.y)
    assert mirror_scores(run, flat, ("val_accuracy", "max"), {}) is None


def test_folds_pool_the_mirror_figures_and_a_fold_without_them_drops_them(digits_cnn):
    _, trial, _ = digits_cnn
    other = {**trial.details["mirror"], "val_score": 0.0}
    second = type(trial)(**{**trial.__dict__, "details": {**trial.details, "mirror": other}})
    pooled = fold_mean({}, "cnn", "test", [trial, second])
    assert pooled.details["mirror"]["val_score"] == pytest.approx(trial.details["mirror"]["val_score"] / 2)
    assert pooled.details["mirror"]["plain_val_loss"] == pytest.approx(trial.details["mirror"]["plain_val_loss"])
    # two folds' z combined as Stouffer's: each fold's z, summed, over the square root of 2
    assert pooled.details["mirror"]["mirrored_z"] == pytest.approx(2 * trial.details["mirror"]["mirrored_z"] / 2**0.5)
    bare = type(trial)(**{**trial.__dict__, "details": {k: v for k, v in trial.details.items() if k != "mirror"}})
    assert "mirror" not in fold_mean({}, "cnn", "test", [trial, bare]).details


def _members(spec: dict, weights: dict[str, torch.Tensor]) -> list[torch.nn.Module]:
    networks = []
    # each member as its own network where they differ (a network tied with the recipe, best.partner)
    models = spec["ensemble"].get("models") or [spec["model"]] * spec["ensemble"]["members"]
    for i, model in enumerate(models):
        network = rebuild({**spec, "model": model, "ensemble": None})
        prefix = f"members.{i}."
        network.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
        networks.append(network.eval())
    return networks


@pytest.mark.parametrize("used", [True, False])
def test_the_tested_and_shipped_models_predict_with_the_mirror_views_when_the_rule_says_so(tmp_path, monkeypatch,
                                                                                          used):
    # the rule forced either way (the digits' own figures say no, above): what follows from it is what is checked
    monkeypatch.setattr(phases, "mirror_helps", lambda trial: used)
    out = tmp_path / "run"
    recipe = tmp_path / "small.yaml"
    recipe.write_text(json.dumps(SMALL_CNN))
    arguments = ["doctor", "--data", "digits", "--model", "cnn", "--recipe", str(recipe), "--budget", "none",
                 "--trials", "3", "--epochs", "4", "--search-epochs", "4", "--cv-max-rows", "0",
                 "--train-fraction", "0.3", "--min-steps", "0", "--quiet", "--no-references", "--ensemble", "2",
                 "--refit", "trainval", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    mirror = summary["best"]["mirror"]
    assert mirror is not None and mirror["used"] is used
    assert set(mirror) == {"val_score", "val_loss", "plain_val_score", "plain_val_loss", "mirrored_val_score",
                           "mirrored_z", "used"}
    spec = json.loads((out / "best.json").read_text())
    partner = summary["best"]["partner"]
    assert {k: v for k, v in spec["ensemble"].items() if k != "models"} == {"members": summary["best"]["members"],
                                                                           "mirror": used}
    assert ("models" in spec["ensemble"]) is bool(partner and partner["used"])
    # the oracle: the saved members' probabilities, averaged by hand over members (and both views when used)
    weights = load_file(out / "best.safetensors")
    members = _members(spec, weights)
    data = load_data(base_config(DoctorOptions(data="digits", train_fraction=0.3, seed=0, quiet=True,
                                               device="cpu")))
    X, y = data.test.X, data.test.y
    views = (X, X.flip(-1)) if used else (X,)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m(v), 1) for m in members for v in views]).mean(0)
        loaded = rebuild(spec)
        loaded.load_state_dict(weights)
        assert isinstance(loaded, MeanEnsemble) and loaded.mirror is used
        assert torch.allclose(torch.softmax(loaded.eval()(X), 1), mean, atol=1e-5)
    # --refit trainval ships the tested model: the test figure is the oracle's accuracy on the test rows
    with np.load(out / "test_predictions.npz") as tested:
        assert (tested["best"] == mean.argmax(1).numpy()).all()
    assert summary["test"]["best"]["accuracy"] == pytest.approx(float((mean.argmax(1) == y).float().mean()))
    report = (out / "report.html").read_text()
    assert ("<b>Used</b>" if used else "<b>Not used</b>") in report


def test_measured_by_another_model_than_the_recipe_only_the_mirrored_score_decides():
    # the mean's loss is the measuring model's: it counts for the recipe's own models, not for a probe or baseline
    record = {"val_score": 0.27, "val_loss": 1.850, "plain_val_score": 0.30, "plain_val_loss": 1.833,
              "mirrored_val_score": 0.27, "mirrored_z": 0.686}
    trial = Trial("vgg", "architecture", {}, math.nan, math.nan, 10, 60, 0.0)
    decided = {by: phases.mirror_helps(replace(trial, details={"mirror": {**record, "measured_by": by}}))
               for by in ("recipe", "probe", "baseline")}
    assert decided == {"recipe": False, "probe": True, "baseline": True}
    assert not phases.mirror_helps(replace(trial, details={"mirror": record}))  # no measured_by: the recipe's own
    worse = {**record, "mirrored_z": phases.MIRROR_Z + 0.01, "val_loss": 1.0}
    assert not any(phases.mirror_helps(replace(trial, details={"mirror": {**worse, "measured_by": by}}))
                   for by in ("recipe", "probe", "baseline"))


def _unscored(seconds: float = 0.01) -> Trial:
    """A recipe trained once whose one training of 10 epochs was forecast at ``seconds``, trained at all 10."""
    return Trial("vgg", "architecture", {}, math.nan, math.nan, 10, 10, 0.0,
                 details={"unscored": {"epochs": 10, "of": 10, "forecast_seconds": seconds}})


@pytest.fixture(scope="module")
def digits_scorer():
    options = DoctorOptions(data="digits", train_fraction=0.3, seed=0, quiet=True, device="cpu")
    base = base_config(options)
    return phases.Scorer(base, load_data(base), None, {"max_epochs": 100, "repeat": 1})


def test_the_probe_reads_mirror_symmetric_images_as_the_same_and_digits_not(digits_scorer):
    # images equal to their own mirror: the probe's mirrored predictions are its plain ones, exactly
    data = digits_scorer.data
    symmetric = {part: type(getattr(data, part))((getattr(data, part).X + getattr(data, part).X.flip(-1)) / 2,
                                                 getattr(data, part).y) for part in ("train", "val")}
    assert torch.equal(symmetric["val"].X.flip(-1), symmetric["val"].X)
    started = []
    found, why = phases.mirror_probe(replace(digits_scorer, data=replace(data, **symmetric)), 600.0,
                                     on_start=lambda: started.append(True))
    assert why == "" and started == [True]
    assert found["measured_by"] == "probe" and found["probe"] == "cnn 16x32, pooled to 4"
    assert 1 <= found["probe_epochs"] <= phases.PROBE_EPOCHS == 10 and found["probe_seconds"] > 0
    assert found["mirrored_z"] == 0.0 and found["mirrored_val_score"] == found["plain_val_score"]
    assert found["val_score"] == found["plain_val_score"]
    assert found["val_loss"] == pytest.approx(found["plain_val_loss"], rel=1e-6)
    assert phases.mirror_helps(replace(_unscored(), details={"mirror": found}))
    # the digits as they are: a mirrored digit is no digit, to the probe either
    digits, _ = phases.mirror_probe(digits_scorer, 600.0)
    assert digits["mirrored_z"] > phases.MIRROR_Z and digits["mirrored_val_score"] < digits["plain_val_score"] - 0.2
    assert not phases.mirror_helps(replace(_unscored(), details={"mirror": digits}))


def test_the_probe_trains_only_in_the_time_it_is_given(digits_scorer, monkeypatch):
    started = []
    start = lambda: started.append(True)  # noqa: E731
    # just under the least time it starts with: not started
    assert phases.mirror_probe(digits_scorer, phases.PROBE_MIN_SECONDS - 0.01, on_start=start) == (
        None, "it did not fit the time the final training left")
    assert started == []
    # at the least time it starts with (here made 0.5 s), it starts; given ample time, it is used
    monkeypatch.setattr(phases, "PROBE_MIN_SECONDS", 0.5)
    assert phases.mirror_probe(digits_scorer, 0.49, on_start=start)[0] is None and started == []
    assert phases.mirror_probe(digits_scorer, 60.0, on_start=start)[0] is not None and started == [True]


def test_a_probe_cut_by_its_half_of_the_time_is_not_used(digits_scorer, monkeypatch):
    monkeypatch.setattr(phases, "PROBE_MIN_SECONDS", 0.0)
    assert phases.mirror_probe(digits_scorer, 1e-6) == (None, "the deadline cut its training")


def test_a_model_at_chance_or_diverged_measures_nothing(digits_scorer):
    data = digits_scorer.data
    options = DoctorOptions(data="digits", train_fraction=0.3, seed=0, quiet=True, device="cpu")
    base = base_config(options)
    _, run, _ = train_recipe(base, SMALL_CNN, data, name="cnn", phase="test")
    found, why = phases.measured_mirror(run, data, "auto", "probe")
    assert why == "" and found["measured_by"] == "probe"
    # the same network with its output layer zeroed predicts one class for every image: a mirrored z of 0, which
    # would pass any image off as the same mirrored; at chance its measure does not count
    with torch.no_grad():
        for name, parameter in run.model.named_parameters():
            if name.startswith("output"):
                parameter.zero_()
    constant = mirror_scores(run, data.val, ("val_accuracy", "max"),
                             run.trainer.evaluate(data.val, prefix="val_"))
    assert constant["mirrored_z"] == 0.0
    found, why = phases.measured_mirror(run, data, "auto", "baseline")
    share = float(torch.bincount(data.val.y).max()) / len(data.val)
    assert found is None and why == f"it scored {share:.2f}, no better than always the majority class"
    # a diverged model's figures are not finite: nothing either, and the rule refuses a record that has them
    with torch.no_grad():
        next(run.model.parameters()).fill_(float("nan"))
    assert phases.measured_mirror(run, data, "auto", "probe") == (None, "it measured nothing")
    record = {"val_score": 0.1, "val_loss": math.nan, "plain_val_score": 0.1, "plain_val_loss": math.nan,
              "mirrored_val_score": 0.1, "mirrored_z": 0.0, "measured_by": "probe"}
    assert not phases.mirror_helps(replace(_unscored(), details={"mirror": record}))


@pytest.mark.parametrize("members", [1, 2])
def test_mirror_views_added_after_training_predict_as_members_trained_with_them(digits_scorer, members):
    # the doctor decides a recipe trained once's mirror views after its final training: the views added then give
    # the predictions of the same members built with them (the weights do not depend on the views)
    from fitguard.doctor.trials import joined, mirrored, refit_members

    data, base = digits_scorer.data, digits_scorer.base
    rows = joined(data.train, data.val)
    trained = {flag: refit_members(base, SMALL_CNN, data, rows=rows, epochs=2, members=members, seed=0,
                                   mirror=flag)[0] for flag in (False, True)}
    later = mirrored(trained[False], data.task)
    assert isinstance(later.model, MeanEnsemble) and later.model.mirror and len(later.model.members) == members
    expected = trained[True].trainer.predict(data.test.X)
    assert torch.allclose(later.trainer.predict(data.test.X), expected, atol=1e-6)
    assert not torch.allclose(trained[False].trainer.predict(data.test.X), expected, atol=1e-3)
