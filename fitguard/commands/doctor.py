"""``fitguard doctor``, ``fitguard report RUN_DIR`` and ``fitguard predict RUN_DIR DATA``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, Optional

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
    """The :class:`~fitguard.doctor.DoctorOptions` of ``fitguard doctor``'s parsed parameters (one place, so
    that ``DoctorOptions.command()`` round-trips through the command line)."""
    from fitguard.doctor import DoctorOptions, parse_budget
    from fitguard.doctor.options import parse_data_options

    params = dict(params)
    params["data_options"] = parse_data_options(params.pop("data_option") or [])
    params["budget"] = parse_budget(params["budget"])
    params["ordinal"] = tuple(params.get("ordinal") or ())
    return DoctorOptions(**params)


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor(
        data: Annotated[str, typer.Option(help="Built-in dataset name or a .csv/.npz/image folder/.zip path.")] = "digits",
        target: Annotated[Optional[str], typer.Option(help="Target column of a CSV file.")] = None,
        test_data: Annotated[Optional[str], typer.Option(
            help="External test set (same format as --data); then nothing of --data is held back for testing.")] = None,
        config: Annotated[Optional[str], typer.Option(help="YAML/TOML spec of the data and training (flags override it).")] = None,
        model: Annotated[Optional[str], typer.Option(
            help="Model family mlp, cnn or cnn1d (default: by kind of data), or package.module:function returning an "
                 "nn.Module, called as function(input_shape=..., out_features=...).")] = None,
        data_option: Annotated[Optional[list[str]], typer.Option(
            help="Loader option KEY=VALUE, repeatable, e.g. limit_per_class=100.")] = None,
        missing: Annotated[str, typer.Option(
            help="Missing table cells: impute (median / most frequent category of the training rows, plus a "
                 "missing-indicator column) or error (refuse them).")] = "impute",
        embed: Annotated[bool, typer.Option(
            help="A table column with more than 20 categories becomes a learned embedding (--no-embed: the 19 most "
                 "frequent keep a one-hot column, the rarer share one).")] = True,
        ordinal: Annotated[Optional[list[str]], typer.Option(
            help="An ordered table column as NAME=LOWEST,...,HIGHEST (repeatable): one number, the category's "
                 "position, instead of a one-hot.")] = None,
        backbone: Annotated[Optional[str], typer.Option(
            help="Pretrained backbone (a name, a fitguard run folder or a weights file) competing as an architecture.")] = None,
        freeze_all_but: Annotated[Optional[int], typer.Option(help="Train only the backbone's last K layer blocks.")] = None,
        unfreeze_every: Annotated[Optional[int], typer.Option(help="Unfreeze one more backbone block every N epochs.")] = None,
        budget: Annotated[str, typer.Option(
            help="Wall time of the whole run, e.g. 90s, 10m (a hard deadline); none: only --trials bounds it.")] = "180s",
        trials: Annotated[Optional[int], typer.Option(help="At most this many search trainings.")] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        seed: Annotated[int, typer.Option(help="Seed of the split, the weights and the batches.")] = 0,
        epochs: Annotated[int, typer.Option(help="Maximum epochs of the baseline.")] = 150,
        search_epochs: Annotated[int, typer.Option(help="Maximum epochs of each search training.")] = 100,
        patience: Annotated[int, typer.Option(help="Early-stopping patience of the search trainings.")] = 15,
        monitor: Annotated[str, typer.Option(
            help="What early stopping watches, and so the epoch every refit trains for: val_loss or "
                 "val_accuracy (classification).")] = "val_loss",
        baseline_patience: Annotated[int, typer.Option(help="Early-stopping patience of the baseline.")] = 50,
        folds: Annotated[int, typer.Option(help="Folds of the cross-validation (λ; every candidate on small data).")] = 3,
        cv_max_rows: Annotated[int, typer.Option(
            help="Cross-validate every candidate when train + val hold at most this many rows (0: never).")] = 600,
        min_steps: Annotated[int, typer.Option(
            help="Repeat the training rows within an epoch (up to 20x) until a training can take this many steps.")] = 1500,
        keep: Annotated[str, typer.Option(
            help="best: the best validation score; simplest: fewest remedies within one standard error of it "
                 "(cross-validated runs).")] = "best",
        epsilon: Annotated[float, typer.Option(
            help="Keep the smallest network within this much of the best validation score.")] = 0.005,
        rounds: Annotated[int, typer.Option(help="Bootstrap models for bias-variance (0 skips it).")] = 5,
        train_fraction: Annotated[float, typer.Option(help="Keep this fraction of the training split.")] = 1.0,
        refit: Annotated[str, typer.Option(
            help="Rows the shipped model trains on, for the epochs validation chose: all (train + val + test, after "
                 "the one test evaluation), trainval (the model that was tested) or none.")] = "all",
        ensemble: Annotated[int, typer.Option(
            help="Ship the mean of up to this many refits of the kept recipe, each with its own seed (a deep "
                 "ensemble; fewer when the budget left cannot pay for them; 1: a single network).")] = 5,
        references: Annotated[bool, typer.Option(
            help="Cross-validate scikit-learn reference models (logistic regression, RBF SVC, gradient boosting) "
                 "on the same rows.")] = True,
        out: Annotated[str, typer.Option(help="Run folder to write.")] = "runs/doctor",
        overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
        quiet: Annotated[bool, typer.Option(help="No progress display or table.")] = False,
    ) -> None:
        """Train a baseline, diagnose it, search the remedies, keep the best model and write an HTML report."""
        options = options_from_cli(**locals())
        from fitguard.doctor import run_doctor

        run_doctor(options)

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

        stem = "best" if (run_dir / "best.json").is_file() else "model"
        predictor = load(run_dir, stem=stem)
        inputs = read_inputs(data)
        predictions = predictor.predict(inputs)
        probabilities = predictor.predict_proba(inputs) if predictor.task == "classification" else None
        write_predictions(out, predictions, probabilities, predictor.class_names)
        typer.echo(f"{len(predictions)} predictions -> {out}")
