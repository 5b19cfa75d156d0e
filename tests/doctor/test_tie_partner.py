"""The network a tie on too few validation rows left beside the kept recipe joins its ensemble as one more member
(``fitguard.doctor.phases.tie_partner``, ``fitguard.doctor.trials.refit_members(partner=...)``), when it fits."""

import dataclasses
import io
import json
import math
import shutil
import time
from html import unescape
from types import SimpleNamespace

import pytest
import torch
from rich.console import Console

from fitguard import load as load_model
from fitguard.data import load
from fitguard.doctor import DoctorOptions, phases
from fitguard.doctor.phases import (
    DEADLINE_STOP,
    GROUPED_ALONE,
    Clock,
    tie_partner,
    training_cost,
)
from fitguard.doctor.pipeline import (
    PARTNER_NOTE,
    REPORT_SECONDS,
    RESERVE_FACTOR,
    _members_that_fit,
    _partner_fits,
    _partner_note,
    _partner_why_not,
    base_config,
)
from fitguard.doctor.trials import MEMBER_SEED_STEP, refit_members, refit_recipe
from fitguard.models.ensemble import MeanEnsemble
from fitguard.report.html import render_report
from fitguard.report.terminal import print_outcome
from fitguard.summary import load_summary
from tests.doctor.test_tie import CNN, RECIPE, recipe_beside, scored

MLP = {"model": {"name": "mlp", "hidden": [16]}}


@dataclasses.dataclass
class Split:
    """A stand-in scorer: its validation rows (a holdout split, or folds) are all tie_partner reads."""

    folds: list | None = None
    data: object = None
    grouped: bool = False
    queue: object = None
    first_fold_of: int | None = None


def holdout(rows):
    return Split(data=SimpleNamespace(val=[0] * rows))


def chosen(name, recipe, score, loss, **options):
    """A trial the architecture phase chose (a complete recipe, here)."""
    trial = scored(name, recipe, score, loss, **options)
    trial.details["chosen"] = True
    return trial


def test_the_best_network_within_the_noise_of_a_kept_recipe_either_way_is_its_partner():
    # 200 validation rows: two standard errors of a difference near 0.87 are 6.7 points
    recipe = chosen("recipe", RECIPE, 0.87, 0.5, epochs=60)
    for score in (0.90, 0.82):  # 3 points above, 5 below: both within the noise
        cnn, mlp = scored("cnn", CNN, score, 0.4, best=23), scored("mlp", MLP, score - 0.01, 0.3)
        assert tie_partner(holdout(200), recipe, [recipe, cnn, mlp]) is cnn  # the best-scored network
    far = scored("cnn", CNN, 0.79, 0.4, best=23)  # 8 points below: the rows tell them apart
    assert tie_partner(holdout(200), recipe, [recipe, far]) is None


def test_no_partner_where_the_rows_resolve_or_the_recipe_is_no_kept_complete_recipe():
    recipe, cnn = chosen("recipe", RECIPE, 0.87, 0.5, epochs=60), scored("cnn", CNN, 0.88, 0.4, best=23)
    assert tie_partner(holdout(200), recipe, [recipe, cnn]) is cnn
    assert tie_partner(holdout(100_000), recipe, [recipe, cnn]) is None  # a point resolved: the rows chose
    assert tie_partner(holdout(200), cnn, [recipe, cnn]) is None  # a network kept: no hedge
    # a schedule remedy's variant of a network is a fixed schedule too, but no complete recipe kept as given
    cosine = scored("cnn + cosine", {**CNN, "early_stopping": None, "remedies": {"cosine": {}}}, 0.89, 0.4, epochs=46)
    picked = chosen("cnn", CNN, 0.88, 0.4, best=23)
    assert tie_partner(holdout(200), cosine, [recipe, picked]) is None
    assert tie_partner(holdout(200), recipe, [scored("recipe", RECIPE, 0.87, 0.5, epochs=60), cnn]) is None
    unscored = chosen("recipe", RECIPE, 0.87, 0.5, epochs=60)
    unscored.details["unscored"] = {"epochs": 60}
    assert tie_partner(holdout(200), unscored, [unscored, cnn]) is None
    cut = chosen("recipe", RECIPE, 0.87, 0.5, epochs=30)
    cut.details["stop_reason"] = f"{DEADLINE_STOP} after epoch 30"
    assert tie_partner(holdout(200), cut, [cut, cnn]) is None
    regression = dataclasses.replace(recipe, metric="val_loss", val_score=-0.3)  # no binomial noise to go by
    assert tie_partner(holdout(200), regression, [regression, cnn]) is None


