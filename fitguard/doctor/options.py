"""What ``fitguard doctor`` was asked to do, validated once: data, model, budget, sizes of each phase."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from fitguard.data.encoding import parse_ordinal
from fitguard.data.missing import MISSING_CHOICES
from fitguard.models.imported import check_import_path, is_import_path
from fitguard.errors import FitguardError

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
FAMILIES = ("mlp", "cnn", "cnn1d")
#: which scored recipe the doctor keeps: the best-ranked, or (cross-validated) the simplest within one standard error
KEEP_RULES = ("best", "simplest")
#: what early stopping watches, and so the epoch every training restores and every refit trains for. val_loss
#: (the default) was measured against val_accuracy on refits of one recipe on doctor's folds (breast_cancer and
#: digits 10% seeds 0-2, sonar seeds 0-1): accuracy's first peak on a few dozen validation rows often comes early
#: (digits 10% seed 1: epochs 3-4 against 36-100), and those refits scored lower on 4 of 7 (by 0.2 to 1.5 points),
#: higher on 2 (both sonar) and level on 1; the loss is the smoother signal
MONITORS = ("val_loss", "val_accuracy")
#: the rows the shipped model is finally trained on: every labelled row (after the one test evaluation), train +
#: validation (the model that was tested), or none (the search's own training on the training split)
REFITS = ("all", "trainval", "none")


def parse_budget(text: str) -> float | None:
    """Seconds in a budget such as ``90``, ``90s``, ``10m`` or ``1.5h``; ``none``: no time limit (``--trials``
    then bounds the run).

    Example:
        >>> parse_budget("10m"), parse_budget("45s"), parse_budget("2"), parse_budget("none")
        (600.0, 45.0, 2.0, None)
    """
    if str(text).strip().lower() == "none":
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if match is None or float(match.group(1)) <= 0:
        raise FitguardError(f"`--budget` must be a positive time such as 90s, 10m or 1h, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_data_options(items: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` loader options (values read as YAML scalars: ``100`` is an int, ``true`` a bool).

    Example:
        >>> parse_data_options(["limit_per_class=100", "image_size=16"])
        {'limit_per_class': 100, 'image_size': 16}
    """
    options: dict[str, Any] = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key.strip().isidentifier():
            raise FitguardError(f"`--data-option` must be KEY=VALUE (e.g. limit_per_class=100), got {item!r}")
        try:
            options[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            options[key.strip()] = text
    return options


@dataclass(frozen=True)
class DoctorOptions:
    """Every knob of one doctor run; the defaults finish digits in three minutes on 2 CPU cores.

    ``budget`` is the wall time of the whole run in seconds (baseline, diagnosis, reference models, search, final
    trainings and report): a hard deadline that stops a training in flight. ``trials`` bounds the search's
    trainings instead of (or as well as) the time; one of the two must be given. ``refit`` says which rows train
    the shipped model (see :data:`REFITS`); ``test_data`` is an external test set, in which case nothing of
    ``data`` is held back for testing. ``ensemble``: the tested and shipped model is the mean of up to this many
    refits of the kept recipe, each with its own seed (fewer when the time left cannot pay for them; 1 turns it
    off). ``monitor``: what early stopping watches (see :data:`MONITORS`).
    """

    data: str = "digits"
    target: str | None = None
    config: str | None = None
    model: str | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    missing: str = "impute"
    embed: bool = True
    ordinal: tuple[str, ...] = ()
    backbone: str | None = None
    freeze_all_but: int | None = None
    unfreeze_every: int | None = None
    test_data: str | None = None
    budget: float | None = 180.0
    trials: int | None = None
    device: str = "auto"
    seed: int = 0
    epochs: int = 150
    search_epochs: int = 100
    patience: int = 15
    monitor: str = "val_loss"
    baseline_patience: int = 50
    folds: int = 3
    cv_max_rows: int = 600
    min_steps: int = 1500
    keep: str = "best"
    epsilon: float = 0.005
    rounds: int = 5
    train_fraction: float = 1.0
    refit: str = "all"
    ensemble: int = 5
    references: bool = True
    out: str = "runs/doctor"
    overwrite: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.model is not None:
            if is_import_path(self.model):
                check_import_path(self.model)
            elif self.model not in FAMILIES:
                raise FitguardError(
                    f"`--model` must be one of {', '.join(FAMILIES)} or package.module:function, got {self.model!r}")
        if self.backbone is None:
            for name in ("freeze_all_but", "unfreeze_every"):
                if getattr(self, name) is not None:
                    raise FitguardError(f"`--{name.replace('_', '-')}` needs `--backbone NAME|PATH`")
        if self.freeze_all_but is not None and self.freeze_all_but < 0:
            raise FitguardError(f"`--freeze-all-but` must be >= 0, got {self.freeze_all_but}")
        if self.unfreeze_every is not None:
            if self.unfreeze_every < 1:
                raise FitguardError(f"`--unfreeze-every` must be >= 1, got {self.unfreeze_every}")
            if self.freeze_all_but is None:
                raise FitguardError("`--unfreeze-every` needs `--freeze-all-but K`: with nothing frozen there is "
                                    "nothing to unfreeze")
        if self.missing not in MISSING_CHOICES:
            raise FitguardError(f"`--missing` must be one of {', '.join(MISSING_CHOICES)}, got {self.missing!r}")
        try:
            parse_ordinal(self.ordinal)
        except ValueError as error:
            raise FitguardError(f"`--ordinal`: {error}") from None
        if self.budget is None and self.trials is None:
            raise FitguardError("give `--budget` or `--trials` (or both): with neither the search would never end")
        if self.budget is not None and not self.budget > 0:
            raise FitguardError(f"`--budget` must be a positive time such as 90s, 10m or 1h, got {self.budget!r}")
        if self.refit not in REFITS:
            raise FitguardError(f"`--refit` must be one of {', '.join(REFITS)}, got {self.refit!r}")
        if self.trials is not None and self.trials < 1:
            raise FitguardError(f"`--trials` must be >= 1, got {self.trials}")
        if self.monitor not in MONITORS:
            raise FitguardError(f"`--monitor` must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if self.keep not in KEEP_RULES:
            raise FitguardError(f"`--keep` must be one of {', '.join(KEEP_RULES)}, got {self.keep!r}")
        for name, least in (("cv_max_rows", 0), ("min_steps", 0), ("epochs", 1), ("search_epochs", 1), ("folds", 2),
                            ("patience", 1), ("baseline_patience", 1), ("ensemble", 1)):
            if getattr(self, name) < least:
                raise FitguardError(f"`--{name.replace('_', '-')}` must be >= {least}, got {getattr(self, name)}")
        if self.rounds == 1 or self.rounds < 0:
            raise FitguardError(f"`--rounds` must be 0 (skip bias-variance) or >= 2, got {self.rounds}")
        if not 0 <= self.epsilon < 1:
            raise FitguardError(f"`--epsilon` must be in [0, 1), got {self.epsilon}")
        if not 0 < self.train_fraction <= 1:
            raise FitguardError(f"`--train-fraction` must be in (0, 1], got {self.train_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def command(self) -> str:
        """The shell command that reruns this doctor run."""
        defaults = DoctorOptions()
        parts = ["fitguard", "doctor"]
        for name, value in asdict(self).items():
            if value == getattr(defaults, name) or name in ("overwrite", "quiet"):
                continue
            flag = f"--{name.replace('_', '-')}"
            if name == "data_options":
                for key, option in value.items():
                    parts += ["--data-option", f"{key}={_scalar(option)}"]
            elif name == "ordinal":
                for text in value:
                    parts += [flag, text]
            elif isinstance(value, bool):
                parts.append(flag if value else f"--no-{flag[2:]}")
            else:
                parts += [flag, _budget_text(value) if name == "budget" else str(value)]
        return " ".join(_quote(p) for p in parts)


def _budget_text(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:g}s"


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w./:=,+-]+", text) else "'" + text.replace("'", "'\\''") + "'"
