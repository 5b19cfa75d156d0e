"""How much the decoded-image cache saves: CIFAR-10 train zip read cold (decode 50,000 JPEGs) vs from cache.

Run: .venv/bin/python benchmarks/data_cache.py [path/to/cifar10-train.zip]
Prints a table and writes benchmarks/results/data_cache.json. Ratios matter, not absolute seconds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    archive = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/data/cifar10-train.zip")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FITGUARD_CACHE"] = cache
        from fitguard.data import read_image_folder

        rows = {}
        rows["limit 100/class, no cache"], small = timed(lambda: read_image_folder(archive, limit_per_class=100,
                                                                                   cache=False))
        rows["full, cold (decode + write cache)"], cold = timed(lambda: read_image_folder(archive))
        rows["full, warm cache"], warm = timed(lambda: read_image_folder(archive))
        rows["limit 100/class, warm cache"], small_cached = timed(lambda: read_image_folder(archive,
                                                                                            limit_per_class=100))
    same = bool(np.array_equal(cold["pool"].inputs, warm["pool"].inputs)
                and np.array_equal(small["pool"].inputs, small_cached["pool"].inputs))
    cold_s = rows["full, cold (decode + write cache)"]
    print(f"{'read':40s} {'seconds':>8s} {'speed-up vs cold':>17s}")
    for name, seconds in rows.items():
        print(f"{name:40s} {seconds:8.2f} {cold_s / seconds:16.1f}x")
    print(f"images: {len(cold['pool'])}, identical arrays from cache: {same}")
    out = Path(__file__).parent / "results" / "data_cache.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"archive": str(archive), "images": len(cold["pool"]), "seconds": rows,
                               "speedup_vs_cold": {k: cold_s / v for k, v in rows.items()},
                               "identical": same, "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
