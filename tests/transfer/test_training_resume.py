import torch

from fitguard.data.tensors import TensorData
from fitguard.models import mlp
from fitguard.train import Checkpoint, Trainer
from fitguard.transfer.blocks import freeze
from fitguard.transfer.training import UnfreezeSchedule


def _run(epochs, folder, resume=False):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 6, generator=g)
    data = TensorData(X, (X[:, 0] > 0).long())
    torch.manual_seed(0)
    model = mlp(6, 2, hidden=[16, 16, 16])
    freeze(model, trainable_last=1)
    callbacks = [UnfreezeSchedule(every=2), Checkpoint(folder, every_epochs=1, keep_last=10)]
    trainer = Trainer(model, max_epochs=epochs, device="cpu", callbacks=callbacks)
    trainer.fit(data, data, resume=folder if resume else None)
    return torch.cat([p.detach().flatten() for p in model.parameters()]), trainer


def test_resume_after_gradual_unfreezing_ends_bit_identical(tmp_path):
    full, reference = _run(8, tmp_path / "full")
    _run(5, tmp_path / "cut")  # stops after two unfreezes; its optimizer has three parameter groups
    resumed, trainer = _run(8, tmp_path / "cut", resume=True)
    assert torch.equal(full, resumed)
    assert (trainer.callbacks[0].unfrozen == reference.callbacks[0].unfrozen
            == [(3, "linear3"), (5, "linear2"), (7, "linear1")])
    assert len(trainer.optimizer.param_groups) == len(reference.optimizer.param_groups) == 4
