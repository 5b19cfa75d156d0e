from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from fitguard.commands.search import register

SPEC = {
    "data": {"source": "wine"}, "model": {"name": "mlp", "hidden": [8]},
    "train": {"max_epochs": 4, "device": "cpu"}, "early_stopping": False, "tensorboard": False,
    "search": {"lr": {"low": 1.0e-3, "high": 3.0e-2, "log": True}, "dropout": [0.0, 0.3]},
}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps typer from collapsing the app into `search` alone
        pass

    return app


def test_search_runs_prints_the_table_and_resumes(app, tmp_path) -> None:
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["search", str(config), "--trials", "2", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "fitguard search: study 'fitguard' (val_accuracy)" in result.output
    assert "best: trial" in result.output
    assert "2 complete" in result.output.replace("1 complete, 1 pruned", "2 complete")
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["trials"]) == 2 and (out / "study.db").is_file()
    again = CliRunner().invoke(app, ["search", str(config), "--trials", "3", "--out", str(out), "--quiet", "--resume"])
    assert again.exit_code == 0, again.output
    assert len(json.loads((out / "results.json").read_text())["trials"]) == 3


def test_search_without_a_space_and_a_bad_timeout_say_so(app, tmp_path) -> None:
    config = tmp_path / "spec.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in SPEC.items() if k != "search"}))
    result = CliRunner().invoke(app, ["search", str(config), "--out", str(tmp_path / "run")])
    assert str(result.exception) == f"{config}: a `search:` section (the search space) is required for fitguard search"
    config.write_text(yaml.safe_dump(SPEC))
    result = CliRunner().invoke(app, ["search", str(config), "--timeout", "soon", "--out", str(tmp_path / "run")])
    assert str(result.exception) == "`--timeout` must be a duration > 0 such as 90s, 10m or 1h, got 'soon'"
