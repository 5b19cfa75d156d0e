"""``fitguard doctor --workers N``: search trainings per hour with 1, 2 and 4 processes on one fixed trial list.

Every run is the same doctor job with a trial budget instead of a clock (``--trials``, ``--budget none``), so the
search trains the same list of recipes whatever N: digits with 30% of its training split, every candidate
cross-validated (3 folds, ``--cv-max-rows 5000``; every fold a queued job when N > 1), no reference models, no
bias-variance rounds, one refit member. What is timed is the search (the phases' seconds in ``summary.json``), and a
training is one fold's.

Arms (torch's intra-op threads by ``OMP_NUM_THREADS``, set per process):
  1 process  x 2 threads   what a user gets today on this machine (the baseline of the ratios)
  1 process  x 1 thread    the single-process reference whose fold scores every N must reproduce
  2 processes x 1 thread   --workers 2 (cores // N threads each)
  4 processes x 1 thread   --workers 4 (more processes than cores: shows the cost of oversubscription)

Reported: search seconds, trainings per hour and the ratio to the 1 x 2 arm; whether every stored recipe's fold
scores equal the 1 x 1 arm's (exactly: same thread count, same seeds); and the queue's own cost per job -- the
seconds a job spent RUNNING beyond its training's own seconds (taking it, reading its recipe, writing its Trial and
History, heartbeats) as a share of a training. The storage is the run folder's SQLite (PostgreSQL for the doctor's
queue is not built yet).

    python benchmarks/doctor_workers.py                 # ~5 minutes on this 2-core CPU, machine alone
    python benchmarks/doctor_workers.py --trials 12     # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results")
ARMS = ((1, 2), (1, 1), (2, 1), (4, 1))  # (processes, threads each)
SEARCH_PHASES = ("architecture", "train_longer", "lambda_cv", "ablation", "learning_curve", "study")


def doctor(out: Path, workers: int, threads: int, trials: int, seed: int) -> dict:
    """One doctor run as a user starts it; its search seconds, trainings, fold scores and queue overhead."""
    command = [sys.executable, "-m", "fitguard.cli", "doctor", "--data", "digits", "--train-fraction", "0.3",
               "--cv-max-rows", "5000", "--trials", str(trials), "--budget", "none", "--seed", str(seed),
               "--device", "cpu", "--no-references", "--rounds", "0", "--ensemble", "1", "--refit", "trainval",
               "--quiet", "--out", str(out), "--workers", str(workers)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"doctor --workers {workers} failed: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((out / "summary.json").read_text())
    search = sum(summary["timings"].get(phase, 0.0) for phase in SEARCH_PHASES)
    return {"workers": workers, "threads": threads, "wall_s": wall, "search_s": search,
            "trainings": summary["remedies"]["trainings"], "best": summary["best"]["name"],
            "fold_scores": fold_scores(out), "queue": queue_overhead(out)}


def _rows(run_dir: Path, sql: str, *arguments: object) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"file:{run_dir / 'study.db'}?mode=ro", uri=True)) as db:
        return db.execute(sql, arguments).fetchall()


def fold_scores(run_dir: Path) -> dict[str, list[float]]:
    """Every scored recipe's fold scores, by its key (study ``doctor-trials``)."""
    records: dict[int, dict] = {}
    for trial_id, key, value in _rows(run_dir, "select a.trial_id, a.key, a.value_json from trial_user_attributes a "
                                               "join trials t on a.trial_id = t.trial_id join studies s on "
                                               "t.study_id = s.study_id where s.study_name = 'doctor-trials' and "
                                               "a.key in ('key', 'trial')"):
        records.setdefault(trial_id, {})[key] = json.loads(value)
    return {r["key"]: r["trial"]["details"].get("folds", [r["trial"]["val_score"]]) for r in records.values()}


def queue_overhead(run_dir: Path) -> dict | None:
    """Seconds each completed queue job spent RUNNING beyond its training's own seconds; None without a queue."""
    jobs = _rows(run_dir, "select t.trial_id, t.datetime_start, t.datetime_complete from trials t join studies s on "
                          "t.study_id = s.study_id where s.study_name = 'doctor-queue' and t.state = 'COMPLETE'")
    if not jobs:
        return None
    seconds = {}
    for trial_id, key, value in _rows(run_dir, "select trial_id, key, value_json from trial_user_attributes"):
        if key == "result":  # the job's fold Trial (and History), as the process that trained it wrote them
            seconds[trial_id] = json.loads(value)["trial"]["seconds"]
    running = [(datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
               for _, start, end in jobs]
    extra = [r - seconds[trial_id] for (trial_id, _, _), r in zip(jobs, running, strict=True) if trial_id in seconds]
    training = sum(seconds.values()) / max(1, len(seconds))
    mean_extra = sum(extra) / max(1, len(extra))
    return {"jobs": len(jobs), "seconds_per_job_outside_training": mean_extra, "training_s": training,
            "share_of_a_training": mean_extra / training if training else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30, help="search trainings of every run (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="doctor's seed (default 0)")
    parser.add_argument("--out", type=Path, default=RESULTS / "doctor_workers.json", help="results JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for workers, threads in ARMS:
            row = doctor(Path(scratch) / f"w{workers}t{threads}", workers, threads, args.trials, args.seed)
            rows.append(row)
            print(f"  {workers} x {threads} thread(s): search {row['search_s']:.1f} s, {row['trainings']} trainings",
                  flush=True)
    baseline, reference = rows[0], rows[1]
    print(f"\n{'processes x threads':>20} {'search s':>9} {'trainings/h':>12} {'vs 1x2':>7} {'folds = 1x1':>12} "
          f"{'queue s/job':>12} {'of a training':>14}")
    for row in rows:
        row["trainings_per_hour"] = 3600 * row["trainings"] / row["search_s"]
        row["speedup_vs_1x2"] = baseline["search_s"] / row["search_s"]
        row["fold_scores_equal_1x1"] = row["fold_scores"] == reference["fold_scores"]
        queue = row["queue"] or {}
        print(f"{row['workers']:>14} x {row['threads']:<3} {row['search_s']:9.1f} {row['trainings_per_hour']:12.0f} "
              f"{row['speedup_vs_1x2']:7.2f} {row['fold_scores_equal_1x1']!s:>12} "
              f"{queue.get('seconds_per_job_outside_training', float('nan')):12.3f} "
              f"{queue.get('share_of_a_training') or float('nan'):14.1%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"trials": args.trials, "seed": args.seed,
                "data": "digits, --train-fraction 0.3, --cv-max-rows 5000 (3-fold CV)",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version()}
    args.out.write_text(json.dumps({"settings": settings, "results": rows}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
