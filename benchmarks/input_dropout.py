"""Does Srivastava et al.'s dropout (20% of the inputs, 50% of the hidden units; JMLR 2014) earn a place in the
doctor's ablation beside ``dropout 0.25``? Three of the doctor's table networks (``mlp 64``, ``mlp 256``, and
``mlp 256 on 512 Fourier features``: its one-hidden-layer networks but the smallest) trained the doctor's way (its
base spec: Adam, early stopping with patience 15 and the best epoch restored, ``repeat`` for at least
``min_steps`` steps) without dropout, with ``dropout 0.25``, with ``dropout 0.5`` and with the ablation's
``dropout 0.5 (inputs 0.2)`` (:data:`fitguard.doctor.plan.INPUT_DROPOUT`), then refit on train + val for the
epochs validation chose and scored once on the test split, as the doctor ships a recipe (``fourier.py``'s
``as_shipped``).

Per data set, over seeds: each variant's validation score and test accuracy (mean), each dropout against none by
the exact permutation test by test row (the seeds share the test rows), and what validation chooses among the
variants of each network the way the ablation ranks them (the higher validation score, then the lower validation
loss) with and without the new variant: the ablation's choice before and after it, by the same row test.

The data: ``fourier.py``'s tables (mlbench's Vowel, Ionosphere and DNA with 1,000 labelled rows, breast_cancer,
digits as a table), and since session 30 the benchmark five's image and signal sets (digits 10%, digits 100%,
Fashion-MNIST 100/class, MNIST-1D), where the networks are the doctor's MLPs for that kind
(``ARCHITECTURES[kind]``: the ablation offers the remedy to every built-in MLP); never the held-out suites.
Accuracies do not depend on the machine's load, seconds do.

    apt-get install -y --no-install-recommends r-cran-mlbench && .venv/bin/pip install rdata

usage: python benchmarks/input_dropout.py [--data 'dna 1000' vowel ...] [--seeds 0 1 2] [--threads 2]
                                          [--out benchmarks/results/input_dropout.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doctor import BENCHMARK, benchmark_dataset
from fitguard.data import Dataset
from fitguard.doctor import DoctorOptions
from fitguard.doctor.phases import ARCHITECTURES, INPUT_DROPOUT_MODEL, describe, schedule
from fitguard.doctor.pipeline import base_config
from fitguard.doctor.plan import INPUT_DROPOUT
from fourier import DATA, as_shipped, compare, pack

NETWORKS = ({"name": "mlp", "hidden": [64]}, {"name": "mlp", "hidden": [256]},
            {"name": "mlp", "hidden": [256], "fourier": 512})
#: the benchmark five's sets that are not tables (breast_cancer is one of fourier.py's)
OTHER = tuple(name for name in BENCHMARK if name not in DATA)


def load(name: str, seed: int) -> Dataset:
    """One of ``fourier.py``'s tables or of the benchmark five, split by ``seed``."""
    return DATA[name](seed) if name in DATA else benchmark_dataset(name, seed)


def networks(kind: str) -> list[dict]:
    """The networks compared: three table MLPs; for images and signals, the doctor's MLPs of that kind."""
    return list(NETWORKS) if kind == "table" else [m for m in ARCHITECTURES[kind] if m["name"] == "mlp"]


VARIANTS = {"no dropout": {}, "dropout 0.25": {"dropout": 0.25}, "dropout 0.5": {"dropout": 0.5},
            INPUT_DROPOUT: INPUT_DROPOUT_MODEL}
#: the ablation's dropouts before the new one, and after
BEFORE, AFTER = ("no dropout", "dropout 0.25"), ("no dropout", "dropout 0.25", INPUT_DROPOUT)


