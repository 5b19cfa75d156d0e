"""Tables as users have them, through the real ``fitguard`` command line: blank cells, a column with no value, a
category only the test rows hold, a class of two rows -- and the saved run predicting raw rows with blanks."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import typer

import fitguard
from fitguard.cli import main
from fitguard.commands.doctor import options_from_cli
from fitguard.data.source import class_names_of
from fitguard.data.splits import holdout_indices
from fitguard.doctor import DoctorOptions

ROWS = 40


def _labels() -> list[str]:
    return ["rare" if i in (3, 17) else ["left", "right"][i % 2] for i in range(ROWS)]


def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of train, val and test, as ``from_csv`` splits them at seed 0, val 0.2, test 0.2."""
    labels = np.asarray(_labels())
    names = class_names_of(labels)
    return holdout_indices(ROWS, np.asarray([names.index(v) for v in labels]), val=0.2, test=0.2, seed=0,
                           class_names=names)


def _unseen_row() -> int:
    """A row the split puts in the test rows."""
    return int(_split()[2][0])


def _table(path: Path) -> Path:
    labels, unseen = _labels(), _unseen_row()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["age", "color", "notes", "score", "label"])
        for i in range(ROWS):
            color = "violet" if i == unseen else ("" if i % 6 == 0 else ["red", "blue"][(i // 2) % 2])
            age = "NA" if i % 5 == 0 else str(20 + i + 10 * (labels[i] == "right"))
            writer.writerow([age, color, "", f"{(i * 7) % 13 / 4:.2f}", labels[i]])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("missing_cli")
    data, out = _table(folder / "t.csv"), folder / "run"
    with pytest.warns(UserWarning) as caught:
        code = main(["train", "--data", str(data), "--target", "label", "--hidden", "16", "--epochs", "3",
                     "--out", str(out), "--quiet"])
    assert code == 0
    return data, out, [str(w.message) for w in caught]


def test_blank_cells_are_imputed_and_recorded_in_the_saved_preprocessing(trained):
    _, out, _ = trained
    spec = json.loads((out / "model.json").read_text())
    assert spec["preprocessor"]["format_version"] == 4
    columns = {c["name"]: c for c in spec["preprocessor"]["columns"]}
    assert columns["age"]["indicator"] and isinstance(columns["age"]["fill"], float)
    assert columns["color"]["categories"] == ["blue", "red"] and columns["color"]["indicator"]
    assert columns["score"]["fill"] is not None and not columns["score"]["indicator"]  # no gaps: no indicator
    assert spec["feature_names"] == ["age", "age=<missing>", "color=blue", "color=red", "color=<missing>", "score"]


def test_a_column_with_no_value_is_dropped_with_a_warning(trained):
    _, out, warned = trained
    assert "column 'notes' has no value in any training row; it is dropped" in warned
    predictor = fitguard.load(out)
    notes = next(c for c in predictor.preprocessor.columns if c.name == "notes")
    assert notes.dropped and notes.describe() == "dropped: no value in any training row"


def test_a_class_of_two_rows_is_learned_from_one_and_scored_on_the_other(trained):
    _, out, warned = trained
    train, val, test = _split()
    rare = [i for i, label in enumerate(_labels()) if label == "rare"]
    assert len(set(rare) & set(train)) == 1 and len(set(rare) & set(val) | set(rare) & set(test)) == 1
    assert not any("class 'rare'" in w for w in warned)  # nothing to warn about: each side got a row
    assert fitguard.load(out).class_names == ("left", "rare", "right")


def test_a_category_seen_only_in_the_test_rows_encodes_as_unknown(trained):
    data, out, _ = trained
    predictor = fitguard.load(out)
    with data.open() as handle:
        row = list(csv.DictReader(handle))[_unseen_row()]
    assert row["color"] == "violet" and "violet" not in predictor.preprocessor.columns[1].categories
    features = predictor.preprocessor.transform([row]).numpy()[0]
    color = [i for i, n in enumerate(predictor.spec["feature_names"]) if n.startswith("color=")]
    assert features[color].tolist() == [0.0, 0.0, 0.0]  # no <other> column (2 categories): all zeros, no crash
    assert len(predictor.predict([row])) == 1
    scores = json.loads((out / "scores.json").read_text())["scores"]
    assert set(scores) == {"train", "val", "test"}


def test_the_reloaded_run_predicts_rows_with_blanks_and_the_cli_writes_them(trained, tmp_path, capsys):
    _, out, _ = trained
    predictor = fitguard.load(out)
    rows = [{"age": "", "color": "", "notes": "", "score": ""}, {"age": "33", "color": "blue", "notes": "x",
                                                                 "score": "NaN"}]
    filled = [{"age": str(predictor.preprocessor.columns[0].fill), "color": predictor.preprocessor.columns[1].fill,
               "notes": "", "score": str(predictor.preprocessor.columns[3].fill)}]
    probabilities = predictor.predict_proba(rows)
    assert probabilities.shape == (2, 3) and np.all(np.isfinite(probabilities))
    # a blank gets the training fill (and its indicator says so): not the same input as the fill written out
    features = predictor.preprocessor.transform(rows[:1] + filled).numpy()
    names = predictor.spec["feature_names"]
    assert features[0, names.index("age=<missing>")] == 1.0 and features[1, names.index("age=<missing>")] == 0.0
    assert features[0, names.index("score")] == features[1, names.index("score")]  # no indicator: identical
    path = tmp_path / "new.csv"
    path.write_text("score,color,age,notes\n,blue,,\n1.5,?,40,\n")
    assert main(["predict", str(out), str(path), "--out", str(tmp_path / "p.csv")]) == 0
    assert "2 predictions" in capsys.readouterr().out
    written = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert [r["row"] for r in written] == ["0", "1"] and written[0]["prediction"] in ("left", "rare", "right")


def test_a_dataframe_in_another_column_order_gives_the_same_predictions(trained):
    pandas = pytest.importorskip("pandas")
    data, out, _ = trained
    predictor = fitguard.load(out)
    frame = pandas.read_csv(data)  # NaN for the blanks and NA, numbers as numbers
    shuffled = frame[["score", "label", "notes", "color", "age"]]
    assert predictor.predict(shuffled).tolist() == predictor.predict(frame).tolist() == predictor.predict(
        str(data)).tolist()
    np.testing.assert_array_equal(predictor.predict_proba(shuffled), predictor.predict_proba(str(data)))


def test_missing_error_refuses_in_one_line_and_leaves_no_run(tmp_path, capsys):
    data = _table(tmp_path / "t.csv")
    code = main(["train", "--data", str(data), "--target", "label", "--missing", "error", "--epochs", "1",
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: column 'age' has no value at line 2 of {data}; with missing='error' every value must be filled in "
        "(missing='impute' fills gaps from the training rows)"]
    assert not (tmp_path / "run").exists()


def test_doctor_missing_option_round_trips_and_reaches_the_data_spec():
    from fitguard.commands.doctor import register
    from fitguard.doctor.pipeline import base_config

    app = typer.Typer()
    register(app)
    group = typer.main.get_command(app)
    options = DoctorOptions(data="t.csv", target="label", missing="error")
    assert options.command() == "fitguard doctor --data t.csv --target label --missing error"
    context = group.commands["doctor"].make_context("doctor", shlex.split(options.command())[2:])
    assert options_from_cli(**context.params) == options
    assert base_config(options).data.missing == "error"
    assert base_config(DoctorOptions(data="t.csv", target="label")).data.missing == "impute"


def test_the_cli_shows_a_warning_as_one_line_without_pythons_file_and_source_line(tmp_path):
    import subprocess
    import sys

    data = _table(tmp_path / "t.csv")
    done = subprocess.run([sys.executable, "-m", "fitguard.cli", "train", "--data", str(data), "--target", "label",
                           "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["warning: column 'notes' has no value in any training row; it is dropped"]
