"""``fitguard train``: train one model from a YAML/TOML spec and/or flags into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fitguard.config import TrainConfig, parse_config, read_config_file
from fitguard.errors import FitguardError


def _parse_widths(text: str, option: str) -> list[int]:
    try:
        widths = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FitguardError(f"`{option}` must be comma-separated integers such as 256,256, got {text!r}") from None
    return widths


def merge_flags(raw: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """Overlay command-line flags (``section.key`` -> value, None = not given) on a spec mapping."""
    merged = {section: (dict(value) if isinstance(value, dict) else value) for section, value in raw.items()}
    for dotted, value in flags.items():
        if value is None:
            continue
        section, key = dotted.split(".")
        if not isinstance(merged.get(section), dict):
            merged[section] = {}
        merged[section][key] = value
    return merged


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: Annotated[Path | None, typer.Argument(help="YAML or TOML spec (flags override it).")] = None,
        data: Annotated[str | None, typer.Option(
            help="Built-in dataset name or a .csv/.npz/image folder/.zip path.")] = None,
        target: Annotated[str | None, typer.Option(help="Target column of a CSV file.")] = None,
        missing: Annotated[str | None, typer.Option(
            help="Missing table cells: impute (the default: median / most frequent category of the training rows, "
                 "plus a missing-indicator column) or error (refuse them).")] = None,
        embed: Annotated[bool | None, typer.Option(
            "--embed/--no-embed", help="A table column with more than 20 categories becomes a learned embedding "
                                       "(the default; --no-embed: the rarer categories share one one-hot "
                                       "column).")] = None,
        ordinal: Annotated[list[str] | None, typer.Option(
            help="An ordered table column as NAME=LOWEST,...,HIGHEST (repeatable): one number, its position.")] = None,
        model: Annotated[str | None, typer.Option(help="mlp, cnn, cnn1d or auto (by kind of data).")] = None,
        hidden: Annotated[str | None, typer.Option(help="MLP hidden widths, e.g. 256,256.")] = None,
        dropout: Annotated[float | None, typer.Option(help="Dropout rate in [0, 1).")] = None,
        batchnorm: Annotated[bool | None, typer.Option(
            "--batchnorm/--no-batchnorm", help="Batch normalization.")] = None,
        epochs: Annotated[int | None, typer.Option(help="Maximum number of epochs.")] = None,
        lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
        batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
        repeat: Annotated[int | None, typer.Option(
            help="Passes over the training rows in one epoch, each reshuffled (for data of a few batches).")] = None,
        optimizer: Annotated[str | None, typer.Option(help="adam, adamw or sgd.")] = None,
        weight_decay: Annotated[float | None, typer.Option(help="Optimizer weight decay.")] = None,
        patience: Annotated[int | None, typer.Option(help="Early-stopping patience in epochs.")] = None,
        backbone: Annotated[str | None, typer.Option(
            help="Pretrained backbone: efficientnet_lite0, a run folder or a weights file.")] = None,
        freeze_all_but: Annotated[int | None, typer.Option(
            "--freeze-all-but", help="Train only the last K layer blocks of the backbone.")] = None,
        unfreeze_every: Annotated[int | None, typer.Option(
            "--unfreeze-every", help="Unfreeze one more block every N epochs.")] = None,
        backbone_batchnorm: Annotated[str | None, typer.Option(
            help="eval (default: keep the backbone's batch-norm statistics) or train (re-estimate them).")] = None,
        device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
        seed: Annotated[int | None, typer.Option(
            help="Seed for the split, the initial weights and the batches.")] = None,
        out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("runs/train"),
        overwrite: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
        resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
        quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    ) -> None:
        """Train one model and write a run folder: config, metrics.jsonl, history.json, checkpoints, tensorboard."""
        from fitguard.data.encoding import parse_ordinal

        raw = read_config_file(config) if config is not None else {}
        flags = {
            "data.source": data, "data.target": target, "data.missing": missing, "data.embed": embed,
            "data.ordinal": parse_ordinal(ordinal) if ordinal else None, "model.name": model,
            "model.hidden": _parse_widths(hidden, "--hidden") if hidden is not None else None,
            "model.dropout": dropout, "model.batchnorm": batchnorm,
            "train.max_epochs": epochs, "train.lr": lr, "train.batch_size": batch_size, "train.optimizer": optimizer,
            "train.repeat": repeat,
            "train.weight_decay": weight_decay, "train.device": device, "train.seed": seed, "data.seed": seed,
            "early_stopping.patience": patience, "transfer.backbone": backbone,
            "transfer.freeze_all_but": freeze_all_but, "transfer.unfreeze_every": unfreeze_every,
            "transfer.batchnorm": backbone_batchnorm,
        }
        spec: TrainConfig = parse_config(merge_flags(raw, flags), str(config) if config else "options")
        from fitguard.commands.train_run import run_training  # torch and friends: only once the spec is valid

        run_training(spec, out, overwrite=overwrite, resume=resume, quiet=quiet)
