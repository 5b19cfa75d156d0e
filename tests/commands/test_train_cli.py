import json
import subprocess
import sys

import pytest

from fitguard import load
from fitguard.cli import main
from fitguard.train.history import History


def _cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_writes_a_complete_run_folder_that_reloads(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = _cli(
        capsys, "train", "--data", "wine", "--model", "mlp", "--hidden", "16", "--epochs", "4", "--out", str(out),
        "--quiet",
    )
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"run.json", "metrics.jsonl", "history.json", "checkpoints", "tensorboard", "model.safetensors",
            "model.json", "scores.json"} <= names
    history = History.load(out / "history.json")
    assert len(history) == 4 and len((out / "metrics.jsonl").read_text().splitlines()) == 4
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "tensorboard").iterdir())
    assert "fitguard train: wine" in stdout
    scores = json.loads((out / "scores.json").read_text())["scores"]
    # the saved predictor applies the same preprocessing: raw rows in, the recorded test accuracy out
    from fitguard.data import load as load_data

    data = load_data("wine", val=0.2, test=0.2, seed=0)
    predictor = load(out)
    predicted = predictor.predict(data.raw_test.inputs)
    truth = [data.class_names[i] for i in data.test.y.tolist()]
    accuracy = sum(p == t for p, t in zip(predicted, truth)) / len(truth)
    assert accuracy == pytest.approx(scores["test"]["accuracy"])


def test_yaml_spec_with_flags_overriding(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "data: {source: breast_cancer}\n"
        "model: {name: mlp, hidden: [8], dropout: 0.1}\n"
        "train: {max_epochs: 50, lr: 0.01}\n"
        "early_stopping: {patience: 2}\n"
        "remedies: {penalties: [{kind: l2, lam: 0.001}]}\n"
    )
    code, _, err = _cli(capsys, "train", str(spec), "--epochs", "3", "--out", str(tmp_path / "r"), "--quiet")
    assert code == 0, err
    history = History.load(tmp_path / "r" / "history.json")
    assert len(history) == 3 and "penalty" in history.keys()
    config = json.loads((tmp_path / "r" / "run.json").read_text())["config"]
    assert config["train"]["max_epochs"] == 3 and config["train"]["lr"] == 0.01


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "digts"],
         "error: unknown dataset 'digts'; built-in datasets: digits, breast_cancer, wine, "
         "diabetes, mnist1d, fashion_mnist, synthetic_regression "
         "(or give a path to a .csv, .npz, image folder or .zip)"),
        (["train", "--lr", "-1"], "error: options: train.lr: must be greater than 0, got -1.0"),
        (["train", "--patience", "-3"],
         "error: options: early_stopping.patience: must be greater than or equal to 0, got -3"),
        (["train", "--optimizer", "rmsprop"],
         "error: options: train.optimizer: must be 'adam', 'adamw' or 'sgd', got 'rmsprop'"),
        (["train", "--dropout", "1.5", "--model", "mlp"], "error: `dropout` must be a number in [0, 1), got 1.5"),
        (["train", "--hidden", "a,b"], "error: `--hidden` must be comma-separated integers such as 256,256, got 'a,b'"),
        (["train", "missing.yaml"], "error: config file 'missing.yaml' does not exist"),
        (["train", "--bogus"],
         "error: No such option: --bogus (Possible options: --out) (see `fitguard train --help`)"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(capsys, *argv, "--out", str(tmp_path / "x"))
    assert code == 2
    assert err.strip() == message


def test_config_errors_name_the_file_and_key(tmp_path, capsys):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("train:\n  lr: [1,\n")
    code, _, err = _cli(capsys, "train", str(bad_yaml))
    assert code == 2 and err.startswith(f"error: {bad_yaml}: YAML syntax error at line 3") and err.count("\n") == 1
    typo = tmp_path / "typo.yaml"
    typo.write_text("trian: {lr: 0.1}\n")
    code, _, err = _cli(capsys, "train", str(typo))
    assert err.strip() == (
        f"error: {typo}: trian: unknown key (check the spelling; see `fitguard train --help` for the sections and keys)"
    )
    toml = tmp_path / "spec.toml"
    toml.write_text("[train]\nlr = 'fast'\n")
    code, _, err = _cli(capsys, "train", str(toml))
    assert err.strip() == (f"error: {toml}: train.lr: must be a valid number, "
                           "unable to parse string as a number, got 'fast'")


@pytest.mark.parametrize(("text", "where"), [('"\\n": 1\n', "'\\n'"), ('train: {" ": 2}\n', "train.' '")])
def test_an_unprintable_key_is_quoted_on_the_one_error_line(tmp_path, capsys, text, where):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    code, _, err = _cli(capsys, "train", str(spec))
    assert code == 2 and err == (
        f"error: {spec}: {where}: unknown key (check the spelling; see `fitguard train --help` for the sections and "
        "keys)\n"
    )


def test_existing_run_folder_is_never_overwritten_without_the_flag(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = _cli(capsys, "train", "--data", "wine", "--out", str(out))
    assert code == 2
    assert err.strip() == (f"error: run folder {str(out)!r} already exists; "
                           "pass --overwrite to replace it or --resume to continue it")
    code, _, err = _cli(capsys, "train", "--data", "wine", "--out", str(out), "--overwrite")
    assert err.strip() == (f"error: refusing to overwrite {str(out)!r}: it is not a fitguard run folder (no run.json); "
                           "choose another --out")
    assert (out / "precious.txt").read_text() == "keep me"


def test_console_script_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fitguard.cli", "train", "--data", str(tmp_path / "nope.csv")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path / 'nope.csv'} does not exist\n"
    assert "Traceback" not in result.stdout + result.stderr