def test_only_networks_scored_in_full_with_a_finite_score_of_the_doctors_own_builders_are_partners():
    recipe = chosen("recipe", RECIPE, 0.87, 0.5, epochs=60)
    transferred = scored("backbone", {**CNN, "transfer": {"backbone": "x"}}, 0.88, 0.4, best=5)
    failed = scored("cnn", CNN, 0.88, 0.4, best=23, status="failed")
    theirs = scored("theirs", {"model": {"name": "package.module:net"}}, 0.88, 0.4, best=5)
    cut = scored("cnn", CNN, 0.88, 0.4, epochs=12)
    cut.details["stop_reason"] = f"{DEADLINE_STOP} after epoch 12"
    for network in (transferred, failed, theirs, cut):
        assert tie_partner(holdout(200), recipe, [recipe, network]) is None
    mlp = scored("mlp", MLP, 0.85, 0.3)
    assert tie_partner(holdout(200), recipe, [recipe, scored("cnn", CNN, math.nan, 0.4, best=23), mlp]) is mlp


def test_a_recipe_scored_on_one_fold_is_compared_with_the_networks_first_fold():
    # 3 folds of 67 validation rows; the recipe scored on the first alone: 13.8 points of noise near 0.80 there
    folds = Split(folds=[(None, [0] * 67)] * 3)
    recipe = chosen("recipe", RECIPE, 0.80, 0.5, epochs=60)
    recipe.details["one_fold"] = {"folds": 3}
    cnn = scored("cnn", CNN, 0.60, 0.4, best=23)  # 20 points below over every fold, 10 on the first
    cnn.details.update(folds=[0.70, 0.55, 0.55], first_fold={"val_score": 0.70, "val_loss": 0.6})
    assert tie_partner(folds, recipe, [recipe, cnn]) is cnn
    cnn = scored("cnn", CNN, 0.75, 0.4, best=23)  # 5 points below over every fold, 20 on the first
    cnn.details.update(folds=[0.60, 0.825, 0.825], first_fold={"val_score": 0.60, "val_loss": 0.6})
    assert tie_partner(folds, recipe, [recipe, cnn]) is None


def test_a_training_as_shipped_is_costed_from_its_search_training_per_epoch():
    class Folds:
        folds, trainings = [None] * 3, 3

    network = scored("cnn", CNN, 0.9, 0.4, epochs=40, best=20, seconds=12.0)  # 3 trainings of 40 epochs in 12 s
    assert training_cost(Folds(), network) == pytest.approx(12.0 / 3 / 40 * 20)
    recipe = scored("recipe", RECIPE, 0.9, 0.4, epochs=60, seconds=30.0)
    assert training_cost(Folds(), recipe) == pytest.approx(10.0)


def test_a_grouped_trainings_share_is_costed_as_a_training_alone():
    class Folds:
        folds, trainings = [None] * 3, 3

    grouped = scored("cnn", CNN, 0.9, 0.4, epochs=40, best=20, seconds=12.0)
    grouped.details["grouped"] = True
    assert training_cost(Folds(), grouped) == pytest.approx(12.0 / 3 / 40 * 20 * GROUPED_ALONE)


def rows(n):
    """A stand-in for n rows: the cost rules read only their count."""
    return type("Rows", (), {"__len__": lambda self: n})()


