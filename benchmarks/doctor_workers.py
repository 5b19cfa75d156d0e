"""``fitguard doctor --workers N``: search trainings per hour with 1, 2 and 4 processes on one fixed trial list.

Every run is the same doctor job with a trial budget instead of a clock (``--trials``, ``--budget none``), so the
search trains the same list of recipes whatever N: digits with 30% of its training split, every candidate
cross-validated (3 folds, ``--cv-max-rows 5000``; every fold a queued job when N > 1) -- or with ``--holdout`` every
candidate scored on the validation split (one training a candidate, a queued job when N > 1; a batch of candidates
queued together) --, no reference models, no bias-variance rounds, one refit member. What is timed is the search
(the phases' seconds in ``summary.json``), and a training is one fold's (one candidate's with ``--holdout``).

Arms (torch's intra-op threads by ``OMP_NUM_THREADS``, set per process):
  1 process  x 2 threads   what a user gets today on this machine (the baseline of the ratios)
  1 process  x 1 thread    the single-process reference whose fold scores every N must reproduce
  2 processes x 1 thread   --workers 2 (cores // N threads each)
  4 processes x 1 thread   --workers 4 (more processes than cores: shows the cost of oversubscription)

Reported: search seconds, trainings per hour and the ratio to the 1 x 2 arm; whether every stored recipe's fold
scores equal the 1 x 1 arm's (exactly: same thread count, same seeds); and the queue's own cost per job -- the
seconds a job spent RUNNING beyond its training's own seconds (taking it, reading its recipe, writing its Trial and
History, heartbeats) as a share of a training. The storage is the run folder's SQLite; with ``--storage URL``
(PostgreSQL) every multi-process arm runs once more with its trials and queue in that database, so that the queue's
seconds per job outside training compare SQLite and PostgreSQL on the same trial list.

    python benchmarks/doctor_workers.py                 # ~5 minutes on this 2-core CPU, machine alone
    python benchmarks/doctor_workers.py --trials 12     # quicker
    python benchmarks/doctor_workers.py --storage postgresql+psycopg://user@host/db   # + the arms on PostgreSQL
    python benchmarks/doctor_workers.py --trials 2 --arms 2x1 --storage URL          # a smoke run, no timings
    python benchmarks/doctor_workers.py --holdout --out benchmarks/results/doctor_workers_holdout.json
                                                        # candidates scored on the holdout split (big data)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy

from fitguard.search.storage import engine_url, masked_url

RESULTS = Path(__file__).with_name("results")
ARMS = ((1, 2), (1, 1), (2, 1), (4, 1))  # (processes, threads each)
SEARCH_PHASES = ("architecture", "train_longer", "lambda_cv", "ablation", "learning_curve", "study")


def doctor(out: Path, workers: int, threads: int, trials: int, seed: int, storage: str | None = None,
           holdout: bool = False, grouped: bool = True) -> dict:
    """One doctor run as a user starts it; its search seconds, trainings, fold scores and queue overhead; with
    ``storage``, its trials and queue in that database (``--storage``); ``holdout``: every candidate scored on the
    validation split (``--cv-max-rows 0``: one training a candidate, as for big data); ``grouped``: False passes
    ``--no-grouped-folds`` (every fold its own training)."""
    command = [sys.executable, "-m", "fitguard.cli", "doctor", "--data", "digits", "--train-fraction", "0.3",
               "--cv-max-rows", "0" if holdout else "5000", "--trials", str(trials), "--budget", "none",
               "--seed", str(seed),
               "--device", "cpu", "--no-references", "--rounds", "0", "--ensemble", "1", "--refit", "trainval",
               "--quiet", "--out", str(out), "--workers", str(workers), *(("--storage", storage) if storage else ()),
               *(() if grouped else ("--no-grouped-folds",))]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"doctor --workers {workers} failed: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((out / "summary.json").read_text())
    search = sum(summary["timings"].get(phase, 0.0) for phase in SEARCH_PHASES)
    run_id = json.loads((out / "run.json").read_text()).get("storage", {}).get("run_id")
    where = Storage(storage or f"sqlite:///{out / 'study.db'}", f"-{run_id}" if run_id else "")
    return {"workers": workers, "threads": threads, "storage": masked_url(where.url), "wall_s": wall,
            "search_s": search, "trainings": summary["remedies"]["trainings"], "best": summary["best"]["name"],
            "fold_scores": fold_scores(where), "queue": queue_overhead(where)}


@dataclass(frozen=True)
class Storage:
    """A run's storage: its URL, and the suffix of its studies' names (``-RUN_ID`` in a shared database)."""

    url: str
    suffix: str

    def rows(self, sql: str, **arguments: object) -> list[tuple]:
        engine = sqlalchemy.create_engine(engine_url(self.url))
        try:
            with engine.connect() as connection:
                return connection.execute(sqlalchemy.text(sql), arguments).fetchall()
        finally:
            engine.dispose()


def fold_scores(storage: Storage) -> dict[str, list[float]]:
    """Every scored recipe's fold scores, by its key (study ``doctor-trials``)."""
    records: dict[int, dict] = {}
    for trial_id, key, value in storage.rows(
            "select a.trial_id, a.key, a.value_json from trial_user_attributes a join trials t on a.trial_id = "
            "t.trial_id join studies s on t.study_id = s.study_id where s.study_name = :name and a.key in "
            "('key', 'trial')", name=f"doctor-trials{storage.suffix}"):
        records.setdefault(trial_id, {})[key] = json.loads(value)
    return {r["key"]: r["trial"]["details"].get("folds", [r["trial"]["val_score"]]) for r in records.values()}


