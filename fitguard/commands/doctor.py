"""``fitguard doctor``, ``fitguard report RUN_DIR`` and ``fitguard predict RUN_DIR DATA``."""

from __future__ import annotations

import csv
import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from fitguard.errors import FitguardError


def read_inputs(path: Path) -> Any:
    """Raw inputs for a predictor: a CSV or Parquet path (tables), the ``X`` array of an .npz, an .npy array, or an
    image folder."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        return sorted(str(p) for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif"))
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        return str(path)
    import numpy as np

    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            key = "X" if "X" in arrays.files else arrays.files[0]
            return arrays[key]
    raise FitguardError(f"DATA must be a .csv, .parquet, .npz, .npy file or a folder of images, got {str(path)!r}")


def write_predictions(path: Path, predictions: Any, probabilities: Any, class_names: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "prediction", *(f"p_{name}" for name in class_names)] if probabilities is not None
                        else ["row", "prediction"])
        for index, value in enumerate(predictions):
            extra = [f"{p:.6g}" for p in probabilities[index]] if probabilities is not None else []
            writer.writerow([index, value, *extra])


def options_from_cli(**params: Any) -> Any:
    """The :class:`~fitguard.doctor.DoctorOptions` of ``fitguard doctor``'s parsed parameters."""
    from fitguard.doctor import DoctorOptions

    return DoctorOptions.from_cli(**params)


def doctor(context: typer.Context, **params: Any) -> None:
    """Train a baseline, diagnose it, search the remedies, keep the best model and write an HTML report."""
    options = options_from_cli(**params)
    if options.join is not None:  # a worker of another doctor run, which has the options; --data: where its data are
        from fitguard.doctor.workers import join_run

        source = context.get_parameter_source("data")
        given = source is not None and source.name == "COMMANDLINE"
        trained = join_run(options.join, options.data if given else None,
                           ready=None if options.quiet else lambda line: typer.echo(line))
        if not options.quiet:
            typer.echo(f"trained {trained} queued fold{'s' * (trained != 1)} of the run")
        return
    from rich.console import Console

    from fitguard.doctor import run_doctor
    from fitguard.report import build_report, print_outcome  # matplotlib loads only when a report is drawn
    from fitguard.summary import load_summary

    console = Console()
    run_dir = run_doctor(options, console)
    report = build_report(run_dir)
    if not options.quiet:
        print_outcome(console, load_summary(run_dir), report)


def register(app: typer.Typer) -> None:
    from fitguard.doctor.options import cli_options

    # the parameters come from DoctorOptions' fields: one source for the options, their help and their defaults
    # and the context first, which says whether --data was given (with --join it overrides the run's data path)
    parameters = [inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
                  *cli_options()]
    doctor.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    doctor.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    app.command()(doctor)

    @app.command()
    def report(run_dir: Annotated[Path, typer.Argument(help="A `fitguard doctor` run folder.")]) -> None:
        """Rebuild report.html from a doctor run folder alone."""
        from fitguard.report import build_report

        typer.echo(str(build_report(run_dir)))

    @app.command()
    def predict(
        run_dir: Annotated[Path, typer.Argument(help="A run folder holding a saved model.")],
        data: Annotated[Path, typer.Argument(help="Raw inputs: .csv, .parquet, .npz (X), .npy or a folder of images.")],
        out: Annotated[Path, typer.Option(help="CSV file to write.")] = Path("predictions.csv"),
    ) -> None:
        """Predict raw data with a saved model (the best one of a doctor run) and write a CSV."""
        from fitguard.runs import load

        predictor = load(run_dir)
        inputs = read_inputs(data)
        predictions = predictor.predict(inputs)
        probabilities = predictor.predict_proba(inputs) if predictor.task == "classification" else None
        write_predictions(out, predictions, probabilities, predictor.class_names)
        typer.echo(f"{len(predictions)} predictions -> {out}")
