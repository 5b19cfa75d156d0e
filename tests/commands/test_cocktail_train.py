"""The averaging remedies through a spec and ``fitguard train``: SWA / EMA, cosine restarts, snapshot ensembles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import fitguard
from fitguard.cli import main
from fitguard.config import parse_config
from fitguard.data import load
from fitguard.recipe import build_run
from fitguard.train import CosineAnnealing, OneCycle, Trainer, WeightAveraging

BASE = {"data": {"source": "digits", "train_fraction": 0.3}, "model": {"name": "mlp", "hidden": [32]},
        "train": {"max_epochs": 6, "lr": 0.01}, "early_stopping": False}


def test_a_spec_turns_into_the_callbacks():
    config = parse_config({**BASE, "remedies": {"weight_averaging": {"kind": "swa", "start": 0.5, "lr": 0.005},
                                                "cosine": {"cycle": 2, "t_mult": 2}}})
    run = build_run(config)
    averaging = next(c for c in run.trainer.callbacks if isinstance(c, WeightAveraging))
    cosine = next(c for c in run.trainer.callbacks if isinstance(c, CosineAnnealing))
    assert averaging.get_config() == {"kind": "swa", "start": 0.5, "decay": 0.999, "lr": 0.005, "anneal_epochs": 1,
                                      "update_bn": True}
    assert cosine.get_config() == {"cycle": 2, "t_mult": 2, "min_lr": 0.0}
    ema = build_run(parse_config({**BASE, "remedies": {"weight_averaging": {"kind": "ema", "start": 2}}}))
    assert next(c for c in ema.trainer.callbacks if isinstance(c, WeightAveraging)).start == 2


def test_a_spec_with_one_cycle_and_nesterov_builds_them_into_the_trainer_and_its_optimizer():
    config = parse_config({**BASE, "train": {**BASE["train"], "optimizer": "sgd", "nesterov": True},
                           "remedies": {"one_cycle": {"warmup": 0.25}}})
    run = build_run(config)
    cycle = next(c for c in run.trainer.callbacks if isinstance(c, OneCycle))
    assert cycle.get_config() == {"warmup": 0.25, "div_factor": 25.0, "final_div_factor": 1e4, "cycle_momentum": True,
                                  "base_momentum": 0.85, "max_momentum": 0.95}
    history = run.trainer.fit(run.data.train)
    group = run.trainer.optimizer.param_groups[0]
    assert group["nesterov"] is True and group["momentum"] == pytest.approx(0.95)  # the cycle ends where it began
    assert history.epochs[-1]["lr"] == pytest.approx(0.01 / 25 / 1e4)
    with pytest.raises(ValueError) as error:
        build_run(parse_config({**BASE, "train": {**BASE["train"], "nesterov": True}}))
    assert str(error.value) == ("`nesterov` applies to optimizer='sgd' only, got optimizer='adam': set "
                                "optimizer='sgd' or drop nesterov")
    with pytest.raises(ValueError) as error:
        Trainer(torch.nn.Linear(2, 2), optimizer="sgd", momentum=0.0, nesterov=True)
    assert str(error.value) == "`nesterov` needs momentum > 0, got momentum=0.0"


@pytest.mark.parametrize(("remedies", "early_stopping", "message"), [
    ({"weight_averaging": {"kind": "swa"}}, {"patience": 5},
     "spec: `remedies.weight_averaging` decides the final weights, and so would `early_stopping.restore_best`: set "
     "early_stopping.restore_best: false (early stopping may still end the run) or early_stopping: false"),
    ({"cosine": {}, "snapshots": {}}, False,
     "spec: remedies: `cosine` and `snapshots` both set the learning rate schedule (snapshots are cosine cycles "
     "already): keep one"),
    ({"cosine": {}, "one_cycle": {}}, False,
     "spec: remedies: `cosine` and `one_cycle` both set the learning rate schedule: keep one"),
    ({"one_cycle": {"warmup": 0.25}, "snapshots": {}}, False,
     "spec: remedies: `one_cycle` and `snapshots` both set the learning rate schedule (snapshots are cosine cycles "
     "already): keep one"),
    ({"weight_averaging": {}, "snapshots": {}}, False,
     "spec: remedies: `weight_averaging` and `snapshots` both decide the final model: keep one"),
])
def test_conflicting_remedies_are_refused_in_one_line(remedies, early_stopping, message):
    with pytest.raises(ValueError) as error:
        parse_config({**BASE, "remedies": remedies, "early_stopping": early_stopping}, "spec")
    assert str(error.value) == message


def test_train_with_snapshots_saves_and_scores_the_ensemble_of_its_snapshots(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**BASE, "remedies": {"snapshots": {"cycles": 3}}}))
    assert main(["train", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    predictor = fitguard.load(tmp_path / "run")
    assert type(predictor.model).__name__ == "MeanEnsemble" and len(predictor.model.members) == 3
    data = load("digits", seed=0)  # the same split the spec's data makes (val 0.2, test 0.2, seed 0)
    accuracy = float(np.mean(predictor.predict(data.raw_test.inputs) == np.asarray(data.class_names)[data.test.y]))
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())["scores"]
    assert scores["test"]["accuracy"] == pytest.approx(accuracy)


def test_a_start_between_epochs_is_refused_not_truncated():
    config = parse_config({**BASE, "remedies": {"weight_averaging": {"start": 1.5}}})
    with pytest.raises(ValueError) as error:
        build_run(config)
    assert str(error.value) == "`start` must be an epoch number >= 1 or a fraction of max_epochs in (0, 1), got 1.5"
