"""The evaluator's grouped folds (``Evaluator(grouped=True)``): a candidate's k folds trained as one grouped network
score what the Trainer scores fold after fold (the oracle: the same evaluator with ``grouped=False``), to float
tolerance; recipes the grouped training cannot reproduce go fold after fold; a queued grouped score is one job."""

from __future__ import annotations

import math
import time

import pytest

from fitguard.data import kfold, load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import DEADLINE_STOP, Scorer
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.queue import FoldCache, FoldQueue, create_queue, open_queue_storage
from fitguard.doctor.store import storage_url
from fitguard.search import Candidate, Evaluator
from fitguard.search.evaluate import grouped_run, recipe_config
from tests.conftest import needs_fashion_mnist

TRAIN = {"max_epochs": 12, "repeat": 2}
MLP = {"model": {"name": "mlp", "hidden": [32], "batchnorm": True},
       "remedies": {"penalties": [{"kind": "l2", "lam": 1e-4, "layers": "*.weight"}]}}


@pytest.fixture(scope="module")
def digits():
    return load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.2)


@pytest.fixture(scope="module")
def base():
    return base_config(DoctorOptions(device="cpu", patience=3))


@pytest.mark.parametrize("recipe", [MLP, {"model": {"name": "cnn", "widths": [4, 8]}}], ids=["mlp", "cnn 8x8"])
def test_grouped_folds_score_what_the_folds_score_one_after_another(digits, base, recipe):
    folds = list(kfold(digits, k=3, seed=0))
    grouped = Evaluator(base, digits, folds, TRAIN, grouped=True)(recipe, name="x", phase="t")
    alone = Evaluator(base, digits, folds, TRAIN)(recipe, name="x", phase="t")
    assert grouped.fold_scores == pytest.approx(alone.fold_scores, abs=1e-6)
    assert grouped.details["val_loss"] == pytest.approx(alone.details["val_loss"], rel=1e-4)
    assert grouped.details["best_epochs"] == alone.details["best_epochs"]
    assert (grouped.epochs, grouped.parameters, grouped.gap) == pytest.approx((alone.epochs, alone.parameters,
                                                                               alone.gap), abs=1e-6)
    assert grouped.details["stop_reasons"] == alone.details["stop_reasons"]
    assert grouped.details["grouped"] and "grouped" not in alone.details
    assert grouped.history["val_loss"] == pytest.approx(alone.history["val_loss"], rel=1e-4)


@pytest.mark.parametrize("recipe", [
    {"model": {"name": "mlp", "hidden": [32]}, "remedies": {"mixup": 0.2}},
    {"model": {"name": "mlp", "hidden": [32], "residual": True}},
    {"model": {"name": "mlp", "hidden": [32]}, "remedies": {"snapshots": {"cycles": 2}}, "early_stopping": None},
    {"model": {"name": "mlp", "hidden": [32]}, "remedies": {"weight_noise": {"sigma": 0.01}}},
    {"model": {"name": "mlp", "hidden": [32]}, "remedies": {"augment": {"rotate": 10.0}}},
], ids=["mixup", "residual", "snapshots", "weight noise", "augmentation"])
def test_what_the_grouped_training_cannot_reproduce_trains_fold_after_fold(digits, base, recipe):
    assert grouped_run(recipe_config(base, recipe, TRAIN), digits) is None
    folds = list(kfold(digits, k=2, seed=0))
    trial = Evaluator(base, digits, folds, {"max_epochs": 2}, grouped=True)(recipe, name="x", phase="t")
    assert len(trial.fold_scores) == 2 and "grouped" not in trial.details  # the Trainer's, fold after fold


@needs_fashion_mnist
def test_cnns_on_images_bigger_than_16x16_and_a_pruners_callbacks_are_not_grouped(base):
    fashion = load("fashion_mnist", val=0.2, test=0.2, seed=0, limit_per_class=10)
    assert grouped_run(recipe_config(base, {"model": {"name": "cnn", "widths": [4]}}, TRAIN), fashion) is None
    assert grouped_run(recipe_config(base, {"model": {"name": "mlp", "hidden": [8]}}, TRAIN), fashion) is not None


