import pytest

from fitguard.cli import app

# tiny on purpose: every phase runs, on 30% of digits' training split, with a handful of epochs; a trial budget and no
# clock, so the phases run the same however busy the machine is
TINY = ["--model", "mlp", "--budget", "none", "--trials", "12", "--epochs", "10", "--search-epochs", "8",
        "--folds", "2", "--rounds", "2", "--train-fraction", "0.3", "--min-steps", "0", "--quiet"]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("doctor") / "digits"
    result = CliRunner().invoke(app, ["doctor", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out
