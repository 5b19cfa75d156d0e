"""A table with a many-category column and an ordered one, through the real ``fitguard train`` and ``doctor``: the
run learns an embedding, saves it, and the reloaded model predicts raw rows with unseen towns and blanks."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import fitguard
from fitguard.cli import app, main
from fitguard.doctor import DoctorOptions
from fitguard.report.html import column_rows

ROWS = 300
GRADES = ["low", "mid", "high"]


def _table(path: Path) -> Path:
    rng = np.random.default_rng(0)
    lean = rng.normal(0, 1.5, 30)  # each town leans one way
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["town", "grade", "income", "label"])
        for i in range(ROWS):
            town = int(rng.integers(0, 30))
            grade = int(rng.integers(0, 3))
            income = rng.normal(0, 1)
            label = "yes" if lean[town] + 0.5 * grade + income + rng.normal(0, 0.5) > 0.5 else "no"
            writer.writerow(["" if i % 25 == 0 else f"town{town}", GRADES[grade], f"{income:.3f}", label])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedding_cli")
    data, out = _table(folder / "towns.csv"), folder / "run"
    code = main(["train", "--data", str(data), "--target", "label", "--ordinal", "grade=low,mid,high",
                 "--hidden", "16", "--epochs", "5", "--out", str(out), "--quiet"])
    assert code == 0
    return data, out


def test_the_saved_run_records_the_embedding_and_the_order(trained):
    _, out = trained
    spec = json.loads((out / "model.json").read_text())
    columns = {c["name"]: c for c in spec["preprocessor"]["columns"]}
    town = columns["town"]
    assert town["embedding"] == round(1.6 * (len(town["categories"]) + 2) ** 0.56) and town["indicator"]
    assert columns["grade"]["ordered"] and columns["grade"]["categories"] == GRADES
    assert spec["feature_names"] == ["town", "grade", "income"]
    from safetensors.torch import load_file

    weights = load_file(out / "model.safetensors")
    assert weights["embed.tables.0.weight"].shape == (len(town["categories"]) + 2, town["embedding"])


def test_the_reloaded_model_predicts_unseen_towns_blanks_and_equals_the_saved_test_score(trained):
    _, out = trained
    predictor = fitguard.load(out)
    rows = [{"town": "atlantis", "grade": "high", "income": "0.2"}, {"town": "", "grade": "", "income": ""},
            {"town": "town3", "grade": "low", "income": "-1"}]
    probabilities = predictor.predict_proba(rows)
    assert probabilities.shape == (3, 2) and np.allclose(probabilities.sum(1), 1)
    codes = predictor.preprocessor.transform(rows).numpy()[:, 0]
    town = predictor.preprocessor.columns[0]
    assert codes.tolist() == [0.0, float(town.codes - 1), float(town.categories.index("town3") + 1)]
    with pytest.raises(ValueError) as error:
        predictor.predict([{"town": "town3", "grade": "huge", "income": "1"}])
    assert str(error.value) == ("column 'grade' has 'huge' at row 0, which is not one of its ordered categories "
                                "'low', 'mid', 'high'")


def test_a_bad_ordinal_option_is_one_line_and_no_run(tmp_path, capsys):
    data = _table(tmp_path / "t.csv")
    code = main(["train", "--data", str(data), "--target", "label", "--ordinal", "size=S,M", "--epochs", "1",
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: ordinal column 'size' is not a column of the table; columns: town, grade, income"]
    assert not (tmp_path / "run").exists()


def test_no_embed_pools_the_rarer_towns_into_other(tmp_path):
    data, out = _table(tmp_path / "t.csv"), tmp_path / "run"
    assert main(["train", "--data", str(data), "--target", "label", "--no-embed", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    town = fitguard.load(out).preprocessor.columns[0]
    assert town.embedding == 0 and town.other > 0 and len(town.categories) == 19


def test_doctor_embeds_the_town_column_says_so_in_the_report_and_ships_a_model_that_reloads(tmp_path):
    data, out = _table(tmp_path / "towns.csv"), tmp_path / "run"
    result = CliRunner().invoke(app, [
        "doctor", "--data", str(data), "--target", "label", "--ordinal", "grade=low,mid,high", "--budget", "60s",
        "--trials", "3", "--epochs", "5", "--search-epochs", "4", "--folds", "2", "--rounds", "2", "--min-steps",
        "0", "--ensemble", "2", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    described = dict(column_rows(out))
    town = fitguard.load(out).preprocessor.columns[0]
    assert described["town"] == (f"embedding of {len(town.categories)} categories in {town.embedding} dimensions; "
                                 f"{town.other} seen once share the unknown code; a gap gets its own vector")
    assert 20 < len(town.categories) + town.other <= 30
    assert described["grade"] == "ordinal, low < mid < high; a gap gets the median position 1"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["ordinal"] == ["grade=low,mid,high"]
    assert all(r["status"] == "done" for r in summary["references"])  # scikit-learn's models got the codes one-hot
    predictor = fitguard.load(out)
    assert set(predictor.predict([{"town": "atlantis", "grade": "mid", "income": "1.0"}])) <= {"yes", "no"}


def test_doctor_embed_and_ordinal_options_round_trip_through_the_command_line():
    from fitguard.commands.doctor import options_from_cli

    group = typer.main.get_command(app)
    options = DoctorOptions(data="t.csv", target="label", embed=False, ordinal=("grade=low,mid,high", "size=S,M,L"))
    assert options.command() == ("fitguard doctor --data t.csv --target label --no-embed "
                                 "--ordinal grade=low,mid,high --ordinal size=S,M,L")
    context = group.commands["doctor"].make_context("doctor", shlex.split(options.command())[2:])
    assert options_from_cli(**context.params) == options


def test_doctor_refused_at_startup_leaves_no_run_folder(tmp_path):
    data, out = _table(tmp_path / "towns.csv"), tmp_path / "run"
    result = CliRunner().invoke(app, ["doctor", "--data", str(data), "--target", "label", "--ordinal",
                                      "size=S,M", "--quiet", "--out", str(out)])
    assert result.exit_code != 0
    assert str(result.exception) == "ordinal column 'size' is not a column of the table; columns: town, grade, income"
    assert not out.exists()  # the corrected rerun needs no --overwrite