def test_a_passed_deadline_stops_every_grouped_fold_after_its_epoch_with_the_doctors_reason(digits, base):
    folds = list(kfold(digits, k=3, seed=0))
    score = Evaluator(base, digits, folds, TRAIN, grouped=True, deadline=lambda: time.perf_counter() - 1,
                      deadline_reason=DEADLINE_STOP)
    trial = score(MLP, name="x", phase="t")
    assert trial.epochs == 1 and trial.details["stop_reasons"] == [f"{DEADLINE_STOP} after epoch 1"] * 3


def test_a_queued_grouped_score_is_one_job_with_the_scores_of_this_process(tmp_path, digits, base):
    folds = list(kfold(digits, k=3, seed=base.data.seed))
    url = storage_url(tmp_path)
    create_queue(url)
    queue = FoldQueue(open_queue_storage(url), FoldCache(digits), processes=2)
    queued = Scorer(base, digits, folds, TRAIN, grouped=True, queue=queue)
    candidates = [Candidate(MLP, "mlp 32", "t"), Candidate({"model": {"name": "mlp", "hidden": [8]}}, "mlp 8", "t")]
    trials = queued.evaluate_candidates(candidates)
    jobs = queue.storage.get_all_trials(queue.study_id)
    assert [(t.user_attrs["job"]["fold"], t.state.name) for t in jobs] == [(0, "COMPLETE")] * 2
    here = Scorer(base, digits, folds, TRAIN, grouped=True).evaluate_candidates(candidates)
    for mine, single in zip(trials, here, strict=True):
        assert (mine.name, mine.fold_scores, mine.details["val_loss"]) == (
            single.name, single.fold_scores, single.details["val_loss"])
        assert not math.isnan(mine.val_score)


def test_whether_a_recipe_groups_is_decided_once_per_recipe_and_options(digits, base, monkeypatch):
    import fitguard.search.evaluate as evaluate_module

    decided = []

    def counting(config, data, metric="auto"):
        decided.append(config.model.name)
        return grouped_run(config, data, metric)

    monkeypatch.setattr(evaluate_module, "grouped_run", counting)
    evaluator = Evaluator(base, digits, list(kfold(digits, k=2, seed=0)), TRAIN, grouped=True)
    mixup = {"model": {"name": "mlp", "hidden": [32]}, "remedies": {"mixup": 0.2}}
    answers = [evaluator.groups(MLP, {}), evaluator.groups(MLP, {}), evaluator.groups(mixup, {}),
               evaluator.groups(mixup, {}), evaluator.groups(MLP, {"max_epochs": 3})]
    assert answers == [True, True, False, False, True]
    assert len(decided) == 3  # once for each recipe and options: the network is built to decide
    assert not Evaluator(base, digits, None, TRAIN, grouped=True).groups(MLP, {})  # no folds: nothing to group
    assert len(decided) == 3
    fresh = Evaluator(base, digits, list(kfold(digits, k=2, seed=0)), {**TRAIN, "max_epochs": 2}, grouped=True)
    assert all(t.details["grouped"] for t in fresh.fold_trials(MLP, name="x", phase="t", options={}))
    assert len(decided) == 4 and fresh.groups(MLP, {})  # the run that trained also decided: built once


def test_grouped_folds_tell_the_progress_display_each_epoch(digits, base):
    class Progress:
        def __init__(self) -> None:
            self.seen: list[tuple[str, object]] = []

        def candidate(self, name, fold=None, folds=None):
            self.seen.append(("candidate", name))

        def epoch(self, epoch, max_epochs):
            self.seen.append(("epoch", (epoch, max_epochs)))

    progress = Progress()
    trial = Evaluator(base, digits, list(kfold(digits, k=2, seed=0)), {**TRAIN, "max_epochs": 4}, grouped=True,
                      progress=progress)(MLP, name="x", phase="t")
    assert progress.seen[0] == ("candidate", "x · 2 folds grouped")
    ticks = progress.seen[1:]  # one per epoch of the longest-training fold
    assert ticks == [("epoch", (e, 4)) for e in range(1, len(ticks) + 1)] and len(ticks) >= trial.epochs >= 1


