import json
from pathlib import Path

import pytest

from fitguard.report.terminal import unused_time
from fitguard.summary import Summary

FIXTURE = Path(__file__).parent.parent / "fixtures" / "doctor_summary_v2.json"


def summary(budget: float | None, *, members: int = 2, settled: str | None = None,
            shipped: int | None = None) -> Summary:
    """The stored summary with a time budget, the phases' seconds of ``make demo`` here, ``members`` of 5 tested
    (``shipped`` of them shipped: None, not recorded) and the search's ``settled`` reason."""
    raw = json.loads(FIXTURE.read_text())
    raw["budget"]["seconds"] = budget
    raw["timings"] = {"load": 0.9, "baseline": 5.3, "diagnosis": 5.1, "references": 5.1, "architecture": 42.9,
                      "learning_curve": 21.4, "final": 53.4, "total": 134.1}
    raw["options"]["ensemble"] = 5
    raw["best"].update(members=members, member_seeds=list(range(members)), partner=None)
    raw["best"]["shipped"]["members"] = shipped
    raw["remedies"]["settled"] = settled
    return Summary.from_dict(raw)


@pytest.mark.parametrize(("budget", "members", "settled", "said"), [
    # the search ends when the phases before the final one are done: their seconds summed (80.7)
    (180, 2, None, "46 s unused: the search ended at 81 s and the final phase took 53 s (2 of --ensemble's 5 "
                   "networks, what its forecast let fit)"),
    (180, 5, "a complete recipe is kept as given",
     "46 s unused: the search ended at 81 s (a complete recipe is kept as given) and the final phase took 53 s (all 5 "
     "of --ensemble's networks)"),
    (150, 1, None, "16 s unused: the search ended at 81 s and the final phase took 53 s (1 of --ensemble's 5 networks, "
                   "what its forecast let fit)"),
    (148, 2, None, None),  # 134.1 s is more than 0.9 of 148: nothing to explain
    (None, 2, None, None),  # a --trials budget alone
])
def test_a_run_that_left_a_tenth_of_its_budget_says_where_the_time_went(budget, members, settled, said):
    assert unused_time(summary(budget, members=members, settled=settled)) == said


@pytest.mark.parametrize(("shipped", "said"), [
    (4, "46 s unused: the search ended at 81 s and the final phase took 53 s (2 of --ensemble's 5 networks, what its "
        "forecast let fit; 4 shipped, refit on every row)"),
    (2, "46 s unused: the search ended at 81 s and the final phase took 53 s (2 of --ensemble's 5 networks, what its "
        "forecast let fit)"),
    # the deadline cut a partner's refit: fewer shipped than tested, said by the shipped note, not here
    (1, "46 s unused: the search ended at 81 s and the final phase took 53 s (2 of --ensemble's 5 networks, what its "
        "forecast let fit)"),
])
def test_seeds_the_refit_on_every_row_added_are_counted_apart(shipped, said):
    assert unused_time(summary(180, members=2, shipped=shipped)) == said
