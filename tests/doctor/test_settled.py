"""A complete recipe kept by the architecture phase is shipped as given when its validation cannot resolve a point
of accuracy (``fitguard.doctor.phases.settled``): the remedy phases list their changes as skipped and train nothing."""

import math

import pytest
import torch

from fitguard.data import kfold, load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import RECIPES, Clock, Scorer, ablation, resolves, settled, validation_rows
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.trials import Trial


def kept(recipe, score=0.87, metric="val_accuracy"):
    return Trial("kept", "architecture", recipe, score, 0.0, 1000, 60, 40.0, details={"val_loss": 0.4},
                 metric=metric)


@pytest.mark.parametrize(("p", "rows"), [(0.87, 200), (0.87, 9_500), (0.55, 1_000), (0.99, 1_000), (0.5, 25_000)])
def test_a_point_is_resolved_when_two_standard_errors_of_a_difference_are_at_most_a_point(p, rows):
    # the oracle: the difference of two independent binomial proportions near p, each on `rows` rows
    # (each case at least 2.5% away from the boundary; the Monte Carlo error is about 0.2%)
    torch.manual_seed(0)
    samples = torch.distributions.Binomial(rows, torch.tensor(p)).sample((2, 200_000)).div(rows)
    spread = float((samples[0] - samples[1]).std())
    assert resolves(kept({}, p), rows) is (2 * spread <= 0.01)
    assert math.isclose(2 * spread, 2 * math.sqrt(2 * p * (1 - p) / rows), rel_tol=0.01)


def test_only_a_complete_recipe_on_too_few_validation_rows_is_settled():
    data = load("digits", val=0.2, test=0.2, seed=0)
    base = base_config(DoctorOptions(device="cpu"))
    holdout = Scorer(base=base, data=data)
    assert validation_rows(holdout) == len(data.val) == 359
    why = settled(holdout, kept(RECIPES["vgg"], 0.97))
    assert why == ("a complete recipe is kept as given: 359 validation rows cannot tell a change of 1 point from "
                   "noise, so no remedy is searched on it")
    assert settled(holdout, kept({"model": {"name": "cnn", "widths": [16, 32]}}, 0.97)) is None  # early stopping
    assert settled(holdout, kept(RECIPES["vgg"], 0.999)) is None  # 2 standard errors: 0.47 points
    assert settled(holdout, kept(RECIPES["vgg"], -0.3, metric="val_loss")) is None  # no binomial error
    crossed = Scorer(base=base, data=data, folds=list(kfold(data, k=3, seed=0)))
    assert validation_rows(crossed) == len(data.train) + len(data.val)


class _Untouchable:
    """A scorer that must not be asked to train."""

    trainings = 1

    def __init__(self, data):
        self.data = data

    def evaluate_candidates(self, *args, **kwargs):
        raise AssertionError("a settled recipe trains nothing in the ablation")


def test_a_settled_ablation_lists_every_change_as_skipped_and_trains_nothing():
    score = _Untouchable(load("digits", val=0.2, test=0.2, seed=0))
    reference = kept(RECIPES["vgg"])
    rows = ablation(score, Clock(None, None), reference, RECIPES["vgg"], None, tick=lambda: None, share=1.0,
                    why_not="too few rows")
    assert rows[0].name == "the recipe as given" and rows[0].val_score == 0.87 and rows[0].status == "done"
    assert len(rows) > 3 and {t.status for t in rows[1:]} == {"skipped: too few rows"}
    assert "augmentation" in [t.name for t in rows]
    assert all(math.isnan(t.val_score) and t.seconds == 0 for t in rows[1:])
