"""``fitguard search``: an Optuna study over the remedies of a spec, with progress and a results table.

The CONFIG is a training spec (see ``fitguard train``) with one more section, the search space::

    search:
      lr: {low: 1.0e-4, high: 1.0e-2, log: true}
      l2: [0, 1.0e-5, 1.0e-4, 1.0e-3]
      dropout: [0.0, 0.2, 0.4]

Workers on several machines: start one ``fitguard search CONFIG --storage postgresql+psycopg://... --trials N``,
then on every other machine the same command with ``--resume``; each joins the study and takes queued trials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fitguard.durations import parse_duration
from fitguard.errors import FitguardError


def register(app: typer.Typer) -> None:
    @app.command()
    def search(
        config: Annotated[Path, typer.Argument(help="YAML/TOML training spec with a `search:` section (the space).")],
        trials: Annotated[int, typer.Option(help="Trials in the study (all workers together).")] = 20,
        timeout: Annotated[str | None, typer.Option(help="Start no trial after this long, e.g. 10m.")] = None,
        storage: Annotated[str | None, typer.Option(help="Study database URL, or grpc://HOST:PORT of Optuna's gRPC "
                                                         "storage proxy (default: OUT/study.db).")] = None,
        workers: Annotated[int, typer.Option(help="Local worker processes.")] = 1,
        study_name: Annotated[str, typer.Option("--study", help="Study name inside the storage.")] = "fitguard",
        pruner: Annotated[str, typer.Option(help="none (default, measured in benchmarks/search.py), catchup, hyperband "
                                                  "or median (patient).")] = "none",
        sampler: Annotated[str, typer.Option(help="tpe or random.")] = "tpe",
        metric: Annotated[str, typer.Option(
            help="Validation metric to optimize (auto: val_accuracy or val_loss).")] = "auto",
        seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
        resume: Annotated[bool, typer.Option(help="Continue (or join) the study instead of creating it.")] = False,
        out: Annotated[Path, typer.Option(help="Run folder (holds study.db and results.json).")] = Path("runs/search"),
        quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
    ) -> None:
        """Search remedies with an Optuna study; print the trials ranked and the best."""
        from fitguard.config import parse_config, read_config_file
        from fitguard.runs import write_json
        from fitguard.search import SearchSpace, study

        raw = dict(read_config_file(config))
        if "search" not in raw:
            raise FitguardError(f"{config}: a `search:` section (the search space) is required for fitguard search")
        space = SearchSpace.from_dict(raw.pop("search"))
        recipe = parse_config(raw, str(config))
        seconds = parse_duration(timeout, name="--timeout") if timeout is not None else None
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FitguardError(f"cannot create the run folder {str(out)!r}: {error.strerror}; "
                                "choose a writable --out") from None
        with _Display(trials, quiet) as display:
            result = study(recipe, space, trials=trials, timeout=seconds, storage=storage, out=out, name=study_name,
                           workers=workers, metric=metric, sampler=sampler, pruner=pruner, seed=seed, resume=resume,
                           progress=display.update)
        write_json(out / "results.json", {"study": result.name, "metric": result.metric, "best": result.best,
                                          "trials": result.rows})
        _print_table(result)


class _Display:
    """Rich progress: trials finished out of the total, with pruned/failed counts and the best so far."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.quiet, self.progress, self.task = total, quiet, None, None

    def __enter__(self) -> _Display:
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.description}"), TimeElapsedColumn())
            self.progress.start()
            self.task = self.progress.add_task("", total=self.total)
        return self

    def update(self, counts: dict[str, int], best: dict[str, Any] | None) -> None:
        if self.progress is None:
            return
        finished = counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"]
        best_text = f"best {best['value']:.4f} (trial {best['number']})" if best else "best -"
        self.progress.update(self.task, total=max(self.total, finished + counts["RUNNING"] + counts["WAITING"]),
                             completed=finished, description=f"done {counts['COMPLETE']} pruned {counts['PRUNED']} "
                             f"failed {counts['FAIL']} running {counts['RUNNING']}  {best_text}")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_table(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = sorted(result.rows, key=lambda r: (r["state"] != "COMPLETE", r["value"] is None,
                                              -(r["value"] or 0) if result.direction == "maximize"
                                              else (r["value"] or 0)))
    params = sorted({name for r in rows for name in r["params"]})
    table = Table(title=f"fitguard search: study {result.name!r} ({result.metric})")
    for column in ("trial", "state", result.metric, "gap", "epochs", *params):
        table.add_column(column, justify="right" if column not in ("state",) else "left")
    for r in rows:
        value = "" if r["value"] is None else f"{r['value']:.4f}"
        gap = "" if r["gap"] is None else f"{r['gap']:+.4f}"
        table.add_row(str(r["number"]), r["state"], value, gap, str(r["epochs"] or ""),
                      *(f"{r['params'][p]:.4g}" if isinstance(r["params"].get(p), float)
                        else str(r["params"].get(p, ""))
                        for p in params))
    console = Console()
    console.print(table)
    counts = result.counts()
    console.print(f"best: trial {result.best['number']} {result.metric}={result.best['value']:.4f} "
                  f"{result.best['params']}; {counts['COMPLETE']} complete, {counts['PRUNED']} pruned, "
                  f"{counts['FAIL']} failed")
