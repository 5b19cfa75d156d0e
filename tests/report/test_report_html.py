import re
from html import unescape

import numpy as np
from typer.testing import CliRunner

from fitguard.cli import app

EVIL = "<script>alert(1)</script>"


def test_user_strings_are_escaped(tmp_path):
    # a table whose class and column names are HTML: they must show as text, never run
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    labels = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, EVIL, "plain")
    path = tmp_path / "evil.csv"
    lines = ["a,<b>bold</b>,c,label"] + [f"{x[0]:.4f},{x[1]:.4f},{x[2]:.4f},{y}" for x, y in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "doctor", "--data", str(path), "--target", "label", "--budget", "60s", "--trials", "6", "--epochs", "6",
        "--search-epochs", "4", "--folds", "2", "--rounds", "0", "--min-steps", "0", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert EVIL not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "given its data as a Dataset" not in html  # --data: the command reruns it


def test_a_run_given_a_dataset_says_its_command_reruns_the_loaded_data_not_those_rows(tmp_path):
    from fitguard.data import load
    from fitguard.doctor import DoctorOptions, run_doctor
    from fitguard.report import build_report

    options = DoctorOptions(data="wine", budget=60.0, trials=4, epochs=4, search_epochs=3, folds=2, rounds=0,
                            min_steps=0, quiet=True, references=False, out=str(tmp_path / "run"))
    run_dir = run_doctor(options, data=load("wine", seed=3, test=0.3))
    text = re.sub(r"<[^>]+>", "", unescape(build_report(run_dir).read_text()))  # the page's text, tags dropped
    assert ("This run was given its data as a Dataset in Python (run_doctor(options, data=...)): the command runs "
            "the same options on --data wine as fitguard loads and splits it, which need not be the same rows. To "
            "reproduce the run, pass the same Dataset again.") in text
