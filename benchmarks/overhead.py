"""Trainer overhead against a hand-written PyTorch loop (issue 15): same model, data, seed; the losses must match.

The raw loop is what a careful user writes by hand (shuffle from a seeded generator, train, evaluate on
validation each epoch, track the losses). The Trainer runs twice: without callbacks, and with EarlyStopping +
Checkpoint(every_epochs=1) + a JSONL metrics log (the case issue 15 targets: >= 0.90 of the raw loop). Digits MLP
64-256-256-10 (scikit-learn's load_digits), 15 epochs, batch 32, one torch thread on both sides.

Each round is one fresh process. After one untimed fit of each side (a process's first fits page in the
allocator's memory: thousands of page faults that would land on whichever side ran first), it times the three
sides in order, then in reverse order (raw, Trainer, Trainer+callbacks, Trainer+callbacks, Trainer, raw), so a
slowdown that drifts through the round (other processes on a shared machine) weighs on all three alike. Each
side's sample is ``--fits`` back-to-back fits of the same job (fresh model, same seed, losses checked every time),
so a timed sample lasts seconds, not the fraction of a second one 15-epoch fit takes, and the Trainer's per-fit
costs (construction, the writer thread, the last checkpoint's flush) still count once per fit. The table shows
the medians over rounds of the ratio raw time / Trainer time (summed over both passes of the round), by elapsed
(wall) time, by this process's CPU time (which counts the checkpoint writer thread too) and by the training
thread's own CPU time, with the lowest and highest round's wall ratio. ``checkpoint call``: the median time
Checkpoint.on_epoch_end takes on the training thread. Times in the JSON (``wall_s``, ``cpu_s``,
``thread_cpu_s``) and ``minor_faults`` are per fit.

``--baseline-tree DIR`` (e.g. ``git worktree add /tmp/before <commit>``) runs the same rounds with the fitguard
of that tree, alternating with this one, so "before" and "after" share the machine's state.

usage: python benchmarks/overhead.py [--repeats 7] [--epochs 15] [--fits 3] [--baseline-tree DIR] [--fashion]
                                     [--out benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def raw_loop(model, train, val, epochs: int, batch_size: int, lr: float, seed: int) -> list[float]:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        model.train()
        kept, sizes = [], []  # the batch losses stay on the device until the epoch ends: no sync per step
        order = torch.randperm(len(train), generator=generator).to(train.X.device)
        for start in range(0, len(train), batch_size):
            index = order[start : start + batch_size]
            x, y = train.X[index], train.y[index]
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            kept.append(loss.detach())
            sizes.append(len(index))
        losses.append(sum(value * size for value, size in zip(torch.stack(kept).tolist(), sizes)) / len(train))
        model.eval()
        with torch.no_grad():
            F.cross_entropy(model(val.X), val.y).item()
    return losses


def trainer_loop(model, train, val, epochs, batch_size, lr, seed, folder: Path | None, device: str = "cpu"):
    """The Trainer, with the three callbacks when ``folder`` is given; returns (losses, checkpoint call seconds)."""
    from fitguard.train import Checkpoint, EarlyStopping, MetricsLog, Trainer

    callbacks, calls = [], []
    if folder is not None:
        checkpoint = Checkpoint(folder / "checkpoints", every_epochs=1, every_minutes=None)
        timed = checkpoint.on_epoch_end  # the instance attribute shadows the method: the trainer calls this

        def on_epoch_end(trainer, epoch, logs):
            started = time.perf_counter()
            timed(trainer, epoch, logs)
            calls.append(time.perf_counter() - started)

        checkpoint.on_epoch_end = on_epoch_end
        callbacks = [EarlyStopping(patience=10_000), checkpoint, MetricsLog(folder / "metrics.jsonl")]
    trainer = Trainer(model, lr=lr, batch_size=batch_size, max_epochs=epochs, device=device, seed=seed,
                      callbacks=callbacks)
    return trainer.fit(train, val)["loss"], calls


SIDES = ("raw", "trainer", "trainer_callbacks")


def timed_fits(side: str, make_model, data, epochs: int, fits: int, device: str = "cpu") -> dict:
    """Run ``fits`` fits of one side back to back (fresh model, same seeds); return the times summed over them,
    the losses of every fit and the checkpoint call times."""
    losses, calls = [], []
    wall = cpu = thread = 0.0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(fits):
        torch.manual_seed(123)
        model = make_model().to(device)
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter(), time.process_time(), time.thread_time()
            if side == "raw":
                fit_losses, fit_calls = raw_loop(model, data.train, data.val, epochs, 32, 1e-3, 0), []
            else:
                fit_losses, fit_calls = trainer_loop(model, data.train, data.val, epochs, 32, 1e-3, 0,
                                                     Path(folder) if side == "trainer_callbacks" else None, device)
            wall += time.perf_counter() - started[0]
            cpu += time.process_time() - started[1]
            thread += time.thread_time() - started[2]
        losses.append(fit_losses)
        calls += fit_calls
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults  # counted outside the timers
    return {"wall_s": wall, "cpu_s": cpu, "thread_cpu_s": thread, "minor_faults": faults, "losses": losses,
            "calls": calls}


def one_round(case: str, epochs: int, fits: int = 1, device: str = "cpu") -> dict:
    """Time raw, Trainer and Trainer+callbacks in this process (after an untimed fit of each): the three in
    order, then in reverse order, ``fits`` fits each time. Times are per fit; ratios use the round's sums."""
    from fitguard.data import load
    from fitguard.models import cnn, mlp

    torch.set_num_threads(1)  # two cores shared with the OS and the writer thread: one thread for both loops
    if case == "digits":
        data = load("digits", val=0.2, test=0.2, seed=0)
        make_model = lambda: mlp(64, 10, hidden=[256, 256])  # noqa: E731
    else:
        data = load("fashion_mnist", val=0.2, seed=0, limit_per_class=125, test_limit_per_class=10)
        make_model = lambda: cnn(1, 10, widths=[16, 32], input_size=(28, 28))  # noqa: E731
        epochs = max(2, epochs // 4)
    data = SimpleNamespace(train=data.train.to(device), val=data.val.to(device))  # on the device for both sides
    for side in SIDES:
        timed_fits(side, make_model, data, epochs, 1, device)
    import fitguard

    samples: dict[str, list[dict]] = {side: [] for side in SIDES}
    for side in (*SIDES, *reversed(SIDES)):
        samples[side].append(timed_fits(side, make_model, data, epochs, fits, device))
    reference = samples["raw"][0]["losses"][0]
    out: dict = {"epochs": epochs, "rows": len(data.train), "fits": 2 * fits, "order": " ".join((*SIDES, *SIDES[::-1])),
                 "fitguard": str(Path(fitguard.__file__).parent)}
    for side, found in samples.items():
        runs = 2 * fits
        out[side] = {
            "wall_s": sum(f["wall_s"] for f in found) / runs,
            "cpu_s": sum(f["cpu_s"] for f in found) / runs,
            "thread_cpu_s": sum(f["thread_cpu_s"] for f in found) / runs,
            "minor_faults": sum(f["minor_faults"] for f in found) / runs,
            "losses_identical": all(losses == reference for f in found for losses in f["losses"]),
        }
        calls = [c for f in found for c in f["calls"]]
        if calls:
            out[side]["checkpoint_call_ms"] = 1e3 * statistics.median(calls)
    return out


def run_round(tree: Path, case: str, epochs: int, fits: int, device: str = "cpu") -> dict:
    """One round in a fresh process importing fitguard from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--worker", case, "--epochs", str(epochs), "--fits", str(fits),
               "--device", device]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"a round with the fitguard of {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def commit_of(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if done.returncode != 0:
        return "not a git checkout"
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no", "fitguard"],
                           capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + (" + uncommitted changes" if dirty else "")


def summarize(rounds: list[dict]) -> dict:
    """Medians over rounds of each round's ratio raw / Trainer (wall, process CPU, training-thread CPU), the
    lowest and highest wall ratio, per-fit times and whether every fit's losses matched the raw loop's."""
    median = statistics.median
    summary: dict = {"rounds": len(rounds)}
    for side in ("trainer", "trainer_callbacks"):
        wall_ratios = [r["raw"]["wall_s"] / r[side]["wall_s"] for r in rounds]
        summary[side] = {
            "ratio_wall": median(wall_ratios),
            "ratio_cpu": median(r["raw"]["cpu_s"] / r[side]["cpu_s"] for r in rounds),
            "wall_s": median(r[side]["wall_s"] for r in rounds),
            "losses_identical": all(r[side]["losses_identical"] for r in rounds),
            "ratio_wall_min": min(wall_ratios),
            "ratio_wall_max": max(wall_ratios),
            "cpu_s": median(r[side]["cpu_s"] for r in rounds),
            "ratio_thread_cpu": median(r["raw"]["thread_cpu_s"] / r[side]["thread_cpu_s"] for r in rounds),
        }
    summary["raw_wall_s"] = median(r["raw"]["wall_s"] for r in rounds)
    summary["raw_cpu_s"] = median(r["raw"]["cpu_s"] for r in rounds)
    summary["checkpoint_call_ms"] = median(r["trainer_callbacks"]["checkpoint_call_ms"] for r in rounds)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="rounds per tree (>= 3)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--fits", type=int, default=3,
                        help="fits per timed sample (each round times every side twice: 2 x fits fits)")
    parser.add_argument("--baseline-tree", type=Path, help="a checkout whose fitguard is timed as 'before'")
    parser.add_argument("--fashion", action="store_true", help="also the CNN on 1,000 Fashion-MNIST images")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "overhead.json")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where both sides train")
    parser.add_argument("--worker", choices=("digits", "fashion"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(one_round(args.worker, args.epochs, args.fits, args.device)))
        return
    if args.repeats < 3:
        parser.error(f"--repeats must be >= 3 (a median of fewer runs says little), got {args.repeats}")
    if args.fits < 1:
        parser.error(f"--fits must be >= 1, got {args.fits}")
    trees = {"after": ROOT} | ({"before": args.baseline_tree.resolve()} if args.baseline_tree else {})
    cases = ["digits", *(["fashion"] if args.fashion else [])]
    rounds: dict[tuple[str, str], list[dict]] = {(t, c): [] for t in trees for c in cases}
    load_at_start = os.getloadavg()  # other processes share the cores: the wall ratio depends on them
    for _ in range(args.repeats):
        for case in cases:
            for name in sorted(trees, reverse=True):  # before, after, before, after, ...
                rounds[name, case].append(run_round(trees[name], case, args.epochs, args.fits, args.device))
    results = []
    for (name, case), found in rounds.items():
        results.append({"tree": name, "commit": commit_of(trees[name]), "case": case, **summarize(found),
                        "round_times": found})
    label = {"trainer": "Trainer, no callbacks", "trainer_callbacks": "+ EarlyStopping, Checkpoint/epoch, JSONL"}
    print(f"{'tree':7} {'case':7} {'Trainer':42} {'ratio wall':>10} {'(min-max)':>11} {'ratio cpu':>9} "
          f"{'ratio thread':>12} {'ckpt call ms':>12} {'same losses':>11}")
    for r in sorted(results, key=lambda r: (r["case"], r["tree"] != "before")):
        for side in ("trainer", "trainer_callbacks"):
            call = f"{r['checkpoint_call_ms']:12.3f}" if side == "trainer_callbacks" else " " * 12
            spread = f"{r[side]['ratio_wall_min']:.2f}-{r[side]['ratio_wall_max']:.2f}"
            print(f"{r['tree']:7} {r['case']:7} {label[side]:42} {r[side]['ratio_wall']:10.3f} {spread:>11} "
                  f"{r[side]['ratio_cpu']:9.3f} {r[side]['ratio_thread_cpu']:12.3f} {call} "
                  f"{r[side]['losses_identical']!s:>11}")
    print("ratio = raw-loop time / Trainer time, median over rounds (target >= 0.90 with the callbacks); cpu: the "
          "process (writer thread included), thread: the training thread alone; "
          f"load average {load_at_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor(),
        "torch": torch.__version__,
        "torch_threads": 1,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "epochs": args.epochs,
        "batch_size": 32,
        "repeats": args.repeats,
        "fits_per_sample": args.fits,
        "order": "each round: raw, trainer, trainer_callbacks, then the reverse; times per fit",
        "load_average_1_5_15_min": {"start": load_at_start, "end": os.getloadavg()},
        "results": results,
    }, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
