"""The time the final phase's forecasts kept back and did not need buys more seeds of the kept recipe on every row,
after the refit, up to ``--ensemble`` (``fitguard.doctor.trials.refit_members(more=...)``): untested, and said so in
the summary, the terminal and the report."""

import io
import itertools
import json
from html import unescape

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from fitguard import load as load_model
from fitguard.cli import app
from fitguard.data import load
from fitguard.doctor import DoctorOptions, pipeline
from fitguard.doctor.pipeline import _added_note, base_config
from fitguard.doctor.trials import MEMBER_SEED_STEP, refit_members, refit_recipe
from fitguard.models.ensemble import MeanEnsemble
from fitguard.report.terminal import print_outcome
from fitguard.summary import load_summary
from tests.doctor.conftest import TINY

RECIPE = {"model": {"name": "mlp", "hidden": [8]}}
MLP = {"model": {"name": "mlp", "hidden": [16]}}


@pytest.fixture(scope="module")
def digits():
    return load("digits", val=0.2, test=0.2, seed=0).with_train_fraction(0.3)


def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_more_seeds_train_while_more_says_so_each_the_recipe_alone_with_its_seed(digits):
    base = base_config(DoctorOptions(device="cpu"))
    asked = []
    run, _, seeds = refit_members(base, RECIPE, digits, rows=digits.train, epochs=3, seed=5, members=1,
                                  more=lambda longest, count: asked.append((longest, count)) or count < 3)
    assert seeds == [5, 5 + MEMBER_SEED_STEP, 5 + 2 * MEMBER_SEED_STEP]
    # asked after each network, with the longest training so far: never shorter than the one before
    assert [count for _, count in asked] == [1, 2, 3]
    assert all(0 < a[0] <= b[0] for a, b in itertools.pairwise(asked))
    assert isinstance(run.model, MeanEnsemble) and len(run.model.members) == 3
    for member, s in zip(run.model.members, seeds):
        assert same(member, refit_recipe(base, RECIPE, digits, rows=digits.train, epochs=3, seed=s)[0].model)


def test_a_seed_that_does_not_join_ends_the_loop(digits):
    base = base_config(DoctorOptions(device="cpu"))
    histories = []
    run, _, seeds = refit_members(base, RECIPE, digits, rows=digits.train, epochs=3, seed=5, members=1,
                                  # yes twice: a loop that went on past the seed left out would train another
                                  more=lambda longest, count, calls=[]: calls.append(count) or len(calls) <= 2,
                                  more_kept=lambda history: histories.append(history) or False)
    assert seeds == [5] and not isinstance(run.model, MeanEnsemble)
    assert [len(h) for h in histories] == [3]  # it trained, was asked about once, and the loop ended


def test_more_seeds_skip_the_seed_of_a_partner_left_out_and_follow_a_partner_that_joined(digits):
    base = base_config(DoctorOptions(device="cpu"))
    once = lambda longest, count: count < 3  # noqa: E731
    # the partner trained with seed 5 + 2 steps and was left out (say, the deadline cut it): the next seed is 3 steps
    _, _, seeds = refit_members(base, RECIPE, digits, rows=digits.train, epochs=3, seed=5, members=2,
                                partner=(MLP, 4), partner_kept=lambda history: False, more=once)
    assert seeds == [5, 5 + MEMBER_SEED_STEP, 5 + 3 * MEMBER_SEED_STEP]
    # the partner joined: the new seed is named as the recipe's network, after it
    run, _, seeds = refit_members(base, RECIPE, digits, rows=digits.train, epochs=3, seed=5, members=1,
                                  partner=(MLP, 4), more=once)
    assert seeds == [5, 5 + MEMBER_SEED_STEP, 5 + 2 * MEMBER_SEED_STEP]
    assert run.member_models == (("mlp", {"hidden": [8]}), ("mlp", {"hidden": [16]}), ("mlp", {"hidden": [8]}))


def test_the_note_names_the_seeds_added():
    assert _added_note([0], [0]) == ""
    assert _added_note([0, 1000], [0]) == ""  # a partner's refit cut: fewer shipped, said by the partner's note
    # a partner joined (seed 2000) and a seed followed it
    assert _added_note([0, 1000, 2000], [0, 1000, 2000, 3000]) == (
        "; then 1 more seed of the recipe (seed 3000) trained on every row in the time left and joined it, untested: "
        "the shipped model averages 4 networks, the tested one 3")
    assert _added_note([0], [0, 1000, 2000]) == (
        "; then 2 more seeds of the recipe (seeds 1000, 2000) trained on every row in the time left and joined it, "
        "untested: the shipped model averages 3 networks, the tested one 1")


@pytest.fixture(scope="module")
def one_tested(tmp_path_factory):
    """A tiny doctor run with a time budget far beyond its 12 trials, whose final phase's forecast let one member
    fit (a stand-in for a forecast that kept back more time than the training took): the refit on every row then
    fills --ensemble's 3 places."""
    out = tmp_path_factory.mktemp("more") / "run"
    patch = pytest.MonkeyPatch()
    patch.setattr(pipeline, "_members_that_fit", lambda *args: 1)
    patch.setattr(pipeline.phases, "tie_partner", lambda *args: None)  # an MLP's run has none; said, not left to it
    try:
        options = [*TINY, "--ensemble", "3", "--out", str(out)]
        options[options.index("--budget") + 1] = "600"
        result = CliRunner().invoke(app, ["doctor", *options])
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    return out


def test_a_run_ships_the_seeds_the_time_left_bought_and_says_they_were_not_tested(one_tested):
    summary = json.loads((one_tested / "summary.json").read_text())
    best = summary["best"]
    assert best["members"] == 1 and best["member_seeds"] == [0]
    assert best["shipped"]["refit"] == "all" and best["shipped"]["members"] == 3
    assert best["shipped"]["note"].endswith(
        "; then 2 more seeds of the recipe (seeds 1000, 2000) trained on every row in the time left and joined it, "
        "untested: the shipped model averages 3 networks, the tested one 1")
    model = load_model(one_tested).model
    assert isinstance(model, MeanEnsemble) and len(model.members) == 3
    report = unescape((one_tested / "report.html").read_text())
    assert "the shipped model averages 3 networks, the tested one 1" in report
    console = Console(file=io.StringIO(), width=400)
    print_outcome(console, load_summary(one_tested))
    said = console.file.getvalue()
    assert "the shipped model averages 3 networks, the tested one 1" in said
    assert "1 of --ensemble's 3 networks, what its forecast let fit; 3 shipped, refit on every row" in said