def test_the_partner_fits_only_beside_what_the_shipped_model_needs():
    tested, every = rows(800), rows(1000)  # the refit on every row: 1.25x the tested rows
    clock = Clock(seconds=100.0, trials=None, started=time.perf_counter() - 50.0)  # about 50 s left
    left = 50.0 - REPORT_SECONDS - 1.0 - 3 * 0.5  # less the baseline's evaluations (1 s) and three networks' (0.5 s)
    refit_all = RESERVE_FACTOR * 4.0 * 2 * 1.25  # two members of 4 s each, again on every row
    # the partner must fit its training on both sets of rows beside the members' refit on every row
    most = (left - refit_all) / (RESERVE_FACTOR * 2.25)
    assert _partner_fits(clock, 0.95 * most, 4.0, 2, 0.5, 1.0, tested, every)
    assert not _partner_fits(clock, 1.05 * most, 4.0, 2, 0.5, 1.0, tested, every)
    # where the refit on every row does not fit anyway, only the tested training counts
    assert _partner_fits(clock, 0.95 * left / RESERVE_FACTOR, 40.0, 2, 0.5, 1.0, tested, every)
    assert _partner_fits(clock, 0.95 * left / RESERVE_FACTOR, 4.0, 2, 0.5, 1.0, tested, None)
    assert not _partner_fits(clock, 1.05 * left / RESERVE_FACTOR, 4.0, 2, 0.5, 1.0, tested, None)
    assert _partner_fits(Clock(None, 10), 1e9, 4.0, 2, 0.5, 1.0, tested, every)  # no time budget


def test_members_fit_with_the_refit_on_every_row_where_one_does():
    tested, every = rows(800), rows(1000)
    options = DoctorOptions(budget=100, ensemble=5)
    clock = Clock(seconds=100.0, trials=None, started=time.perf_counter() - 50.0)  # about 50 s left
    left = 50.0 - REPORT_SECONDS - 1.0  # less the tested baseline's evaluations (1 s)

    def by_hand(first, every_share):  # m members: m - 1 more trainings, m refits on every row, m evaluations
        fits = [m for m in range(1, 6)
                if RESERVE_FACTOR * ((m - 1) * first + m * first * every_share) + m * 0.5 <= left - 0.05]
        return max(fits, default=1)

    for first in (2.0, 4.0, 6.0, 9.0):
        assert _members_that_fit(options, clock, first, 0.5, 1.0, tested, every) == by_hand(first, 1.25)
        assert _members_that_fit(options, clock, first, 0.5, 1.0, tested, None) == by_hand(first, 0.0)
    # one member's refit on every row does not fit: it will not run, and only the tested trainings count
    assert _members_that_fit(options, clock, 30.0, 0.5, 1.0, tested, every) == by_hand(30.0, 0.0) == 2
    assert _members_that_fit(options, Clock(None, 10), 1e9, 0.5, 1.0, tested, every) == 5  # no time budget


@pytest.fixture(scope="module")
def digits():
    return load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.3)


def test_refit_members_trains_the_partner_last_with_the_next_seed(digits):
    base = base_config(DoctorOptions(device="cpu"))
    recipe = {"model": {"name": "mlp", "hidden": [8]}}
    asked = []

    def fits(seconds, networks):
        asked.append(networks)
        return True

    run, _, seeds = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=2,
                                  partner=(MLP, 4), partner_fits=fits)
    assert seeds == [5, 5 + MEMBER_SEED_STEP, 5 + 2 * MEMBER_SEED_STEP] and asked == [2]
    assert isinstance(run.model, MeanEnsemble) and len(run.model.members) == 3
    assert run.member_models == (("mlp", {"hidden": [8]}),) * 2 + (("mlp", {"hidden": [16]}),)
    # each member is exactly what refit_recipe trains alone with its seed
    alone = [refit_recipe(base, r, digits, rows=digits.train, epochs=e, seed=s)[0].model
             for r, e, s in ((recipe, 3, seeds[0]), (recipe, 3, seeds[1]), (MLP, 4, seeds[2]))]
    for member, single in zip(run.model.members, alone):
        assert all(torch.equal(a, b) for a, b in zip(member.state_dict().values(), single.state_dict().values()))
    # not fitting, or trained but not kept (the deadline cut it): the recipe's members alone, as before
    histories = []
    for fits, kept in ((False, True), (True, False)):
        without, _, seeds = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=1,
                                          partner=(MLP, 4), partner_fits=lambda seconds, networks, fits=fits: fits,
                                          partner_kept=lambda history, kept=kept: histories.append(history) or kept)
        assert seeds == [5] and without.member_models is None and not isinstance(without.model, MeanEnsemble)
    assert [len(h) for h in histories] == [4]  # asked once, of the partner's training that ran


