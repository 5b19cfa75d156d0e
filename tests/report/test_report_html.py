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