def _l2_grid(network: dict, lams: tuple[float, ...]) -> list[Candidate]:
    return [Candidate({**network, "remedies": {"penalties": [{"kind": "l2", "lam": lam, "layers": "*.weight"}]}},
                      f"λ={lam:g}", "lambda_cv") for lam in lams]


@pytest.mark.parametrize("network, siblings", [({"model": {"name": "mlp", "hidden": [32], "batchnorm": True}}, 4),
                                               ({"model": {"name": "cnn", "widths": [4, 8]}}, 2)],
                         ids=["mlp: 12 members", "cnn: 6 members"])
def test_an_l2_grid_trains_as_sibling_members_and_scores_what_each_candidate_scores_alone(digits, base, network,
                                                                                          siblings):
    """The oracle: the same evaluator without grouping, each candidate's folds trained by the Trainer in turn."""
    folds = list(kfold(digits, k=3, seed=0))
    # not λ = 0 nor λ >= 0.1: without a penalty's contraction, or with a network penalized to near-equal outputs,
    # float differences between the grouped and the plain products (which differ from one CPU to another) grow into a
    # validation row or a 1e-4 of the loss (an AMD EPYC here, session 36); between them they stay under 1e-6
    candidates = _l2_grid(network, (1e-4, 1e-3, 1e-2, 3e-2))
    told = []
    grouped = Evaluator(base, digits, folds, TRAIN, grouped=True, on_scored=told.append).evaluate_candidates(
        candidates)
    alone = Evaluator(base, digits, folds, TRAIN).evaluate_candidates(candidates)
    assert [t.name for t in told] == [c.name for c in candidates]
    for mine, theirs in zip(grouped, alone, strict=True):
        assert mine.name == theirs.name and mine.recipe == theirs.recipe
        assert mine.fold_scores == pytest.approx(theirs.fold_scores, abs=1e-6)
        assert mine.details["val_loss"] == pytest.approx(theirs.details["val_loss"], rel=1e-4)
        assert mine.details["best_epochs"] == theirs.details["best_epochs"]
        assert mine.details["siblings"] == siblings and "siblings" not in theirs.details
    # the strengths told the members apart: λ = 0.03 scores differently from λ = 1e-4
    assert grouped[0].details["val_loss"] != pytest.approx(grouped[-1].details["val_loss"], rel=1e-3)


def test_siblings_are_next_to_each_other_differ_only_in_strength_and_each_is_admitted(digits, base):
    folds = list(kfold(digits, k=2, seed=0))
    mlp = {"model": {"name": "mlp", "hidden": [16]}}
    candidates = [*_l2_grid(mlp, (1e-4, 1e-3)), *_l2_grid({"model": {"name": "mlp", "hidden": [8]}}, (1e-4,)),
                  *_l2_grid(mlp, (1e-2, 1e-1, 1.0))]
    asked = []

    def admit(index: int, candidate: Candidate) -> bool:
        asked.append(index)
        return index != 4

    trials = Evaluator(base, digits, folds, {"max_epochs": 2}, grouped=True).evaluate_candidates(candidates, admit)
    assert asked == [0, 1, 2, 3, 4, 5]
    assert [t.details.get("siblings") for t in trials] == [2, 2, None, 2, None, 2]
    assert trials[4].status == "skipped: budget" and not math.isnan(trials[5].val_score)


