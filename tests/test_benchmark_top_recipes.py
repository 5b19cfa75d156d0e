"""``benchmarks/top_recipes.py``: its comparison of the stored cells is the one stored beside them, the row test is
scipy's binomial test on the discordant rows of hand-made cells, and the search's trials are ranked as the doctor
ranks them, one per distinct recipe, unfinished and unscored ones left out."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from tests.conftest import BENCHMARKS, close


@pytest.fixture
def top(benchmark_script):
    return benchmark_script("top_recipes")


def test_the_stored_comparison_is_what_the_stored_cells_give(top):
    stored = json.loads((BENCHMARKS / "reference" / "top_recipes_cpu.json").read_text())
    assert top.compare(stored["cells"]) == close(stored["comparisons"])


def test_top_is_tested_against_seeds_by_row_per_set_and_pooled(top):
    def one(seeds: list[int], best: list[int], split: str) -> dict:
        hits = {f"{key} {k}": rows for k in (1, 2, 3, 4, 5) for key, rows in (("seeds", seeds), ("top", best))}
        accuracy = {key: sum(rows) / len(rows) for key, rows in hits.items()}
        return {"hits": hits, "accuracy": accuracy, "test_rows": split}

    cells = {"a": {"0": one([1, 0, 0, 1], [1, 1, 1, 1], "a")},
             "b": {"0": one([1, 1, 1, 0, 1], [1, 1, 0, 0, 1], "b")}}
    found = top.compare(cells)
    assert found["a"]["top 5 | seeds 5"] == {"top": 1.0, "seeds": 0.5, "only_top": 2, "only_seeds": 0,
                                             "p": pytest.approx(binomtest(2, 2).pvalue), "scored_rows": 4}
    assert found["b"]["top 2 | seeds 2"]["only_seeds"] == 1 and found["b"]["top 2 | seeds 2"]["only_top"] == 0
    # pooled over the sets' rows: top alone right on 2 rows, seeds alone on 1
    assert found["pooled"]["top 3 | seeds 3"] == {"seeds": pytest.approx(6 / 9), "top": pytest.approx(7 / 9),
                                                  "only_top": 2, "only_seeds": 1,
                                                  "p": pytest.approx(binomtest(2, 3).pvalue), "scored_rows": 9}


def test_a_cell_with_fewer_recipes_counts_for_the_smaller_k_only(top):
    hits = {"seeds 1": [1, 0], "seeds 2": [1, 0], "top 1": [1, 0], "top 2": [1, 1]}
    cells = {"a": {"0": {"hits": hits, "accuracy": {key: sum(v) / 2 for key, v in hits.items()}, "test_rows": "a"}}}
    assert set(top.compare(cells)["a"]) == {"top 2 | seeds 2"}


def test_trials_are_ranked_as_the_doctor_ranks_them_one_per_recipe(top):
    def trial(name: str, score: float | None, recipe: dict, loss: float = 0.5, status: str = "done") -> dict:
        return {"name": name, "phase": "x", "recipe": recipe, "val_score": score, "gap": 0.0, "parameters": 10,
                "epochs": 5, "seconds": 1.0, "status": status, "details": {"val_loss": loss}}

    summary = {"remedies": {
        "architecture": [trial("mlp 64", 0.90, {"model": {"hidden": [64]}}),
                         trial("mlp 16", 0.95, {"model": {"hidden": [16]}}, loss=0.4)],
        "ablation": [trial("dropout", 0.95, {"model": {"hidden": [16]}, "dropout": 0.5}, loss=0.3),
                     trial("cut", 0.99, {"model": {"hidden": [8]}}, status="skipped: budget"),
                     trial("nan", float("nan"), {"model": {"hidden": [4]}})],
        "study": {"trials": [trial("study #0", 0.95, {"model": {"hidden": [16]}}, loss=0.2),  # mlp 16's recipe
                             trial("study #1", None, {"model": {"hidden": [2]}})]}}}
    # equal scores: the lower validation loss first; study #0 repeats mlp 16's recipe with a lower loss
    assert [t.name for t in top.ranked(summary)] == ["study #0", "dropout", "mlp 64"]
