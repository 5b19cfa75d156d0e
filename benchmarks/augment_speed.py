"""Images/s: fitguard's batched kornia augmentation vs per-sample pipelines in DataLoader workers.

The per-sample baselines are how torchvision/Keras users usually augment: each image transformed on its own
in a ``Dataset.__getitem__`` (PIL, or kornia on a batch of one), batched by a ``DataLoader`` with workers.
All three do the same work: random rotation (±15°), horizontal flip and shift (±10%), each with p = 0.5, on
CIFAR-10 32x32 images, producing float (B, 3, 32, 32) batches of 256.

Run:  .venv/bin/python benchmarks/augment_speed.py [--images 4096] [--workers 2] [--device cpu|cuda]
Reads the first N images of ../shared/data/cifar10-train.zip with Pillow (cached as
benchmarks/results/cifar10_<N>.npy, which can travel to a GPU machine). Prints a table and writes
benchmarks/results/augment_speed[_cuda].json. Ratios matter, not absolute figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from fitguard.augment import images

RESULTS = Path(__file__).parent / "results"
ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-train.zip"
ROTATE, SHIFT, P, BATCH = 15.0, 0.1, 0.5, 256


def read_cifar(count: int) -> np.ndarray:
    """The first ``count`` training images (in archive order) as uint8 (N, 32, 32, 3), cached as .npy."""
    cached = RESULTS / f"cifar10_{count}.npy"
    if cached.exists():
        return np.load(cached)
    with zipfile.ZipFile(ARCHIVE) as archive:
        names = [n for n in archive.namelist() if n.endswith(".jpg")][:count]
        pixels = np.stack([np.asarray(Image.open(io.BytesIO(archive.read(n))).convert("RGB")) for n in names])
    RESULTS.mkdir(exist_ok=True)
    np.save(cached, pixels)
    return pixels


class PilPerSample(Dataset):
    """torchvision-style: PIL flip + affine per image, then to a float tensor."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, i: int) -> torch.Tensor:
        rng = np.random.default_rng()  # a fresh OS-seeded stream: workers must not repeat each other
        image = Image.fromarray(self.pixels[i])
        if rng.random() < P:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < P:
            shift = tuple(int(round(v)) for v in rng.uniform(-SHIFT, SHIFT, 2) * 32)
            image = image.rotate(rng.uniform(-ROTATE, ROTATE), resample=Image.Resampling.BILINEAR, translate=shift)
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)


class KorniaPerSample(Dataset):
    """The same kornia pipeline, called on one image at a time inside the workers."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
        self.augment = images(rotate=ROTATE, flip=True, shift=SHIFT, p=P)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.augment(self.x[i : i + 1], torch.zeros(1))[0][0]


def loader_rate(dataset: Dataset, workers: int, device: torch.device, epochs: int) -> float:
    loader = DataLoader(dataset, batch_size=BATCH, num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=device.type == "cuda")
    best = float("inf")
    for epoch in range(epochs + 1):  # the first epoch starts the workers and is not timed
        start = time.perf_counter()
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if epoch:
            best = min(best, time.perf_counter() - start)
    return len(dataset) / best


def batched_rate(pixels: np.ndarray, device: torch.device, epochs: int) -> float:
    x = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255).to(device)
    y = torch.zeros(len(x), dtype=torch.long, device=device)
    augment, generator = images(rotate=ROTATE, flip=True, shift=SHIFT, p=P), torch.Generator().manual_seed(0)
    best = float("inf")
    for epoch in range(epochs + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, len(x), BATCH):
            augment(x[i : i + BATCH], y[i : i + BATCH], generator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if epoch:
            best = min(best, time.perf_counter() - start)
    return len(x) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="timed passes; the best is kept")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    device = torch.device(args.device)
    pixels = read_cifar(args.images)
    threads = torch.get_num_threads()
    rows = {f"batched kornia on {device.type} (fitguard)": batched_rate(pixels, device, args.epochs)}
    if device.type == "cpu":
        # On a busy machine OpenMP's threads spin against other processes and can lose 5x;
        # one thread is the figure that does not depend on what else runs, and it uses fewer cores than the baseline.
        rows = {f"batched kornia on cpu, {threads} torch threads (fitguard)": rows.popitem()[1]}
        torch.set_num_threads(1)
        rows["batched kornia on cpu, 1 torch thread (fitguard)"] = batched_rate(pixels, device, args.epochs)
        torch.set_num_threads(threads)
    rows |= {
        f"per-sample PIL, DataLoader workers={args.workers}": loader_rate(
            PilPerSample(pixels), args.workers, device, args.epochs),
        f"per-sample kornia, DataLoader workers={args.workers}": loader_rate(
            KorniaPerSample(pixels), args.workers, device, args.epochs),
    }
    base = rows[f"per-sample PIL, DataLoader workers={args.workers}"]
    print(f"{'pipeline':56s} {'images/s':>10s} {'vs per-sample PIL':>18s}")
    for name, rate in rows.items():
        print(f"{name:56s} {rate:10.0f} {rate / base:17.2f}x")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"augment_speed{'' if device.type == 'cpu' else '_' + device.type}.json"
    out.write_text(json.dumps({
        "images": len(pixels), "batch_size": BATCH, "workers": args.workers, "device": device.type,
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None, "cpus": os.cpu_count(),
        "torch_threads": threads, "load_average": os.getloadavg(), "torch": torch.__version__,
        "machine": platform.machine(),
        "transforms": {"rotate": ROTATE, "flip": True, "shift": SHIFT, "p": P},
        "images_per_second": rows, "ratio_vs_per_sample_pil": {k: v / base for k, v in rows.items()},
    }, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