def test_stored_siblings_are_read_back_and_the_rest_train_grouped(tmp_path, digits, base, monkeypatch):
    import fitguard.search.evaluate as evaluate_module
    from fitguard.doctor.store import TrialStore

    trained = []
    real = evaluate_module.grouped_sibling_trials

    def counting(siblings, *args, **kwargs):
        trained.append([name for _, _, name in siblings])
        return real(siblings, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "grouped_sibling_trials", counting)
    folds = list(kfold(digits, k=2, seed=0))
    url = storage_url(tmp_path)
    candidates = _l2_grid({"model": {"name": "mlp", "hidden": [16]}}, (1e-4, 1e-3, 1e-2))
    stores = []

    def scorer(**more):
        stores.append(TrialStore(url))
        return Scorer(base, digits, folds, {"max_epochs": 2}, grouped=True, store=stores[-1], **more)

    middle = scorer().evaluate_candidates(candidates[1:2])
    assert trained == [["λ=0.001"]] and "siblings" not in middle[0].details  # alone: its own folds grouped
    told = []
    again = scorer(on_scored=told.append).evaluate_candidates(candidates)
    assert trained == [["λ=0.001"], ["λ=0.0001", "λ=0.01"]]  # the stored one read back, the other two as siblings
    assert again[1].fold_scores == middle[0].fold_scores and again[0].details["siblings"] == 2
    assert [t.name for t in told] == [c.name for c in candidates]  # in the candidates' order, stored one included
    assert (stores[1].replayed, stores[1].stored) == (1, 2)
    third = scorer().evaluate_candidates(candidates)
    assert len(trained) == 2 and [t.fold_scores for t in third] == [t.fold_scores for t in again]
    assert (stores[2].replayed, stores[2].stored) == (3, 0)


def test_siblings_group_only_while_their_members_and_parameters_fit(digits, base):
    """12 members of the doctor's MLP at most; a wide network's parameters keep its grid apart."""
    evaluator = Evaluator(base, digits, list(kfold(digits, k=3, seed=0)), TRAIN, grouped=True)
    narrow, wide = _l2_grid({"model": {"name": "mlp", "hidden": [32]}}, (1e-4,)), _l2_grid(
        {"model": {"name": "mlp", "hidden": [2048]}}, (1e-4,))  # 2,410 and 153,610 parameters
    assert evaluator.sibling_room(narrow[0]) == 4 and evaluator.sibling_room(wide[0]) == 1
    assert Evaluator(base, digits, list(kfold(digits, k=2, seed=0)), TRAIN, grouped=True).sibling_room(narrow[0]) == 6
    assert Evaluator(base, digits, list(kfold(digits, k=3, seed=0)), TRAIN).sibling_room(narrow[0]) == 1


def test_a_sibling_leaders_final_training_is_costed_by_its_network_trained_without_siblings():
    from fitguard.doctor.pipeline import _cost_source
    from fitguard.search.scoring import Trial

    network = {"model": {"name": "mlp", "hidden": [32]}}
    l2 = {**network, "remedies": {"penalties": [{"kind": "l2", "lam": 1e-4, "layers": "*.weight"}]}}
    alone = Trial("mlp 32", "architecture", network, 0.9, 0.0, 10, 5, 3.0)
    other = Trial("mlp 8", "architecture", {"model": {"name": "mlp", "hidden": [8]}}, 0.8, 0.0, 10, 5, 1.0)
    grid = Trial("λ=1e-4", "lambda_cv", l2, 0.95, 0.0, 10, 5, 0.8, details={"siblings": 4})
    fgsm = Trial("FGSM", "ablation", {**network, "remedies": {"adversarial": {"epsilon": 0.05}}}, 0.9, 0.0, 10, 5,
                 9.0)
    assert _cost_source(grid, [alone, other, grid, fgsm]) is alone  # its network alone, not a costlier remedy's
    ablated = Trial("L2 λ=0.0001", "ablation", l2, 0.94, 0.0, 10, 5, 2.5)
    assert _cost_source(grid, [alone, grid, ablated, fgsm]) is ablated  # the same recipe alone, first
    assert _cost_source(grid, [other, grid, fgsm]) is grid  # nothing else trained its network: its own seconds
    assert _cost_source(alone, [alone, other, grid]) is alone
