"""The network a tie on too few validation rows left beside the kept recipe joins its ensemble as one more member
(``fitguard.doctor.phases.tie_partner``, ``fitguard.doctor.trials.refit_members(partner=...)``), when it fits."""

import copy
import json
import time

import pytest
import torch
import yaml
from typer.testing import CliRunner

from fitguard import load as load_model
from fitguard.cli import app
from fitguard.data import load
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import ARCHITECTURES, RECIPES, Clock, settle_tie, tie_partner, training_cost
from fitguard.doctor.pipeline import REPORT_SECONDS, RESERVE_FACTOR, _partner_fits, base_config
from fitguard.doctor.trials import MEMBER_SEED_STEP, Trial, refit_members, refit_recipe
from fitguard.models.ensemble import MeanEnsemble

RECIPE = {"model": {"name": "cnn", "widths": [32, 64, 128]}, "train": {"max_epochs": 60}}
CNN = {"model": {"name": "cnn", "widths": [32, 64], "pool_to": 4}}
MLP = {"model": {"name": "mlp", "hidden": [16]}}


def scored(name, recipe, score, loss, *, epochs=10, best=None, seconds=10.0, status="done"):
    details = {"val_loss": loss, **({"best_epoch": best} if best else {})}
    return Trial(name, "architecture", recipe, score, 0.0, 1000, epochs, seconds, status=status, details=details)


class First:
    trainings = 1


class NoSecond:
    def lazily(self):
        raise AssertionError("no second split on rows this few")


def settled(recipe_score, network_score, *, rows=200, network=CNN, recipe=RECIPE):
    done = [scored("recipe", recipe, recipe_score, 0.5, epochs=60), scored("cnn", network, network_score, 0.4,
                                                                           epochs=38, best=23)]
    kept = settle_tie(First(), NoSecond().lazily, Clock(None, None), done, done[1], epsilon=0.005, rows=rows)
    return done, kept


def test_the_network_a_tie_within_the_noise_left_beside_the_recipe_is_its_partner():
    # the CNN leads by 3 points, within the noise of 200 rows: the recipe is kept and the CNN is its partner
    done, kept = settled(0.87, 0.90)
    assert kept is done[0] and tie_partner(kept, done) is done[1]
    # trailing the recipe within epsilon ties too
    done, kept = settled(0.87, 0.868)
    assert kept is done[0] and tie_partner(kept, done) is done[1]


def test_no_partner_without_such_a_tie():
    # 10 points ahead is beyond the noise: the CNN is kept, alone
    done, kept = settled(0.80, 0.90)
    assert kept is done[1] and tie_partner(kept, done) is None and tie_partner(done[0], done) is None
    # far behind: no tie at all
    done, kept = settled(0.90, 0.80)
    assert kept is done[1] and tie_partner(done[0], done) is None
    # a wide epsilon ties it, but 20 points below the recipe is beyond the noise: no hedge
    done = [scored("recipe", RECIPE, 0.90, 0.5, epochs=60), scored("cnn", CNN, 0.70, 0.4, epochs=38, best=23)]
    kept = settle_tie(First(), NoSecond().lazily, Clock(None, None), done, done[0], epsilon=0.5, rows=200)
    assert kept is done[0] and "tie" in done[1].details and tie_partner(kept, done) is None
    # a tie decided on a second split: the winner is the evidence's, not a hedge
    decided = [scored("recipe", RECIPE, 0.87, 0.5, epochs=60), scored("cnn", CNN, 0.875, 0.4, best=23)]
    for t, won in zip(decided, (True, False)):
        t.details["tie"] = {"search_score": t.val_score, "fresh_score": 0.9, "fresh_folds": [0.9], "epochs": 23,
                            "kept": won}
    assert tie_partner(decided[0], decided) is None
    # a transferred model on either side
    done, kept = settled(0.87, 0.90, network={**CNN, "transfer": {"backbone": "x"}})
    assert kept is done[0] and tie_partner(kept, done) is None
    # a partner that failed
    done, kept = settled(0.87, 0.90)
    done[1].status = "failed"
    assert tie_partner(kept, done) is None