def test_a_partner_that_does_not_join_leaves_its_place_to_the_recipes_next_seed(digits):
    base = base_config(DoctorOptions(device="cpu"))
    recipe = {"model": {"name": "mlp", "hidden": [8]}}
    for fits, kept in ((False, True), (True, False)):
        asked = []
        run, _, seeds = refit_members(
            base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=2, partner=(MLP, 4),
            partner_fits=lambda seconds, networks, fits=fits: fits, partner_kept=lambda history, kept=kept: kept,
            seed_instead=lambda seconds, members, asked=asked: asked.append(members) or True)
        assert asked == [2] and seeds == [5, 5 + MEMBER_SEED_STEP, 5 + 2 * MEMBER_SEED_STEP]
        assert run.member_models is None and len(run.model.members) == 3
        # the third member is the recipe trained alone with the next seed
        alone = refit_recipe(base, recipe, digits, rows=digits.train, epochs=3, seed=seeds[2])[0].model
        assert all(torch.equal(a, b) for a, b in zip(run.model.members[2].state_dict().values(),
                                                     alone.state_dict().values()))
    # it does not fit: the recipe's members alone; the partner joined: never asked
    _, _, seeds = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=1,
                                partner=(MLP, 4), partner_fits=lambda seconds, networks: False,
                                seed_instead=lambda seconds, members: False)
    assert seeds == [5]
    _, _, seeds = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=1,
                                partner=(MLP, 4), seed_instead=lambda seconds, members: pytest.fail("asked"))
    assert seeds == [5, 5 + MEMBER_SEED_STEP]


def test_the_summary_says_what_became_of_the_partner():
    used = f"{PARTNER_NOTE}, averaged in as the ensemble's last member"
    assert _partner_note(True, {"cut": False}) == used
    assert _partner_note(True, {"cut": False, "cut_on_every_row": True}) == (
        f"{PARTNER_NOTE}, averaged in as the ensemble's last member; the run's deadline cut its refit on every row, so "
        "the shipped model is the tested one's members without it")
    assert _partner_note(False, {}) == (
        f"{PARTNER_NOTE}; its training did not fit the time left, so it was not averaged in")
    assert _partner_note(False, {"cut": True}) == (
        f"{PARTNER_NOTE}; the run's deadline cut its training, so it was not averaged in")
    assert _partner_note(False, {"seed_instead": True}) == (
        f"{PARTNER_NOTE}; its training did not fit the time left, so it was not averaged in; one more seed of the "
        "recipe took its place")
    # the reason alone, which the report reads (no reason where it was averaged in)
    assert _partner_why_not({"cut": True, "seed_instead": True}) == (
        "the run's deadline cut its training, so it was not averaged in; one more seed of the recipe took its place")
    assert _partner_note(False, {"cut": True}) == f"{PARTNER_NOTE}; {_partner_why_not({'cut': True})}"


