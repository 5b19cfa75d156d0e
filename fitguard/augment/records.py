"""Per-image parameter records: kornia's batched ``_params`` split into JSON-ready rows, and joined back.

A record is ``{"row": i, "steps": {step_name: {param: value}}}`` with kornia's own parameter names (``angle``
in degrees, ``translations`` in pixels, ``scale``, ``batch_prob`` 1.0 when the step hit this image, ...).
float32 values survive JSON exactly (float32 -> float64 -> shortest repr -> float64 -> float32), so a replay
reproduces the batch bit for bit. Gaussian noise is recorded as the seed and batch shape that regenerate it.
"""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch

from fitguard.augment.seeding import seeded_global_rng

Record = dict[str, Any]
# Recomputed from the input on replay; the noise field itself is regenerated from its seed.
_NOT_PER_ROW = ("forward_input_shape", "gaussian_noise")


def rows_of(params: dict[str, torch.Tensor], batch_size: int) -> list[dict[str, Any]]:
    """Split kornia's batched parameters into one plain dict per image.

    Args:
        params: kornia's parameters for a batch, each tensor with one entry per image (shape entries are dropped).
        batch_size: the images in the batch.

    Example:
        >>> rows_of({"angle": torch.tensor([1.0, 2.0]), "forward_input_shape": torch.tensor([2, 1, 4, 4])}, 2)
        [{'angle': 1.0}, {'angle': 2.0}]
    """
    columns = {k: v.tolist() for k, v in params.items() if k not in _NOT_PER_ROW}
    return [{k: values[i] for k, values in columns.items()} for i in range(batch_size)]


def replay_step(name: str, step: K.AugmentationBase2D, x: torch.Tensor, records: list[Record]) -> torch.Tensor:
    """Apply ``step`` to ``x`` with the parameters stored under ``name`` in each record.

    Args:
        name: the step's name in the records (``rotate``, ``noise``...).
        step: the kornia augmentation to apply.
        x: the images, one per record.
        records: one record per image, as ``ImageAugment.sample`` returned them.

    Raises:
        ValueError: a record without parameters for ``name`` (drawn by a different augmentation).
    """
    rows = [_row(record, name) for record in records]
    device = step.device
    params: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        if name == "noise" and key in ("seed", "batch_shape"):
            continue
        params[key] = torch.tensor([row[key] for row in rows], device=device)
    params["forward_input_shape"] = torch.tensor(list(x.shape), device=device)
    if name == "noise":
        params["gaussian_noise"] = torch.stack([_regenerate_noise(step, record, x.device) for record in records])
    return step(x, params=params)


def _row(record: Record, name: str) -> dict[str, Any]:
    try:
        return record["steps"][name]
    except (KeyError, TypeError):
        raise ValueError(f"record {record.get('row', '?') if isinstance(record, dict) else record!r} "
                         f"has no parameters for step {name!r}; it was drawn by a different augmentation") from None


def _regenerate_noise(step: K.AugmentationBase2D, record: Record, device: torch.device) -> torch.Tensor:
    noise = record["steps"]["noise"]
    with seeded_global_rng(int(noise["seed"]), device):
        drawn = step.forward_parameters(torch.Size(noise["batch_shape"]))
    return drawn["gaussian_noise"][record["row"]].to(device)
