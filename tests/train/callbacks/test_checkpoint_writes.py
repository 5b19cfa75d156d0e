"""Checkpoint writes in the background: what lands on disk, what is not rewritten, and what a crash leaves.

The oracles are independent of the writer: weights copied in the training thread by a recording callback, the
files' inode and mtime, and an uninterrupted run of the same seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fitguard.data.tensors import TensorData
from fitguard.train import Callback, Checkpoint, EarlyStopping, MetricsLog, Trainer
from fitguard.train.callbacks import latest_valid_checkpoint, list_checkpoints
from fitguard.train.state_io import load_state


def _data(rows: int = 96) -> TensorData:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(rows, 6, generator=g)
    return TensorData(X, (X[:, 0] + 0.3 * X[:, 1] > 0).long())


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))


class _Record(Callback):
    """Copy the weights and optimizer moments at each epoch's end, in the training thread (runs before Checkpoint)."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.moments: dict[int, list[torch.Tensor]] = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.weights[epoch] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        self.moments[epoch] = [s["exp_avg"].clone() for s in trainer.optimizer.state.values()]


class _RaiseAt(Callback):
    """Raise in the middle of one epoch (after ``after_steps`` optimizer steps of it); off when ``epoch`` is None."""

    def __init__(self, epoch: int | None, after_steps: int = 2) -> None:
        self.epoch = epoch
        self.after_steps = after_steps
        self._steps = 0

    def on_epoch_start(self, trainer, epoch):
        self._steps = 0

    def on_batch_end(self, trainer, step, loss):
        self._steps += 1
        if trainer.epoch + 1 == self.epoch and self._steps == self.after_steps:
            raise RuntimeError("out of memory (simulated)")


def _fit(tmp_path, *extra, max_epochs=5, resume=False, checkpoint=None):
    checkpoint = checkpoint or Checkpoint(tmp_path / "checkpoints", every_epochs=1, every_minutes=None, keep_last=10)
    trainer = Trainer(_model(), lr=1e-2, batch_size=16, max_epochs=max_epochs, device="cpu", seed=3,
                      callbacks=[*extra, checkpoint])
    trainer.fit(_data(), _data(40), resume=tmp_path / "checkpoints" if resume else None)
    return trainer, checkpoint


def test_each_checkpoint_holds_the_weights_and_moments_of_its_epoch_and_best_the_best_epochs(tmp_path):
    record = _Record()
    _fit(tmp_path, record, max_epochs=5)
    written = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert written == [f"ckpt-{e:06d}.json" for e in (5, 4, 3, 2, 1)]
    for epoch in range(1, 6):
        state = load_state(tmp_path / "checkpoints" / f"ckpt-{epoch:06d}.json")
        assert state["trainer"]["epoch"] == epoch
        assert state["model"].keys() == record.weights[epoch].keys()
        for name, tensor in record.weights[epoch].items():
            assert torch.equal(state["model"][name], tensor), (epoch, name)
        saved_moments = [s["exp_avg"] for s in state["optimizer"]["state"].values()]
        assert all(torch.equal(a, b) for a, b in zip(saved_moments, record.moments[epoch], strict=True))
    best = json.loads((tmp_path / "checkpoints" / "best.json").read_text())
    best_weights = load_file(tmp_path / "checkpoints" / "best.safetensors")
    assert all(torch.equal(best_weights[k], v) for k, v in record.weights[best["epoch"]].items())


def test_snapshots_copy_into_the_buffers_of_snapshots_already_written(tmp_path, monkeypatch):
    import fitguard.train.callbacks.checkpoint as checkpoint_module

    snapshot_state, recycled = checkpoint_module.snapshot_state, []

    def recording(state, device=None, reuse=None):
        tree, tensors = snapshot_state(state, device, reuse)
        # True where every tensor of the snapshot is a spare buffer given back by the writer (not a new copy)
        recycled.append(reuse is not None and all(tensors[k] is reuse.get(k) for k in tensors))
        return tree, tensors

    monkeypatch.setattr(checkpoint_module, "snapshot_state", recording)
    record = _Record()
    _fit(tmp_path, record, max_epochs=8)
    # eight epochs and the end of fit: the first two at least are new copies; later ones reuse a written snapshot's
    # buffers whenever the writer has finished one (it writes a tiny model's files long before the next epoch ends)
    assert len(recycled) == 9 and recycled[0] is False and sum(recycled) >= 5
    for epoch in range(1, 9):  # and every checkpoint still holds its own epoch's weights
        state = load_state(tmp_path / "checkpoints" / f"ckpt-{epoch:06d}.json")
        assert all(torch.equal(state["model"][k], v) for k, v in record.weights[epoch].items()), epoch


