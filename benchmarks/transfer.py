r"""Transfer learning on small real data: from scratch vs linear probe vs fine-tune last k vs full fine-tune.

Datasets: CIFAR-10 (../shared/data zips, 100 training images per class, a per-class subset of the official test
set) and a small Fashion-MNIST split (50 per class), with the ImageNet EfficientNet-Lite0 backbone; then
source -> target with a fitguard-pretrained CNN (Fashion-MNIST classes 0-4 -> 5-9, 50 images per class).
Every trained method gets the same number of epochs (Adam, lr 1e-3, batch 32, body lr x0.1 for the pretrained
ones); test accuracy over seeds (the ridge probe is deterministic: one run) and wall time on this CPU, 1 thread.

"Fine-tune last k" computes the frozen blocks' outputs once and trains the last k blocks on them: frozen blocks
run in eval mode and there is no augmentation, so this is the same computation as running them every step.
Batch norm stays in eval mode (``load_backbone``'s default ``batchnorm='eval'``); ``--batchnorm-ablation`` adds
a full fine-tune with ``batchnorm='train'``, the setting that gave 0.28 on Fashion-MNIST after 3 epochs
(EfficientNet's running statistics, momentum 0.01, lag far behind the weights after a few dozen steps).

    .venv/bin/python benchmarks/transfer.py --only fashion --batchnorm-ablation \
        --out benchmarks/results/transfer_fashion.json
    .venv/bin/python benchmarks/transfer.py --only cifar10 --out benchmarks/results/transfer_cifar.json
    .venv/bin/python benchmarks/transfer.py --only source_target --batchnorm-ablation \
        --out benchmarks/results/transfer_source_target.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fitguard.data import Dataset, TensorData, load
from fitguard.data.dataset import build_dataset
from fitguard.data.fashion_mnist import fashion_mnist
from fitguard.data.source import RawData, RawSource
from fitguard.models import cnn
from fitguard.runs import backbone_module, save_model
from fitguard.train import Trainer
from fitguard.transfer.backbones import load_backbone
from fitguard.transfer.blocks import layer_blocks
from fitguard.transfer.model import TransferModel
from fitguard.transfer.probe import linear_probe
from fitguard.transfer.training import discriminative_lr

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def fashion(classes: range, per_class: int, test_per_class: int) -> Dataset:
    """Fashion-MNIST restricted to ``classes``: the first ``per_class`` training and ``test_per_class`` test images."""
    source = fashion_mnist(limit_per_class=per_class, test_limit_per_class=test_per_class)
    names = tuple(source.class_names[c] for c in classes)

    def keep(raw: RawData) -> RawData:
        mask = np.isin(raw.labels, names)
        return RawData(raw.inputs[mask], raw.labels[mask])

    subset = RawSource("fashion_mnist", "image", keep(source.pool), "classification", names, pixel_scale=255.0,
                       test=keep(source.test))
    return build_dataset(subset, val=0.0, test=0.0)


def accuracy(model: nn.Module, data: TensorData) -> float:
    trainer = Trainer(model, device="cpu")
    return trainer.evaluate(data)["accuracy"]


def train(model: nn.Module, data: TensorData, epochs: int, lr: float, seed: int, body_lr_factor: float | None) -> None:
    trainer = Trainer(model, lr=lr, batch_size=32, max_epochs=epochs, device="cpu", seed=seed)
    if body_lr_factor is not None:
        discriminative_lr(trainer.optimizer, model, body_lr_factor)
    trainer.fit(data)


def cached_prefix(model: TransferModel, k: int, data: Dataset) -> tuple[nn.Module, TensorData, TensorData]:
    """Split after the frozen blocks; return the trainable suffix and the frozen outputs of train and test."""
    names = [name for name, _ in model.body.named_children()]
    trainable_body = [b.name.removeprefix("body.") for b in layer_blocks(model)[-k:-1]]
    cut = names.index(trainable_body[0]) if trainable_body else len(names)
    prefix = nn.Sequential(model.adapter, *list(model.body.children())[:cut]).eval()
    suffix = nn.Sequential(*list(model.body.children())[cut:], model.head)
    with torch.no_grad():
        outputs = [torch.cat([prefix(part.X[i : i + 128]) for i in range(0, len(part), 128)])
                   for part in (data.train, data.test)]
    return suffix, TensorData(outputs[0], data.train.y), TensorData(outputs[1], data.test.y)


def image_methods(data: Dataset, backbone: str | Path, image_size: int | None, k: int, epochs: int, seeds: list[int],
                  lr: float, scratch_widths: list[int], batchnorm_ablation: bool = False) -> dict[str, dict]:
    classes = data.num_classes
    results: dict[str, dict] = {}

    def record(method: str, seed: int, acc: float, seconds: float) -> None:
        entry = results.setdefault(method, {"accuracy": [], "seconds": []})
        entry["accuracy"].append(acc)
        entry["seconds"].append(seconds)
        print(f"  {method:<22} seed {seed}: test accuracy {acc:.3f}  ({seconds:.1f} s)", flush=True)

    started = time.perf_counter()
    probe = linear_probe(load_backbone(backbone_module(backbone), image_size=image_size), data)
    record("linear probe (ridge)", 0, probe.accuracy["test"], time.perf_counter() - started)
    for seed in seeds:
        torch.manual_seed(seed)
        started = time.perf_counter()
        model = cnn(data.input_shape[0], classes, widths=scratch_widths)
        train(model, data.train, epochs, lr, seed, None)
        record("from scratch (cnn)", seed, accuracy(model, data.test), time.perf_counter() - started)

        torch.manual_seed(seed)
        started = time.perf_counter()
        model = load_backbone(backbone_module(backbone), image_size=image_size, num_classes=classes, trainable_last=k)
        if isinstance(model, TransferModel):
            suffix, train_cached, test_cached = cached_prefix(model, k, data)
            train(suffix, train_cached, epochs, lr, seed, 0.1)
            acc = accuracy(suffix, test_cached)
        else:
            train(model, data.train, epochs, lr, seed, 0.1)
            acc = accuracy(model, data.test)
        record(f"fine-tune last {k}", seed, acc, time.perf_counter() - started)

        torch.manual_seed(seed)
        started = time.perf_counter()
        model = load_backbone(backbone_module(backbone), image_size=image_size, num_classes=classes)
        train(model, data.train, epochs, lr, seed, 0.1)
        record("full fine-tune", seed, accuracy(model, data.test), time.perf_counter() - started)

        if batchnorm_ablation:
            torch.manual_seed(seed)
            started = time.perf_counter()
            model = load_backbone(backbone_module(backbone), image_size=image_size, num_classes=classes,
                                  batchnorm="train")
            train(model, data.train, epochs, lr, seed, 0.1)
            record("full fine-tune, BN train", seed, accuracy(model, data.test), time.perf_counter() - started)
    return results


def pretrained_source(folder: Path, epochs: int, per_class: int) -> Path:
    """Pretrain a fitguard CNN on Fashion-MNIST classes 0-4 and save it as a run folder."""
    source = fashion(range(5), per_class, 100)
    torch.manual_seed(0)
    model = cnn(1, 5, widths=[16, 32, 64])
    started = time.perf_counter()
    train(model, source.train, epochs, 1e-3, 0, None)
    print(f"  pretrained on classes 0-4 ({len(source.train)} images, {time.perf_counter() - started:.0f} s): "
          f"source test accuracy {accuracy(model, source.test):.3f}", flush=True)
    save_model(folder, model, "cnn", {"widths": [16, 32, 64]}, source)
    return folder


def summarize(results: dict[str, dict]) -> dict[str, dict]:
    table = {}
    for method, entry in results.items():
        acc = entry["accuracy"]
        table[method] = {
            "accuracy_mean": statistics.fmean(acc),
            "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "seconds_mean": statistics.fmean(entry["seconds"]),
            "runs": len(acc),
            **entry,
        }
    probe = table.get("linear probe (ridge)", {}).get("seconds_mean")
    for row in table.values():
        row["time_vs_probe"] = row["seconds_mean"] / probe if probe else None
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs of every trained method (images)")
    parser.add_argument("--target-epochs", type=int, default=9, help="epochs of every trained method (source->target)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32, help="EfficientNet input side (upsampled/downsampled)")
    parser.add_argument("--k", type=int, default=2, help="blocks trained in 'fine-tune last k'")
    parser.add_argument("--cifar-test-per-class", type=int, default=100)
    parser.add_argument("--batchnorm-ablation", action="store_true",
                        help="add a full fine-tune with batchnorm='train' (running statistics re-estimated)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--only", choices=["cifar10", "fashion", "source_target"], action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "transfer.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = list(range(args.seeds))
    runs = args.only or ["cifar10", "fashion", "source_target"]
    report: dict[str, object] = {"settings": {k: str(v) for k, v in vars(args).items()}, "results": {}}
    if "cifar10" in runs:
        data = load(SHARED / "cifar10-train.zip", limit_per_class=100, test_path=SHARED / "cifar10-test.zip",
                    test_limit_per_class=args.cifar_test_per_class, val=0.0, test=0.0)
        print(f"CIFAR-10: {len(data.train)} train / {len(data.test)} test, efficientnet_lite0 at {args.image_size}px")
        report["results"]["cifar10"] = summarize(image_methods(data, "efficientnet_lite0", args.image_size, args.k,
                                                               args.epochs, seeds, 1e-3, [32, 64, 128],
                                                               args.batchnorm_ablation))
    if "fashion" in runs:
        data = fashion(range(10), 50, 50)
        print(f"Fashion-MNIST: {len(data.train)} train / {len(data.test)} test, "
              f"efficientnet_lite0 at {args.image_size}px")
        report["results"]["fashion_mnist"] = summarize(image_methods(data, "efficientnet_lite0", args.image_size,
                                                                     args.k, args.epochs, seeds, 1e-3, [16, 32, 64],
                                                                     args.batchnorm_ablation))
    if "source_target" in runs:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            print("Source -> target: fitguard CNN pretrained on Fashion-MNIST 0-4, target 5-9 with 50 per class")
            source = pretrained_source(Path(folder), epochs=5, per_class=1000)
            target = fashion(range(5, 10), 50, 200)
            report["results"]["fashion_0-4_to_5-9"] = summarize(image_methods(
                target, source, None, 2, args.target_epochs, seeds, 1e-3, [16, 32, 64], args.batchnorm_ablation))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    for name, table in report["results"].items():
        print(f"\n{name}")
        print(f"{'method':<24}{'test accuracy':>18}{'seconds':>10}{'x probe':>9}")
        for method, row in table.items():
            ratio = f"{row['time_vs_probe']:.1f}" if row["time_vs_probe"] else "-"
            print(f"{method:<24}{row['accuracy_mean']:>10.3f} ± {row['accuracy_std']:.3f}{row['seconds_mean']:>10.1f}"
                  f"{ratio:>9}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
