"""fitguard.search.ablation and ablate: the one ablation of every search.

Oracles: each row's score is the same configuration trained on its own by ``fit_and_score`` (same split, seed and
epochs); the greedy path and the "helpful" combination are worked out by hand on a scripted evaluator.
"""

from __future__ import annotations

import math

import pytest

from fitguard.recipe import load_data
from fitguard.search import Trial, ablate, ablation, apply_point, fit_and_score

SCORES = {("a",): 0.80, ("b",): 0.75, ("c",): 0.60, ("d",): 0.78,
          ("a", "b"): 0.85, ("a", "c"): 0.70, ("a", "d"): 0.79, ("a", "b", "c"): 0.84, ("a", "b", "d"): 0.83,
          ("d", "b"): 0.77, ("d", "c"): 0.70}


def _scripted(asked: list, refuse: set = frozenset()):
    def evaluate(batch):
        asked.append(list(batch))
        return [Trial(" + ".join(names), "t", {}, math.nan, math.nan, 0, 0, 0.0, "skipped: budget")
                if names in refuse else Trial(" + ".join(names), "t", {}, SCORES[names], 0.0, 1, 1, 1.0)
                for names in batch]
    return evaluate


def _reference():
    return Trial("reference", "t", {}, 0.70, 0.0, 1, 1, 1.0)


def test_greedy_forward_selection_adds_the_best_remedy_while_one_improves():
    asked = []
    rows = ablate(_scripted(asked), ["a", "b", "c", "d"], _reference())
    # alone in one batch; then a + each other remedy; a + b wins (0.85 > 0.80); then a + b + each of the rest,
    # none above 0.85: stop
    assert asked == [[("a",), ("b",), ("c",), ("d",)], [("a", "b"), ("a", "c"), ("a", "d")],
                     [("a", "b", "c"), ("a", "b", "d")]]
    assert [r.details["stage"] for r in rows] == ["reference"] + ["alone"] * 4 + ["combined"] * 5
    assert [r.details["helped"] for r in rows[1:5]] == [True, True, False, True]


def test_helpful_combines_the_remedies_that_beat_the_reference_once_one_per_group():
    asked = []
    rows = ablate(_scripted(asked), ["a", "b", "c", "d"], _reference(), combine="helpful",
                  group=lambda name: "ab" if name in ("a", "b") else name)
    # a, b and d helped; a and b are alternatives and a ranks higher
    assert asked[-1] == [("a", "d")] and rows[-1].details == {"remedies": ["a", "d"], "stage": "combined",
                                                              "helped": True}


def test_a_remedy_the_budget_refused_is_listed_and_never_combined():
    asked = []
    rows = ablate(_scripted(asked, refuse={("a",)}), ["a", "b", "c", "d"], _reference())
    assert rows[1].status == "skipped: budget" and rows[1].details["helped"] is False
    # the greedy path starts from d (0.78), the best that ran: a is never tried again
    assert asked[1:] == [[("d", "b"), ("d", "c")]] and len(rows) == 7


def test_an_unknown_combine_is_refused():
    with pytest.raises(ValueError, match=r"^`combine` must be one of greedy, helpful, got 'all'$"):
        ablate(_scripted([]), ["a"], _reference(), combine="all")


def test_each_ablation_row_scores_what_its_configuration_scores_trained_alone(tiny_recipe):
    data = load_data(tiny_recipe)
    remedies = {"dropout": {"dropout": 0.3}, "l2": {"l2": 1e-3}}
    result = ablation(tiny_recipe, remedies, data=data)
    by_name = {row.name: row for row in result.rows}
    assert list(by_name)[:3] == ["reference", "dropout", "l2"]
    for row in result.rows:
        point = {k: v for remedy in row.remedies for k, v in remedies[remedy].items()}
        alone, _, _ = fit_and_score(apply_point(tiny_recipe, point, data.kind), data, data.train, data.val)
        assert row.trial.value == pytest.approx(alone.value, abs=1e-9) and row.trial.metric == "val_accuracy"
    assert result.best.trial.value == max(row.trial.value for row in result.rows)
    assert result.table()[0]["remedies"] == result.best.name


def test_ablation_refuses_bad_arguments_in_one_line(tiny_recipe):
    with pytest.raises(ValueError, match=r"^`remedies` must map remedy names to search points, got \{\}$"):
        ablation(tiny_recipe, {})
    with pytest.raises(ValueError, match=r"^`budget` must be > 0 seconds or None, got 0$"):
        ablation(tiny_recipe, {"l2": {"l2": 1e-3}}, budget=0)
    with pytest.raises(ValueError, match=r"^unknown search parameter 'l3'"):
        ablation(tiny_recipe, {"l3": {"l3": 1e-3}})
