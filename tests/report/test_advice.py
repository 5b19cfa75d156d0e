import json
from pathlib import Path

import pytest

from fitguard.report.html import advice
from fitguard.summary import Summary

FIXTURE = Path(__file__).parent.parent / "fixtures" / "doctor_summary_v2.json"


@pytest.mark.parametrize(("parameters", "said"), [
    (85_514, "with 85,514 parameters instead of 85,002."),
    # the kept recipe changed the baseline's training, not its network: no "85,002 instead of 85,002"
    (85_002, "with the baseline's 85,002 parameters."),
])
def test_the_first_line_compares_parameters_only_when_they_differ(parameters, said):
    raw = json.loads(FIXTURE.read_text())
    raw["best"]["parameters"] = parameters
    first = advice(Summary.from_dict(raw))[0]
    assert first == ("Use the recipe “study #0”: on the untouched test split it scores 97.5% against the baseline's "
                     f"96.7% (not distinguishable by a paired test on the same rows), {said}")
