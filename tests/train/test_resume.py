import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fitguard.data.tensors import TensorData
from fitguard.errors import FitguardError
from fitguard.train import Callback, Checkpoint, MetricsLog, ReduceLROnPlateau, TensorBoard, Trainer
from fitguard.train.callbacks import latest_valid_checkpoint, list_checkpoints, read_metrics_log
from fitguard.train.history import History

SCRIPT = Path(__file__).with_name("resumable_run.py")


def _run(out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _without_time(history: History) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k != "time"} for epoch in history.epochs]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    assert _run(out).wait(timeout=120) == 0
    return load_file(out / "final.safetensors"), History.load(out / "history.json"), out


def _epochs_logged(out: Path) -> int:
    log = out / "metrics.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_ten_sigkills_at_random_moments_still_end_bit_identical(tmp_path, reference):
    """Kill the same run ten times - after each of epochs 1..10 plus a random delay that lands anywhere in the
    next epoch, checkpoint writes in the background thread included - resuming each time."""
    weights, history, reference_dir = reference
    delays = random.Random(7).choices([0.0, 0.02, 0.05, 0.08, 0.11, 0.14, 0.17], k=10)
    kills = 0
    for target, delay in zip(range(1, 11), delays):
        process = _run(tmp_path, "--sleep", "0.15", *(["--resume"] if kills else []))
        deadline = time.monotonic() + 60
        while _epochs_logged(tmp_path) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills == 10
    assert not (tmp_path / "final.safetensors").exists()
    assert _run(tmp_path, "--resume").wait(timeout=120) == 0
    resumed = load_file(tmp_path / "final.safetensors")
    assert resumed.keys() == weights.keys()
    for name in weights:
        assert torch.equal(resumed[name], weights[name]), name
    resumed_history = History.load(tmp_path / "history.json")
    assert _without_time(resumed_history) == _without_time(history)
    assert resumed_history.stop_reason == history.stop_reason
    # the JSONL log has each epoch once, as in the uninterrupted run
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time"} for r in rows]  # noqa: E731
    assert (strip(read_metrics_log(tmp_path / "metrics.jsonl"))
            == strip(read_metrics_log(reference_dir / "metrics.jsonl")))
    # no temporary file of an interrupted write is left behind as a checkpoint
    assert all(p.suffix in (".json", ".safetensors")
               for p in (tmp_path / "checkpoints").iterdir() if not p.name.startswith("."))


def _toy():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 5, generator=g)
    return TensorData(X, (X[:, 0] > 0).long())


def _trainer(tmp_path, max_epochs):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    callbacks = [ReduceLROnPlateau(patience=1, factor=0.5), Checkpoint(tmp_path, every_epochs=1, keep_last=3)]
    return Trainer(model, optimizer="sgd", lr=0.1, max_epochs=max_epochs, device="cpu", callbacks=callbacks)


def test_corrupt_newest_checkpoint_falls_back_to_previous_with_a_warning(tmp_path):
    _trainer(tmp_path, 4).fit(_toy(), _toy())
    newest = list_checkpoints(tmp_path)[0]
    blob = bytearray(newest.with_suffix(".safetensors").read_bytes())
    blob[-1] ^= 0xFF
    newest.with_suffix(".safetensors").write_bytes(bytes(blob))
    state, skipped = latest_valid_checkpoint(tmp_path)
    assert state["trainer"]["epoch"] == 3
    assert skipped == [
        f"checkpoint {str(newest.with_suffix('.safetensors'))!r} is corrupt: its CRC-32 does not match "
        f"{newest.name}; using the previous checkpoint"
    ]
    trainer = _trainer(tmp_path, 4)
    with pytest.warns(UserWarning) as caught:
        trainer.fit(_toy(), _toy(), resume=tmp_path)
    assert [str(w.message) for w in caught if "checkpoint" in str(w.message)] == skipped
    assert caught[0].filename == __file__  # points at the fit() call, not inside the trainer
    assert trainer.epoch == 4


def test_keep_last_bounds_the_checkpoints_and_best_is_written(tmp_path):
    _trainer(tmp_path, 6).fit(_toy(), _toy())
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-000006.json", "ckpt-000005.json", "ckpt-000004.json"]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["monitor"] == "val_loss" and 1 <= best["epoch"] <= 6
    assert set(load_file(tmp_path / "best.safetensors")) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_resume_from_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        _trainer(tmp_path / "a", 2).fit(_toy(), _toy(), resume=tmp_path / "nothing")
    assert str(error.value) == f"cannot resume: checkpoint folder {str(tmp_path / 'nothing')!r} does not exist"


def test_resume_with_other_callbacks_is_refused(tmp_path):
    _trainer(tmp_path, 2).fit(_toy(), _toy())
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    trainer = Trainer(model, optimizer="sgd", lr=0.1, max_epochs=3, device="cpu",
                      callbacks=[MetricsLog(tmp_path / "m")])
    with pytest.raises(FitguardError) as error:
        trainer.fit(_toy(), _toy(), resume=tmp_path)
    assert str(error.value) == (
        "cannot resume with these callbacks: the checkpoint holds no state for MetricsLog; the state of "
        "ReduceLROnPlateau, Checkpoint, which this trainer lacks; resume with the callbacks that have state as "
        "written (ReduceLROnPlateau, Checkpoint); callbacks without state (TensorBoard, ProgressBar) may be added "
        "or dropped"
    )


class _Crash(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at:
            raise RuntimeError("killed")


def _fit(folder: Path, *extra: Callback, resume: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    callbacks = [ReduceLROnPlateau(patience=1, factor=0.5), Checkpoint(folder, every_epochs=1), *extra]
    Trainer(model, optimizer="sgd", lr=0.1, max_epochs=5, device="cpu", callbacks=callbacks).fit(
        _toy(), _toy(), resume=folder if resume else None)
    return model


def _assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_a_callback_without_state_may_be_added_on_resume(tmp_path):
    # Lightning's state_key: each callback's state is found by its key, not by its place in the list
    straight = _fit(tmp_path / "a")
    with pytest.raises(RuntimeError, match="killed"):
        _fit(tmp_path / "b", _Crash(3))
    resumed = _fit(tmp_path / "b", TensorBoard(tmp_path / "tb"), resume=True)  # TensorBoard first joins here
    _assert_same(straight, resumed)
    assert set(json.loads(list_checkpoints(tmp_path / "b")[0].read_text())["state"]["callbacks"]) == {
        "ReduceLROnPlateau", "Checkpoint", "TensorBoard"}


def test_a_checkpoint_written_before_state_keys_resumes_with_the_same_callbacks(tmp_path):
    straight = _fit(tmp_path / "a")
    with pytest.raises(RuntimeError, match="killed"):
        _fit(tmp_path / "b", _Crash(3))
    for path in list_checkpoints(tmp_path / "b"):  # the callbacks' states as a list, by position, as before
        written = json.loads(path.read_text())
        states = written["state"]["callbacks"]
        written["state"]["callbacks"] = [{"type": key, "state": value} for key, value in states.items()]
        path.write_text(json.dumps(written))
    _assert_same(straight, _fit(tmp_path / "b", _Crash(99), resume=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_epochs": 0}, "`every_epochs` must be None or an integer >= 1, got 0"),
        ({"every_minutes": -1}, "`every_minutes` must be > 0 or None, got -1"),
        ({"keep_last": 0}, "`keep_last` must be an integer >= 1, got 0"),
    ],
)
def test_checkpoint_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError) as error:
        Checkpoint(tmp_path, **kwargs)
    assert str(error.value) == message
