"""``fitguard doctor`` end to end on a table with blank cells and categories: the run imputes them, the report's
"Columns" table says what was done to each column, and the shipped model predicts raw rows with blanks."""

import numpy as np
from typer.testing import CliRunner

import fitguard
from fitguard.report.html import column_rows
from tests.doctor.conftest import doctor_app


def test_doctor_imputes_a_table_with_blanks_and_the_report_lists_each_column(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["income,region,notes,label"]
    for i in range(150):
        region = rng.choice(["north", "south", "east"])
        income = rng.normal(50 + 20 * (region == "north"), 10)
        label = "high" if income + rng.normal(0, 5) > 55 else "low"
        rows.append(f"{'' if i % 6 == 0 else f'{income:.1f}'},{'NA' if i % 9 == 0 else region},,{label}")
    path = tmp_path / "people.csv"
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(doctor_app(), [
        "doctor", "--data", str(path), "--target", "label", "--budget", "60s", "--trials", "4", "--epochs", "5",
        "--search-epochs", "4", "--folds", "2", "--rounds", "0", "--min-steps", "0", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    described = dict(column_rows(out))
    assert set(described) == {"income", "region", "notes"}
    assert described["income"].startswith("number; a gap gets the median ")
    assert described["income"].endswith("; missing indicator")
    assert described["region"].startswith("one-hot, 3 categories; a gap gets the most frequent ")
    assert described["notes"] == "dropped: no value in any training row"
    html = (out / "report.html").read_text()
    assert "<h3>Columns: what the preprocessing does to each (fitted on the training rows)</h3>" in html
    assert "<tr><th>notes</th><td>dropped: no value in any training row</td></tr>" in html
    predictor = fitguard.load(out)
    assert set(predictor.predict([{"income": "", "region": "", "notes": ""},
                                  {"income": "80", "region": "west", "notes": "x"}])) <= {"high", "low"}


def test_column_rows_are_empty_without_a_saved_table_model(tmp_path):
    assert column_rows(tmp_path) == []
