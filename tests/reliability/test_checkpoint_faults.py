"""Damaged newest checkpoints: a JSON cut off mid-write, or a tensor file that is gone, is skipped with a message
and the previous checkpoint is used; resuming from it ends exactly where an uninterrupted run ends.

(SIGKILLs at random moments, checkpoint writes included, are tests/train/test_resume.py's job; a flipped byte in
the tensor file is tested there too.)
"""

from __future__ import annotations

import json

import pytest
import torch

from fitguard.data.tensors import TensorData
from fitguard.train import Checkpoint, Trainer
from fitguard.train.callbacks import latest_valid_checkpoint, list_checkpoints


def _toy() -> TensorData:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(48, 4, generator=g)
    return TensorData(X, (X[:, 0] + X[:, 1] > 0).long())


def _trainer(directory, max_epochs: int) -> Trainer:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return Trainer(model, optimizer="sgd", lr=0.1, batch_size=16, max_epochs=max_epochs, device="cpu",
                   callbacks=[Checkpoint(directory, every_epochs=1, keep_last=3)])


def _truncate_json(newest):
    text = newest.read_text()
    newest.write_text(text[: len(text) // 2])
    try:
        json.loads(text[: len(text) // 2])
    except json.JSONDecodeError as error:  # the reader reports exactly what the json module says
        return f"checkpoint {str(newest)!r} cannot be read: {error}"
    raise AssertionError("half a JSON document parsed")


def _remove_tensors(newest):
    tensors = newest.with_suffix(".safetensors")
    tensors.unlink()
    return f"checkpoint {str(newest)!r} cannot be read: [Errno 2] No such file or directory: {str(tensors)!r}"


@pytest.mark.parametrize("damage", [_truncate_json, _remove_tensors], ids=["json_truncated", "safetensors_missing"])
def test_a_damaged_newest_checkpoint_is_skipped_with_a_message_and_the_previous_used(tmp_path, damage):
    reference = _trainer(tmp_path / "reference", 4)
    reference.fit(_toy(), _toy())
    _trainer(tmp_path / "run", 3).fit(_toy(), _toy())
    newest = list_checkpoints(tmp_path / "run")[0]
    assert newest.name == "ckpt-000003.json"
    expected = damage(newest)

    state, skipped = latest_valid_checkpoint(tmp_path / "run")
    assert skipped == [f"{expected}; using the previous checkpoint"]
    assert state["trainer"]["epoch"] == 2

    resumed = _trainer(tmp_path / "run", 4)
    with pytest.warns(UserWarning) as caught:
        resumed.fit(_toy(), _toy(), resume=tmp_path / "run")
    assert [str(w.message) for w in caught] == [f"{expected}; using the previous checkpoint"]
    assert resumed.epoch == 4
    for name, value in reference.model.state_dict().items():  # epochs 3 and 4 re-run from epoch 2's state
        assert torch.equal(resumed.model.state_dict()[name], value), name
    assert [e["loss"] for e in resumed.history.epochs] == [e["loss"] for e in reference.history.epochs]


def test_every_checkpoint_damaged_starts_over_and_says_why(tmp_path, capsys):
    _trainer(tmp_path, 2).fit(_toy(), _toy())
    messages = [_remove_tensors(path) for path in list_checkpoints(tmp_path)]
    state, skipped = latest_valid_checkpoint(tmp_path)
    assert state is None
    assert skipped == [f"{m}; using the previous checkpoint" for m in messages]