def test_a_training_as_shipped_is_costed_from_its_search_training_per_epoch():
    class Folds:
        folds, trainings = [None] * 3, 3

    network = scored("cnn", CNN, 0.9, 0.4, epochs=40, best=20, seconds=12.0)  # 3 trainings of 40 epochs in 12 s
    assert training_cost(Folds(), network) == pytest.approx(12.0 / 3 / 40 * 20)
    recipe = scored("recipe", RECIPE, 0.9, 0.4, epochs=60, seconds=30.0)
    assert training_cost(Folds(), recipe) == pytest.approx(10.0)


def test_the_partner_fits_only_beside_what_the_shipped_model_needs():
    rows = lambda n: type("Rows", (), {"__len__": lambda self: n})()  # noqa: E731
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
    # not fitting: the recipe's members alone, as before
    without, _, seeds = refit_members(base, recipe, digits, rows=digits.train, epochs=3, seed=5, members=1,
                                      partner=(MLP, 4), partner_fits=lambda seconds, networks: False)
    assert seeds == [5] and without.member_models is None and not isinstance(without.model, MeanEnsemble)


def _small_recipe():
    small = {**copy.deepcopy(RECIPES["vgg"]), "model": {"name": "cnn", "widths": [8, 16], "convs": 1}}
    small["train"].update(max_epochs=3, lr=0.02)
    return small


def test_a_doctor_run_averages_the_tied_network_into_the_ensemble_and_ships_both(tmp_path, monkeypatch):
    # epsilon 0.99: every network ties; on a validation split of a few hundred rows the recipe is kept unless the
    # MLP leads it by more than the noise; kept, the MLP joins its ensemble in --ensemble 2's last place (no time
    # budget). Here the recipe's 3 epochs and the 4-unit MLP's 4 both score about 0.17-0.19 on this machine
    spec = tmp_path / "small.yaml"
    spec.write_text(yaml.safe_dump(_small_recipe()))
    monkeypatch.setitem(ARCHITECTURES, "image", [{"name": "mlp", "hidden": [4]}])
    out = tmp_path / "run"
    arguments = ["doctor", "--data", "digits", "--recipe", str(spec), "--budget", "none", "--trials", "20",
                 "--epochs", "4", "--search-epochs", "4", "--cv-max-rows", "0", "--train-fraction", "0.3",
                 "--min-steps", "0", "--quiet", "--no-references", "--ensemble", "2", "--epsilon", "0.99",
                 "--refit", "trainval", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    tie, best = summary["remedies"]["tie"], summary["best"]
    recipe, network = tie["finalists"]
    if network["kept"] or abs(network["search_score"] - recipe["search_score"]) > recipe["noise"]:
        assert best["partner"] is None  # another machine's numbers apart by more than the noise: no hedge
        return
    architecture = {t["name"]: t for t in summary["remedies"]["architecture"]}
    epochs = architecture[network["name"]]["details"]["best_epoch"] or architecture[network["name"]]["epochs"]
    assert best["partner"] == {
        "name": network["name"], "epochs": epochs, "seed": best["member_seeds"][-1], "used": True,
        "note": "the network the tie on too few validation rows left beside the kept recipe, averaged in as one more "
                "member"}
    assert best["members"] == 2 and best["member_seeds"] == [0, MEMBER_SEED_STEP]
    saved = json.loads((out / "best.json").read_text())["ensemble"]
    assert saved["models"] == [{"name": "cnn", "options": {"widths": [8, 16], "convs": 1}},
                               {"name": "mlp", "options": {"hidden": [4]}}]
    shipped = load_model(out).model
    assert isinstance(shipped, MeanEnsemble) and [type(m[-1]).__name__ for m in shipped.members] == ["Linear"] * 2
    report = (out / "report.html").read_text()
    assert (f"the network “{network['name']}”, which tied with it on validation rows too few to tell them apart, was "
            f"trained beside it on the same rows for the {epochs} epochs its validation chose") in report
    assert "an ensemble of both families" in report