def queue_overhead(storage: Storage) -> dict | None:
    """Seconds each completed queue job spent RUNNING beyond its training's own seconds; None without a queue."""
    jobs = storage.rows("select t.trial_id, t.datetime_start, t.datetime_complete from trials t join studies s on "
                        "t.study_id = s.study_id where s.study_name = :name and t.state = 'COMPLETE'",
                        name=f"doctor-queue{storage.suffix}")
    if not jobs:
        return None
    seconds = {}
    for trial_id, value in storage.rows("select trial_id, value_json from trial_user_attributes where key = 'result'"):
        seconds[trial_id] = json.loads(value)["trial"]["seconds"]  # the job's fold Trial, as its process wrote it
    running = {trial_id: (_moment(end) - _moment(start)).total_seconds() for trial_id, start, end in jobs}
    extra = [running[trial_id] - seconds[trial_id] for trial_id in running if trial_id in seconds]
    trained = [seconds[trial_id] for trial_id in running if trial_id in seconds]
    training = sum(trained) / max(1, len(trained))
    mean_extra = sum(extra) / max(1, len(extra))
    return {"jobs": len(jobs), "seconds_per_job_outside_training": mean_extra, "training_s": training,
            "share_of_a_training": mean_extra / training if training else None}


def _moment(value: datetime | str) -> datetime:
    """A trial's start or end: SQLite gives text, PostgreSQL a datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=30, help="search trainings of every run (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="doctor's seed (default 0)")
    parser.add_argument("--out", type=Path, default=RESULTS / "doctor_workers.json", help="results JSON")
    parser.add_argument("--storage", help="a database URL (PostgreSQL): every multi-process arm runs once more with "
                                          "its trials and queue there (put a password in a PGPASSFILE)")
    parser.add_argument("--holdout", action="store_true",
                        help="score every candidate on the validation split (--cv-max-rows 0), as for big data")
    parser.add_argument("--no-grouped-folds", dest="grouped", action="store_false",
                        help="every fold its own training (doctor --no-grouped-folds)")
    parser.add_argument("--arms", nargs="+", default=[f"{p}x{t}" for p, t in ARMS], metavar="PxT",
                        help="the arms to run, as processes x threads (default: 1x2 1x1 2x1 4x1)")
    args = parser.parse_args()
    arms = [tuple(int(n) for n in arm.split("x")) for arm in args.arms]
    plan = [(p, t, None) for p, t in arms] + [(p, t, args.storage) for p, t in arms if args.storage and p > 1]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, (workers, threads, storage) in enumerate(plan):
            row = doctor(Path(scratch) / f"{number}-w{workers}t{threads}", workers, threads, args.trials, args.seed,
                         storage, args.holdout, args.grouped)
            rows.append(row)
            print(f"  {workers} x {threads} thread(s) on {row['storage']}: search {row['search_s']:.1f} s, "
                  f"{row['trainings']} trainings", flush=True)
    baseline = next((r for r in rows if (r["workers"], r["threads"]) == (1, 2)), None)
    reference = next((r for r in rows if (r["workers"], r["threads"]) == (1, 1)), None)
    print(f"\n{'processes x threads':>20} {'storage':>10} {'search s':>9} {'trainings/h':>12} {'vs 1x2':>7} "
          f"{'folds = 1x1':>12} {'queue s/job':>12} {'of a training':>14}")
    for row in rows:
        row["trainings_per_hour"] = 3600 * row["trainings"] / row["search_s"]
        row["speedup_vs_1x2"] = baseline["search_s"] / row["search_s"] if baseline else None
        row["fold_scores_equal_1x1"] = row["fold_scores"] == reference["fold_scores"] if reference else None
        queue = row["queue"] or {}
        print(f"{row['workers']:>14} x {row['threads']:<3} {row['storage'].split(':', 1)[0].split('+')[0]:>10} "
              f"{row['search_s']:9.1f} {row['trainings_per_hour']:12.0f} {row['speedup_vs_1x2'] or float('nan'):7.2f} "
              f"{row['fold_scores_equal_1x1']!s:>12} "
              f"{queue.get('seconds_per_job_outside_training', float('nan')):12.3f} "
              f"{queue.get('share_of_a_training') or float('nan'):14.1%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"trials": args.trials, "seed": args.seed, "arms": args.arms, "holdout": args.holdout,
                "grouped_folds": args.grouped,
                "storage": masked_url(args.storage) if args.storage else None,
                "data": "digits, --train-fraction 0.3, " + ("--cv-max-rows 0 (holdout: one training a candidate)"
                                                             if args.holdout else "--cv-max-rows 5000 (3-fold CV)"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version()}
    args.out.write_text(json.dumps({"settings": settings, "results": rows}, indent=1))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
