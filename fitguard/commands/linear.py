"""``fitguard ridge`` and ``fitguard lasso``: the regularization path of a table, with λ chosen by CV.

Both print a table (best λ, CV error, condition numbers before and after λ, nonzero coefficients) and write
``<name>_cv_curve.png``, ``<name>_coefficient_paths.png`` and ``<name>.json`` into ``--out``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fitguard.errors import FitguardError

if TYPE_CHECKING:
    import torch

DataArgument = Annotated[str, typer.Argument(help="Built-in dataset name or path to a .csv/.npz file.")]
TargetOption = Annotated[str | None, typer.Option("--target", help="Target column (CSV files).")]
OutOption = Annotated[Path, typer.Option("--out", help="Folder for the PNG plots and the JSON summary.")]
InterceptOption = Annotated[bool, typer.Option("--intercept/--no-intercept", help="Fit an unpenalized intercept.")]
StandardizeOption = Annotated[
    bool, typer.Option("--standardize/--no-standardize", help="Standardize features (fitted on the data) first.")
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs in --out.")]


def register(app: typer.Typer) -> None:
    """Add the ``ridge`` and ``lasso`` commands to ``app``."""
    app.command("ridge")(ridge)
    app.command("lasso")(lasso)


def ridge(
    data: DataArgument,
    target: TargetOption = None,
    lambdas: Annotated[str, typer.Option(help="'start:stop:count' (log-spaced) or a comma list.")] = "1e-4:1e4:50",
    cv: Annotated[str, typer.Option(help="'loo', 'gcv' or a number of folds.")] = "loo",
    out: OutOption = Path("runs/ridge"),
    intercept: InterceptOption = True,
    standardize: StandardizeOption = True,
    device: Annotated[str, typer.Option(help="Torch device for the decomposition, e.g. cpu or cuda.")] = "cpu",
    overwrite: OverwriteOption = False,
) -> None:
    """Ridge path from one decomposition; λ by closed-form leave-one-out, GCV or k-fold CV."""
    import torch  # heavy imports wait until the command runs, so `fitguard --help` stays fast

    from fitguard.linear.inputs import one_hot
    from fitguard.linear.lambdas import parse_lambdas
    from fitguard.linear.ridge import ridge_path

    grid = parse_lambdas(lambdas)
    folds = _parse_cv(cv)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FitguardError(f"`--device` {device!r} needs CUDA, which is not available here; use --device cpu")
    files = _outputs(out, "ridge", overwrite)
    X, y, names, task = _load(data, target, standardize)
    targets = one_hot(y) if task == "classification" else y
    result = ridge_path(X, targets, grid, fit_intercept=intercept, cv=folds, device=device)
    best_coef = result.best_coef_
    nonzeros = int((best_coef.abs().amax(dim=0) if best_coef.ndim == 2 else best_coef.abs()).gt(0).sum())
    summary = {
        "command": "ridge",
        "data": data,
        "samples": int(X.shape[0]),
        "features": int(X.shape[1]),
        "outputs": 1 if targets.ndim == 1 else int(targets.shape[1]),
        "cv": folds,
        "best_lambda": result.best_lambda_,
        "cv_error": float(result.cv_errors_[result.best_index_]),
        "condition_gram": result.condition_gram_,
        "condition_regularized": float(result.condition_numbers_[result.best_index_]),
        "nonzeros": nonzeros,
        "lambdas": result.lambdas.tolist(),
        "cv_errors": result.cv_errors_.cpu().tolist(),
    }
    _write(result, summary, files, names, "Ridge", "cond(XᵀX + λI) at best λ")


def lasso(
    data: DataArgument,
    target: TargetOption = None,
    lambdas: Annotated[
        str | None, typer.Option(help="'start:stop:count' or a comma list; default: 100 from λ_max down.")
    ] = None,
    cv: Annotated[int, typer.Option(help="Number of folds (contiguous, as scikit-learn's KFold).")] = 5,
    l1_ratio: Annotated[float, typer.Option(help="1 = lasso, between 0 and 1 = elastic net.")] = 1.0,
    out: OutOption = Path("runs/lasso"),
    intercept: InterceptOption = True,
    standardize: StandardizeOption = True,
    overwrite: OverwriteOption = False,
) -> None:
    """Lasso / elastic-net path (coordinate descent with warm starts), λ by k-fold CV, with sparsity."""
    import torch

    from fitguard.linear.lambdas import parse_lambdas
    from fitguard.linear.lasso import elastic_net_path
    from fitguard.linear.spectrum import condition_numbers, decompose

    grid = parse_lambdas(lambdas) if lambdas is not None else None
    files = _outputs(out, "lasso", overwrite)
    X, y, names, task = _load(data, target, standardize)
    if task == "classification" and int(y.max()) > 1:
        raise FitguardError(
            f"lasso needs a numeric target or two classes, got {int(y.max()) + 1} classes in {target or data!r}"
        )
    result = elastic_net_path(X, y.to(torch.float64), l1_ratio=l1_ratio, lambdas=grid, cv=cv, fit_intercept=intercept)
    # The elastic net's L2 part adds n·λ·(1 - l1_ratio)·I to XᵀX (its loss is scaled by 1/(2n)).
    ridge_part = torch.tensor([X.shape[0] * result.best_lambda_ * (1.0 - l1_ratio)], dtype=torch.float64)
    spectrum = decompose(X, y.to(torch.float64)[:, None], intercept)
    gram_condition, regularized = condition_numbers(spectrum, ridge_part)
    summary = {
        "command": "lasso",
        "data": data,
        "samples": int(X.shape[0]),
        "features": int(X.shape[1]),
        "outputs": 1,
        "cv": cv,
        "l1_ratio": l1_ratio,
        "best_lambda": result.best_lambda_,
        "cv_error": float(result.cv_errors_[result.best_index_]),
        "condition_gram": gram_condition,
        "condition_regularized": float(regularized[0]),
        "nonzeros": int(result.nonzeros_[result.best_index_]),
        "lambdas": result.lambdas.tolist(),
        "cv_errors": result.cv_errors_.tolist(),
        "nonzeros_per_lambda": result.nonzeros_.tolist(),
    }
    title = "Lasso" if l1_ratio == 1.0 else f"Elastic net (l1_ratio={l1_ratio:g})"
    _write(result, summary, files, names, title, "cond(XᵀX + nλ(1 - l1_ratio)I) at best λ")


def _parse_cv(cv: str) -> str | int:
    text = cv.strip().lower()
    if text in ("loo", "gcv"):
        return text
    if text.isdigit() and int(text) >= 2:
        return int(text)
    raise FitguardError(f"`--cv` must be 'loo', 'gcv' or a number of folds >= 2, got {cv!r}")


def _outputs(out: Path, name: str, overwrite: bool) -> dict[str, Path]:
    files = {
        "cv_curve": out / f"{name}_cv_curve.png",
        "coefficient_paths": out / f"{name}_coefficient_paths.png",
        "summary": out / f"{name}.json",
    }
    existing = [str(path) for path in files.values() if path.exists()]
    if existing and not overwrite:
        raise FitguardError(f"{existing[0]} already exists; pass --overwrite to replace it or choose another --out")
    return files


def _load(data: str, target: str | None, standardize: bool) -> tuple[torch.Tensor, torch.Tensor, list[str], str]:
    # Imported here so that `fitguard --help` does not pay for the data layer.
    import numpy as np
    import torch

    from fitguard.data import load

    dataset = load(data, target=target, val=0, test=0, standardize=standardize)
    # a linear model has no lookup layer: an embedded column's codes become one-hot columns
    features, expanded = dataset.preprocessor.expand(dataset.train.X)
    X = torch.from_numpy(features)
    names = list(expanded) if expanded else [f"x{i}" for i in range(X.shape[1])]
    if dataset.task == "classification":
        return X, dataset.train.y, names, dataset.task
    # the closed forms fit the target in its own units: the raw rows', not the standardized ones networks learn
    return X, torch.from_numpy(np.asarray(dataset.raw_train.labels, dtype=np.float32)), names, dataset.task


def _write(
    result: Any, summary: dict[str, Any], files: dict[str, Path], names: list[str], title: str, condition_label: str
) -> None:
    from fitguard.linear.plots import plot_coefficient_paths, plot_cv_curve

    files["summary"].parent.mkdir(parents=True, exist_ok=True)
    plot_cv_curve(result, files["cv_curve"], title=f"{title}: cross-validated error")
    plot_coefficient_paths(result, files["coefficient_paths"], names, title=f"{title}: coefficient paths")
    summary["files"] = {key: str(path) for key, path in files.items()}
    files["summary"].write_text(json.dumps(_strict_json(summary), indent=2, allow_nan=False))

    table = Table(title=f"{title} on {summary['data']} ({summary['samples']} samples × {summary['features']} features)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    cv = summary["cv"]
    cv_name = {"loo": "leave-one-out", "gcv": "GCV"}.get(cv, f"{cv}-fold") if isinstance(cv, str) else f"{cv}-fold"
    table.add_row("best λ", f"{summary['best_lambda']:.4g}")
    table.add_row(f"CV error ({cv_name} MSE)", f"{summary['cv_error']:.6g}")
    table.add_row("cond(XᵀX)", _condition(summary["condition_gram"]))
    table.add_row(condition_label, _condition(summary["condition_regularized"]))
    table.add_row("nonzero coefficients", f"{summary['nonzeros']} / {summary['features']}")
    for key, path in files.items():
        table.add_row(key.replace("_", " "), str(path))
    Console(width=120).print(table)


def _condition(value: float) -> str:
    return "inf (singular)" if value == float("inf") else f"{value:.3e}"


def _strict_json(value: Any) -> Any:
    # Strict JSON has no inf/NaN: a singular matrix's condition number (or an undefined error) is written as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict_json(item) for item in value]
    return value
