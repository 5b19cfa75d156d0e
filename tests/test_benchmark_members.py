"""``benchmarks/members_or_rows.py``: its comparisons of each stored reference's cells are the ones stored beside
them (the equal-time pairs of session 30, and the seeds on every row against one of session 32), and the by-row
test is scipy's binomial test on the discordant rows of hand-made cells, per set and pooled."""

from __future__ import annotations

import json
import sys

import pytest
from scipy.stats import binomtest

from tests.conftest import BENCHMARKS, close


@pytest.fixture
def members(benchmark_script):
    return benchmark_script("members_or_rows")


@pytest.mark.parametrize("reference", ["members_or_rows_cpu.json", "members_or_rows_images_cpu.json",
                                       "members_every_row_cpu.json"])
def test_each_stored_comparison_is_what_its_cells_give(members, reference):
    stored = json.loads((BENCHMARKS / "reference" / reference).read_text())
    assert members.compare(stored["cells"]) == close(stored["comparisons"])


def test_the_seeds_on_every_row_are_compared_only_where_more_than_two_trained(members):
    stored = json.loads((BENCHMARKS / "reference" / "members_every_row_cpu.json").read_text())
    found = members.compare(stored["cells"])["more seeds on every row"]["pooled"]
    assert list(found) == [f"rows {k} | rows 1" for k in (2, 3, 4, 5)]
    two = json.loads((BENCHMARKS / "reference" / "members_or_rows_cpu.json").read_text())
    assert "more seeds on every row" not in members.compare(two["cells"])


def test_pairs_are_ordered_by_their_numbers(members):
    cells = {"s": {"0": {"hits": {f"rows {k}": [1, 0] for k in range(1, 12)}, "test_rows": "s"}}}
    found = members.by_row(cells, lambda c: [(f"rows {k}", "rows 1") for k in range(2, 12)], ("first", "second"))
    assert members.by_row is sys.modules["doctor"].by_row  # one by-row comparison, doctor.py's, for the scripts
    assert list(found["s"]) == [f"rows {k} | rows 1" for k in range(2, 12)]


def test_a_pair_is_tested_by_row_per_set_and_pooled(members):
    def cell(a: list[int], b: list[int], rows: str) -> dict:
        return {"hits": {"x": a, "y": b}, "test_rows": rows}

    cells = {"s": {"0": cell([1, 1, 0, 1], [0, 1, 0, 0], "s")}, "t": {"0": cell([0, 1], [1, 1], "t")}}
    found = members.by_row(cells, lambda c: [("x", "y")], ("first", "second"))
    assert found["s"]["x | y"] == {"first": 0.75, "second": 0.25, "only_first": 2, "only_second": 0,
                                   "p": pytest.approx(binomtest(2, 2).pvalue), "scored_rows": 4}
    assert found["pooled"]["x | y"] == {"first": pytest.approx(4 / 6), "second": pytest.approx(3 / 6),
                                        "only_first": 2, "only_second": 1,
                                        "p": pytest.approx(binomtest(2, 3).pvalue), "scored_rows": 6}


def test_a_row_two_seeds_scored_counts_once_with_their_margin(members):
    # seeds 0 and 1 scored halves of one test split: rows 4 and 7 by both, rows 1, 2 and 9 by one
    cells = {"s": {"0": {"hits": {"x": [1, 1, 1], "y": [0, 0, 1]}, "test_rows": "split", "scored": [4, 7, 1]},
                   "1": {"hits": {"x": [1, 1, 0], "y": [0, 1, 1]}, "test_rows": "split", "scored": [4, 7, 9]}}}
    found = members.by_row(cells, lambda c: [("x", "y")], ("first", "second"))["s"]["x | y"]
    # margins: row 4 +2, row 7 +1, row 1 0, row 9 -1; sign flips of (2, 1, 1) with |total| >= 2: 6 of 8
    assert (found["only_first"], found["only_second"], found["p"]) == (2, 1, pytest.approx(6 / 8))
    assert found["scored_rows"] == 6
    del cells["s"]["1"]["test_rows"]
    with pytest.raises(SystemExit, match=r"^s seed 1: the cell does not say which test rows it scored \(test_rows\); "
                                         "rerun it to compare it by row$"):
        members.by_row(cells, lambda c: [("x", "y")], ("first", "second"))


def test_fold_members_stored_comparison_is_what_its_cells_give(benchmark_script):
    folds = benchmark_script("fold_members")
    stored = json.loads((BENCHMARKS / "reference" / "fold_members_cpu.json").read_text())
    assert folds.compare(stored["cells"]) == close(stored["comparisons"])
    pooled = stored["comparisons"]["pooled"]
    assert list(pooled) == [f"members {k} + folds | members {k}" for k in (1, 2, 3, 5)]
    for by_seed in stored["cells"].values():  # each mean's hits are its accuracy
        for cell in by_seed.values():
            assert all(sum(hits) / len(hits) == pytest.approx(cell["accuracy"][key])
                       for key, hits in cell["hits"].items())
