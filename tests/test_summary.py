"""fitguard.summary: the typed summary.json the doctor writes and the report reads."""

import copy
import json
import math
from pathlib import Path

import pytest

from fitguard.errors import FitguardError
from fitguard.summary import SCHEMA_PATH, Summary, json_schema, load_summary, schema_text, write_summary

# written by the doctor before summary.json had a model (digits, overfit, a kept recipe with L2): what old run
# folders hold
FIXTURE = Path(__file__).with_name("fixtures") / "doctor_summary_v2.json"


@pytest.fixture
def raw() -> dict:
    return json.loads(FIXTURE.read_text())


def test_a_summary_written_before_the_model_reads_back_typed_and_unchanged(raw, tmp_path):
    summary = Summary.from_dict(raw)
    assert summary.data.task == "classification" and summary.data.n_train == raw["data"]["n_train"]
    assert summary.best.shipped.refit == raw["best"]["shipped"]["refit"]
    assert summary.test.best_vs_baseline.verdict == raw["test"]["best_vs_baseline"]["verdict"]
    assert [r.class_name for r in summary.test.best.figure.recall] == [
        r["class"] for r in raw["test"]["best"]["figure"]["recall"]]
    # keys the model does not declare (a trial's details, a tested model's accuracy) are kept
    assert summary.test.best.accuracy == raw["test"]["best"]["accuracy"]
    assert summary.remedies.ablation[0].details == raw["remedies"]["ablation"][0]["details"]
    assert summary.to_dict() == raw
    write_summary(tmp_path, summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == raw
    assert load_summary(tmp_path).to_dict() == raw


def test_the_checked_in_schema_is_the_generated_one():
    # after changing the models: python -m fitguard.summary
    assert SCHEMA_PATH.read_text() == schema_text()
    schema = json_schema()
    assert schema["$id"] == "fitguard-doctor/2" and schema["additionalProperties"] is False
    assert set(schema["required"]) == set(Summary.model_fields)  # every section, in every summary
    assert schema["$defs"]["Recall"]["required"] == ["class", "value", "rows"]


def _broken(raw: dict, path: str, value: object) -> dict:
    broken = copy.deepcopy(raw)
    *parents, last = path.split(".")
    target = broken
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "message"), [
    ("test", _DELETE, "test: Field required"),
    ("best.shipped.refit", "sometimes",
     "best.shipped.refit: Input should be 'all', 'trainval' or 'none' (got 'sometimes')"),
    ("data.n_test", 0, "data.n_test: Input should be greater than or equal to 1 (got 0)"),
    ("remedies.architecture.0.seconds", "slow",
     "remedies.architecture.0.seconds: Input should be a valid number, unable to parse string as a number "
     "(got 'slow')"),
    ("surprise", 1, "surprise: Extra inputs are not permitted (got 1)"),
    ("timings.total", _DELETE, "timings: needs 'total'"),
    ("versions.torch", 2, "versions.torch: Input should be a valid string (got 2)"),
])
def test_a_wrong_or_missing_field_is_named_in_one_line(raw, path, value, message):
    with pytest.raises(FitguardError) as caught:
        Summary.from_dict(_broken(raw, path, value))
    assert str(caught.value) == f"summary does not match the Summary model: {message}"


def test_reading_a_broken_file_names_the_file_and_the_field(raw, tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(_broken(raw, "verdict.kind", "fine")))
    with pytest.raises(FitguardError) as caught:
        load_summary(tmp_path)
    assert str(caught.value) == (f"{tmp_path / 'summary.json'}: summary does not match the Summary model: "
                                 "verdict.kind: Input should be 'overfit', 'underfit' or 'good' (got 'fine')")
    with pytest.raises(FileNotFoundError, match="is not a doctor run folder"):
        load_summary(tmp_path / "nowhere")


def test_non_finite_numbers_are_written_as_null(raw, tmp_path):
    raw["remedies"]["architecture"][0]["val_score"] = math.nan
    raw["test"]["baseline"]["figure"]["recall"][0]["value"] = math.inf
    write_summary(tmp_path, raw)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["remedies"]["architecture"][0]["val_score"] is None
    assert written["test"]["baseline"]["figure"]["recall"][0]["value"] is None


def test_fitguard_report_on_a_broken_summary_is_one_line_and_exit_code_2(raw, tmp_path, capsys):
    from fitguard.cli import main

    (tmp_path / "summary.json").write_text(json.dumps(_broken(raw, "best.shipped.refit", _DELETE)))
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'summary.json'}: summary does not match the Summary "
                                       "model: best.shipped.refit: Field required\n")