def test_a_doctor_run_averages_the_tied_network_into_the_ensemble_and_ships_both(tmp_path, monkeypatch):
    # noise of a whole point of accuracy: the validation rows tell nothing apart, so the recipe is kept as given and
    # the MLP, within the noise of it, takes --ensemble 2's last place (no time budget), in the tested model and again
    # in the refit on every row
    monkeypatch.setattr(phases, "noise", lambda p, rows: 1.0)
    out = recipe_beside(tmp_path, monkeypatch, [{"name": "mlp", "hidden": [4]}], "--ensemble", "2", "--refit", "all")
    summary = json.loads((out / "summary.json").read_text())
    best = summary["best"]
    network = next(t for t in summary["remedies"]["architecture"] if not phases.fixed_schedule(t["recipe"]))
    assert best["name"] == "the recipe as given"
    architecture = {t["name"]: t for t in summary["remedies"]["architecture"]}
    trial = architecture[network["name"]]
    epochs = trial["details"]["best_epoch"] or trial["epochs"]
    assert best["partner"] == {
        "name": network["name"], "epochs": epochs, "parameters": trial["parameters"],
        "seed": best["member_seeds"][-1], "used": True, "why_not": None,
        "note": f"{PARTNER_NOTE}, averaged in as the ensemble's last member"}
    assert best["members"] == 2 and best["member_seeds"] == [0, MEMBER_SEED_STEP]
    assert best["shipped"]["rows"] == summary["data"]["n_train"] + summary["data"]["n_val"] + summary["data"]["n_test"]
    saved = json.loads((out / "best.json").read_text())["ensemble"]
    assert saved["models"] == [{"name": "cnn", "options": {"widths": [8, 16], "convs": 1}},
                               {"name": "mlp", "options": {"hidden": [4]}}]
    shipped = load_model(out).model  # the refit on every row: the same two networks
    assert isinstance(shipped, MeanEnsemble)
    assert [sum(p.numel() for p in m.parameters()) for m in shipped.members] == [best["parameters"],
                                                                                trial["parameters"]]
    table = io.StringIO()
    print_outcome(Console(file=table, width=200), load_summary(out))
    assert f"kept: the recipe as given (mean with {network['name']})" in table.getvalue()
    report = (out / "report.html").read_text()
    assert (f"the network “{network['name']}”, whose validation score was within the noise of the recipe's (too few "
            f"validation rows to tell them apart), was trained beside it on the same rows for the {epochs} "
            f"epoch{'s' if epochs != 1 else ''} its "
            "validation chose") in report
    assert "an ensemble of both families" in report
    assert f"+ {network['name']} ({trial['parameters']:,} parameters)" in report
    # where its training did not fit, the report says so
    unused = tmp_path / "unused"
    shutil.copytree(out, unused)
    summary["best"].update(members=1, member_seeds=[0], partner={
        **best["partner"], "seed": None, "used": False, "why_not": _partner_why_not({"cut": True}),
        "note": _partner_note(False, {"cut": True})})
    (unused / "summary.json").write_text(json.dumps(summary))
    html = unescape(render_report(unused))  # the page as read: the reason is escaped as text in it
    assert (f"(the network “{network['name']}”, whose validation score was within the noise of the recipe's, would "
            "have joined it as one more member, but the run's deadline cut its training, so it was not averaged "
            "in)") in html
    assert "an ensemble of both families" not in html
    # where a seed of the recipe took its place: two seeds of the recipe, and the note's reason
    summary["best"].update(members=2, member_seeds=[0, MEMBER_SEED_STEP], partner={
        **summary["best"]["partner"], "why_not": _partner_why_not({"seed_instead": True}),
        "note": _partner_note(False, {"seed_instead": True})})
    (unused / "summary.json").write_text(json.dumps(summary))
    html = unescape(render_report(unused))
    assert f"2 times with different seeds (seeds 0, {MEMBER_SEED_STEP})" in html
    assert ("would have joined it as one more member, but its training did not fit the time left, so it was not "
            "averaged in; one more seed of the recipe took its place)") in html
    # a summary from before best.partner.why_not: the report says what it knows, no more
    del summary["best"]["partner"]["why_not"]
    (unused / "summary.json").write_text(json.dumps(summary))
    assert "would have joined it as one more member, but it was not averaged in)" in unescape(render_report(unused))