class _StatAtFitEnd(Callback):
    """At fit end, before Checkpoint's own on_fit_end: wait for the writer and note each file's inode and mtime;
    optionally change a weight first (then the end-of-fit save has new content)."""

    def __init__(self, checkpoint: Checkpoint, change_weights: bool) -> None:
        self.checkpoint = checkpoint
        self.change_weights = change_weights
        self.stats: dict[str, tuple[int, int]] = {}

    def on_fit_end(self, trainer):
        self.checkpoint.flush()
        folder = self.checkpoint.dirpath
        self.stats = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(os.scandir(folder), key=str)}
        if self.change_weights:
            with torch.no_grad():
                next(trainer.model.parameters()).add_(1.0)


@pytest.mark.parametrize("change_weights", [False, True])
def test_the_end_of_fit_save_rewrites_the_last_checkpoint_only_when_its_content_changed(tmp_path, change_weights):
    checkpoint = Checkpoint(tmp_path / "checkpoints", every_epochs=1, every_minutes=None)
    stat = _StatAtFitEnd(checkpoint, change_weights)
    trainer, _ = _fit(tmp_path, stat, max_epochs=3, checkpoint=checkpoint)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
             for p in sorted(os.scandir(tmp_path / "checkpoints"), key=str)}
    assert set(after) == set(stat.stats)  # no file added or removed by the end-of-fit save
    rewritten = sorted(name for name in after if after[name] != stat.stats[name])
    assert rewritten == (["ckpt-000003.json", "ckpt-000003.safetensors"] if change_weights else [])
    saved = load_state(tmp_path / "checkpoints" / "ckpt-000003.json")["model"]
    assert all(torch.equal(saved[k], v) for k, v in trainer.model.state_dict().items())


def test_an_exception_mid_epoch_leaves_the_last_complete_checkpoint_and_resuming_ends_as_an_uninterrupted_run(
    tmp_path,
):
    record = _Record()
    with pytest.raises(RuntimeError, match="simulated"):
        _fit(tmp_path / "crashed", record, _RaiseAt(epoch=3), max_epochs=5)
    folder = tmp_path / "crashed" / "checkpoints"
    # the half-trained epoch 3 is not saved (under epoch 2's name or any other), and no temporary file is left
    assert [p.name for p in list_checkpoints(folder)] == ["ckpt-000002.json", "ckpt-000001.json"]
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name]
    state, skipped = latest_valid_checkpoint(folder)
    assert skipped == []
    assert all(torch.equal(state["model"][k], v) for k, v in record.weights[2].items())

    resumed, _ = _fit(tmp_path / "crashed", _Record(), _RaiseAt(epoch=None), max_epochs=5, resume=True)
    uninterrupted, _ = _fit(tmp_path / "whole", _Record(), _RaiseAt(epoch=None), max_epochs=5)
    assert resumed.epoch == uninterrupted.epoch == 5
    for name, tensor in uninterrupted.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
    assert [e["loss"] for e in resumed.history.epochs] == [e["loss"] for e in uninterrupted.history.epochs]


class _TakeAwayFolder(Callback):
    """Replace the checkpoint folder by a plain file at the start of one epoch, so that epoch's write fails."""

    def __init__(self, checkpoint: Checkpoint, epoch: int) -> None:
        self.checkpoint = checkpoint
        self.folder = Path(checkpoint.dirpath)
        self.epoch = epoch

    def on_epoch_start(self, trainer, epoch):
        if epoch == self.epoch:
            self.checkpoint.flush()  # the previous epoch's files are complete
            for path in self.folder.iterdir():
                path.unlink()
            self.folder.rmdir()
            self.folder.write_text("not a folder")


def test_a_failed_background_write_is_raised_by_fit_not_lost(tmp_path):
    checkpoint = Checkpoint(tmp_path / "checkpoints", every_epochs=1, every_minutes=None)
    with pytest.raises(NotADirectoryError):
        _fit(tmp_path, _TakeAwayFolder(checkpoint, epoch=2), max_epochs=3, checkpoint=checkpoint)


def test_fsync_is_called_only_when_asked(tmp_path, monkeypatch):
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    _fit(tmp_path / "default", max_epochs=2)
    assert calls == []
    checkpoint = Checkpoint(tmp_path / "synced" / "checkpoints", every_epochs=1, every_minutes=None, fsync=True)
    _fit(tmp_path / "synced", max_epochs=2, checkpoint=checkpoint)
    # per full checkpoint: two files and their folder; per best: two files and the folder twice
    assert len(calls) >= 2 * 3


def test_the_config_round_trips_with_fsync(tmp_path):
    config = Checkpoint(tmp_path, every_epochs=2, fsync=True).get_config()
    assert config["fsync"] is True
    assert Checkpoint(**config).get_config() == config


def test_the_metrics_log_has_each_epochs_line_on_disk_when_the_epoch_ends(tmp_path):
    seen = []

    class ReadLog(Callback):
        order = 1  # after MetricsLog

        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(len((tmp_path / "metrics.jsonl").read_text().splitlines()))

    _fit(tmp_path, MetricsLog(tmp_path / "metrics.jsonl"), ReadLog(), EarlyStopping(patience=100), max_epochs=4)
    assert seen == [1, 2, 3, 4]