def run(name: str, seed: int) -> dict[str, dict[str, dict]]:
    """Every network and variant on one seed's split: network -> variant -> figures (``fourier.as_shipped``)."""
    data = load(name, seed)
    options = DoctorOptions(device="cpu", seed=seed)
    base = base_config(options)
    repeat = schedule(len(data.train), base.train.batch_size, options.search_epochs, options.min_steps)
    out: dict[str, dict[str, dict]] = {}
    for network in networks(data.kind):
        label = describe({"model": network})
        for variant, change in VARIANTS.items():
            row = as_shipped(base, options, {"model": {**network, **change}}, data, repeat)
            out.setdefault(label, {})[variant] = row
            print(f"  {name} seed {seed}: {label:30} {variant:24} val {row['val']:.4f} (loss {row['val_loss']:.4f}) "
                  f"test {row['test']:.4f} ({row['refit_epochs']} epochs, {row['seconds']:.1f} s)", flush=True)
    return out


def chosen(variants: dict[str, dict], among: tuple[str, ...]) -> str:
    """The variant the ablation would keep among ``among``: the higher validation score, then the lower loss."""
    return max(among, key=lambda v: (variants[v]["val"], -variants[v]["val_loss"]))


def summarize(seeds: list[dict[str, dict[str, dict]]]) -> dict:
    """Means, each dropout against none, and validation's choice before and after the new variant, per network."""
    out = {}
    for label in seeds[0]:
        runs = [s[label] for s in seeds]
        means = {v: {"val": statistics.mean(r[v]["val"] for r in runs),
                     "test": statistics.mean(r[v]["test"] for r in runs)} for v in VARIANTS}
        versus = {v: compare([r[v]["hits"] for r in runs], [r["no dropout"]["hits"] for r in runs])
                  for v in VARIANTS if v != "no dropout"}
        before = [chosen(r, BEFORE) for r in runs]
        after = [chosen(r, AFTER) for r in runs]
        out[label] = {"means": means, "vs_no_dropout": versus, "chosen_before": before, "chosen_after": after,
                      "chosen_test_before": statistics.mean(r[c]["test"] for r, c in zip(runs, before, strict=True)),
                      "chosen_test_after": statistics.mean(r[c]["test"] for r, c in zip(runs, after, strict=True)),
                      "after_vs_before": compare([r[c]["hits"] for r, c in zip(runs, after, strict=True)],
                                                 [r[c]["hits"] for r, c in zip(runs, before, strict=True)])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=[*DATA, *OTHER], metavar="NAME")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/input_dropout.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report: dict = {"settings": {"seeds": args.seeds, "threads": args.threads, "torch": torch.__version__,
                                 "variants": VARIANTS}, "data": {}}
    for name in args.data:
        seeds = [run(name, seed) for seed in args.seeds]
        summary = summarize(seeds)
        report["data"][name] = {"summary": summary, "runs": [
            {label: {v: {k: pack(x) if k.startswith("hits") else x for k, x in row.items()}
                     for v, row in variants.items()} for label, variants in s.items()} for s in seeds]}
        print(f"\n{name} ({len(seeds)} seeds): validation score / test accuracy, means; test against no dropout "
              "by row")
        for label, entry in summary.items():
            print(f"  {label}")
            for variant, m in entry["means"].items():
                c = entry["vs_no_dropout"].get(variant)
                against = "" if c is None else (f"  {100 * c['diff']:+.1f} ({c['only_first']} rows vs "
                                                f"{c['only_second']}, p = {c['p']:.2g})")
                print(f"    {variant:24} val {100 * m['val']:5.1f}  test {100 * m['test']:5.1f}{against}")
            c = entry["after_vs_before"]
            print(f"    validation's choice: {100 * entry['chosen_test_before']:.1f} -> "
                  f"{100 * entry['chosen_test_after']:.1f} with the new variant "
                  f"(chose it {sum(v == INPUT_DROPOUT for v in entry['chosen_after'])}/{len(seeds)}; "
                  f"{c['only_first']} rows vs {c['only_second']}, p = {c['p']:.2g})", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=lambda x: x.tolist() if isinstance(x, np.ndarray)
                                       else str(x)))


if __name__ == "__main__":
    main()
