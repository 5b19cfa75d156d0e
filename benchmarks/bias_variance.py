"""Bias–variance: R MLPs trained together (vmap) against R sequential fits, and a width sweep on MNIST-1D.

Part 1 trains R = 20 MLPs on bootstrap samples of digits both ways with the same seeds and batches; runs
alternate (batched, sequential, batched, ...) so machine noise hits both alike; the table shows the median
wall-time ratio sequential/batched (target >= 3x on a 2-core CPU) and the largest logit difference between the
two ensembles, plus both 0-1 decompositions (which must be identical).

Part 2 sweeps the hidden width of a one-hidden-layer MLP on MNIST-1D (4,000 train signals, of which 20% are held
out for validation, and the official 1,000 test signals) and prints train/test error, bias and variance per width,
the smallest width within eps of the best validation error, and saves the plot.

usage: python benchmarks/bias_variance.py [--repeats 3] [--rounds 20] [--sweep-rounds 8] [--threads 2] [--skip-sweep]
                                         [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from fitguard.data import load
from fitguard.diagnose import complexity_sweep, decompose_01, plot_sweep, train_ensemble
from fitguard.diagnose.bias_variance import sample_indices
from fitguard.models import mlp


def batched_vs_sequential(rounds: int, repeats: int, epochs: int, device: str) -> dict:
    data = load("digits", val=0.2, test=0.2, seed=0)
    train, test = data.train.to(device), data.test.to(device)
    factory = lambda: mlp(data.in_features, data.num_classes, hidden=[128])  # noqa: E731
    generator = torch.Generator().manual_seed(0)
    indices = sample_indices(len(train), rounds, "bootstrap", generator)
    init_seeds, shuffle_seeds = list(range(rounds)), list(range(1000, 1000 + rounds))
    options = dict(epochs=epochs, lr=1e-3, batch_size=32)
    times: dict[bool, list[float]] = {True: [], False: []}
    ensembles = {}
    for batched in (True, False):  # warm-up: vmap's first call traces the model, the allocator warms up
        train_ensemble(factory, train.X, train.y, indices[:2, :64], init_seeds[:2], shuffle_seeds[:2],
                       batched=batched, **{**options, "epochs": 1})
    for _ in range(repeats):
        for batched in (True, False):
            start = time.perf_counter()
            ensembles[batched] = train_ensemble(factory, train.X, train.y, indices, init_seeds, shuffle_seeds,
                                                batched=batched, **options)
            times[batched].append(time.perf_counter() - start)
    together, apart = ensembles[True].predict(test.X).cpu(), ensembles[False].predict(test.X).cpu()
    decomposition = {name: decompose_01(out.argmax(-1), data.test.y).__dict__ for name, out in
                     (("batched", together), ("sequential", apart))}
    return {
        "device": device,
        "rounds": rounds,
        "epochs": epochs,
        "train_rows": len(data.train),
        "batched_s": times[True],
        "sequential_s": times[False],
        "ratio_median": statistics.median(s / b for s, b in zip(times[False], times[True])),
        "max_abs_logit_diff": float((together - apart).abs().max()),
        "label_agreement": float((together.argmax(-1) == apart.argmax(-1)).double().mean()),
        "decomposition": decomposition,
    }


def width_sweep(rounds: int, epochs: int, widths: list[int], out: Path) -> dict:
    data = load("mnist1d", val=0.2, seed=0)
    sweep = complexity_sweep(
        lambda width: mlp(data.in_features, data.num_classes, hidden=[width]), data, param="width", values=widths,
        rounds=rounds, loss="0-1", epochs=epochs, lr=1e-3, batch_size=64, seed=0,
    )
    plot = plot_sweep(sweep, out / "bias_variance_width_mnist1d.png")
    chosen = sweep.smallest_within(0.01)
    return {
        "sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "rounds": rounds,
        "epochs": epochs,
        "points": [p.__dict__ for p in sweep.points],
        "smallest_within_0.01": chosen.__dict__,
        "plot": str(plot),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sweep-rounds", type=int, default=8)
    parser.add_argument("--sweep-epochs", type=int, default=20)
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128, 256, 512])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    speed = {} if args.skip_speed else batched_vs_sequential(args.rounds, args.repeats, args.epochs, args.device)
    if speed:
        print_speed(speed)
    if args.skip_sweep:
        (args.out / "bias_variance.json").write_text(json.dumps({"batched_vs_sequential": speed}, indent=1))
        return
    sweep = width_sweep(args.sweep_rounds, args.sweep_epochs, args.widths, args.out)
    print_sweep(sweep)
    (args.out / "bias_variance.json").write_text(
        json.dumps({"batched_vs_sequential": speed, "width_sweep": sweep}, indent=1))
    print(f"wrote {args.out / 'bias_variance.json'}")


def print_speed(speed: dict) -> None:
    print(f"\nR = {speed['rounds']} MLPs (64-128-10) on digits ({speed['train_rows']} rows), {speed['epochs']} epochs, "
          f"device {speed['device']}")
    print(f"{'path':<12}{'seconds (each repeat)':>36}")
    print(f"{'batched':<12}{'  '.join(f'{t:8.2f}' for t in speed['batched_s']):>36}")
    print(f"{'sequential':<12}{'  '.join(f'{t:8.2f}' for t in speed['sequential_s']):>36}")
    print(f"median ratio sequential/batched: {speed['ratio_median']:.2f}x (target >= 3x)")
    print(f"max |logit diff| {speed['max_abs_logit_diff']:.2e}, label agreement {speed['label_agreement']:.4f}")
    for name, d in speed["decomposition"].items():
        print(f"  {name:<11} loss {d['expected_loss']:.4f} bias {d['bias']:.4f} variance {d['variance']:.4f} "
              f"net variance {d['net_variance']:.4f}")


def print_sweep(sweep: dict) -> None:
    sizes = sweep["sizes"]
    print(f"\nMNIST-1D width sweep (train {sizes['train']}, val {sizes['val']}, test {sizes['test']}; "
          f"{sweep['rounds']} bootstrap rounds, {sweep['epochs']} epochs, 0-1 loss)")
    print(f"{'width':>6}{'params':>9}{'train err':>11}{'val err':>9}{'test err':>10}{'bias':>8}{'variance':>10}")
    for p in sweep["points"]:
        print(f"{p['value']:>6}{p['n_params']:>9}{p['train_error']:>11.4f}{p['val_error']:>9.4f}{p['test_error']:>10.4f}"
              f"{p['bias2']:>8.4f}{p['variance']:>10.4f}")
    print(f"smallest width within 0.01 of the best validation error: {sweep['smallest_within_0.01']['value']}")
    print(f"plot: {sweep['plot']}")


if __name__ == "__main__":
    main()
