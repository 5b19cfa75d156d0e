"""MetricSums against the sums a hand-written loop keeps with ``.item()`` per step."""

from __future__ import annotations

import torch

from fitguard.train.objectives import MetricSums


def test_the_epoch_loss_is_the_hand_written_loops_to_the_last_bit_whatever_the_losses_dtypes():
    # batch losses as a loss function may return them: float32, float64 (a custom loss), bfloat16 (autocast);
    # the hand-written loop takes each as float32 (`.float().item()`) and sums `value * rows` in Python floats
    losses = [torch.tensor(0.1234567, dtype=torch.float64), torch.tensor(2.5, dtype=torch.bfloat16),
              torch.tensor(1.0 / 3.0), torch.tensor(0.7071067811865476, dtype=torch.float64)]
    rows = [32, 32, 17, 5]
    sums = MetricSums("classification")
    for loss, n in zip(losses, rows):
        sums.add(loss, torch.zeros(n, 3), torch.zeros(n, dtype=torch.long))
    total = 0.0
    for loss, n in zip(losses, rows):
        total += loss.float().item() * n
    logs = sums.result("val_")
    assert logs["val_loss"] == total / sum(rows)
    assert logs["val_accuracy"] == 1.0  # every output's argmax is class 0, every target is 0
