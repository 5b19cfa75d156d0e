"""The work behind ``fitguard train``: build the run, train, evaluate, save, print a summary."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fitguard.config import TrainConfig
from fitguard.models import count
from fitguard.recipe import build_run
from fitguard.runs import MARKER, claim_run_dir, save_model, write_json


def run_training(spec: TrainConfig, out: Path, overwrite: bool = False, resume: bool = False,
                 quiet: bool = False) -> Path:
    """Train ``spec`` into the run folder ``out`` (held for this process meanwhile: see
    :func:`fitguard.runs.claim_run_dir`); return the folder."""
    with claim_run_dir(out, overwrite=overwrite, resume=resume) as directory:
        return _train(spec, directory, resume, quiet)


def _train(spec: TrainConfig, directory: Path, resume: bool, quiet: bool) -> Path:
    console = Console(stderr=False)
    run = None
    try:
        write_json(directory / MARKER, {"command": "train", "config": spec.model_dump(mode="json")})
        run = build_run(spec, out=directory, quiet=quiet)
        data, trainer = run.data, run.trainer
        if not quiet:
            console.print(f"[bold]{data!r}[/bold]  model: {run.model_name} {run.model_options or ''}")
        history = trainer.fit(data.train, data.val, resume=directory / "checkpoints" if resume else None)
    except Exception:
        # bad input found before any epoch ran: a half-made folder would only block the corrected rerun
        if not resume and (run is None or run.trainer.epoch == 0):
            shutil.rmtree(directory, ignore_errors=True)
        raise
    history.save(directory / "history.json")
    model = run.final_model()  # the snapshot ensemble when the spec asks for one
    save_model(directory, model, run.model_name, run.model_options, data, architecture=run.architecture)
    scores = {"train": trainer.evaluate(data.train, model=model)}
    if data.val is not None:
        scores["val"] = trainer.evaluate(data.val, model=model)
    if data.test is not None:
        scores["test"] = trainer.evaluate(data.test, model=model)
    parameters = count(model, data.input_shape).parameters
    pre = data.preprocessor
    # a standardized regression target: the losses above are in its training units, predictions in its own
    scale = {"mean": list(pre.target_mean), "std": list(pre.target_std)} if pre.target_mean else None
    write_json(directory / "scores.json", {"scores": scores, "epochs": len(history), "stop_reason": history.stop_reason,
                                          "best_epoch": history.best_epoch, "parameters": parameters,
                                          "target_scale": scale})
    table = Table(title=f"fitguard train: {data.name} -> {directory}")
    table.add_column("split")
    metrics = list(scores["train"])
    for metric in metrics:
        table.add_column(metric, justify="right")
    for split, values in scores.items():
        table.add_row(split, *(f"{values[m]:.4f}" for m in metrics))
    console.print(table)
    best = f"; kept the weights of epoch {history.best_epoch}" if history.best_epoch else ""
    console.print(f"{len(history)} epochs ({history.stop_reason}{best}); {parameters:,} parameters")
    if scale is not None:
        console.print("regression target standardized on the training rows (mean "
                      f"{', '.join(f'{m:.4g}' for m in scale['mean'])}, "
                      f"std {', '.join(f'{s:.4g}' for s in scale['std'])}): "
                      "loss, mae and rmse above are in those units (times std for the target's; MSE times std²); "
                      "fitguard.load(run).predict returns the target's own units")
    return directory
