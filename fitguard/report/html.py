"""``report.html`` from a doctor run folder alone: summary.json, the two histories, the two models' weights and
the augmentation samples. Plots are inline base64 PNGs, styles inline, no URL anywhere: it works offline.

Every string from the user's data (class and column names, paths) passes through jinja2's autoescape.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape
from safetensors.numpy import load_file

from fitguard.report import plots
from fitguard.report.terminal import figure_parts, unused_time
from fitguard.summary import SearchTrial, Summary, load_summary
from fitguard.train.state_io import atomic_write_bytes

TEMPLATES = Path(__file__).with_name("templates")


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                              trim_blocks=True, lstrip_blocks=True)
    # a value a row lacks (a study without dropout, a skipped trial) shows as a dash
    missing = lambda v: v is None or isinstance(v, Undefined)  # noqa: E731
    environment.filters["pct"] = lambda v: "–" if missing(v) else f"{100 * v:.1f}%"
    environment.filters["num"] = lambda v, digits=4: "–" if missing(v) else f"{v:.{digits}g}"
    environment.filters["signed"] = lambda v: "–" if missing(v) else f"{v:+.4f}"
    environment.filters["thousands"] = lambda v: "–" if missing(v) else f"{v:,}"
    # an estimate with its interval (balanced accuracy, RMSE, R²); a dash where an older summary has none
    environment.filters["estimate"] = lambda e, style="num": "–" if missing(e) else (
        f"{100 * e['value']:.1f}% ({100 * e['low']:.1f}–{100 * e['high']:.1f})" if style == "pct"
        else f"{e['value']:.3f} ({e['low']:.3f}–{e['high']:.3f})" if style == "fixed"
        else f"{e['value']:.4g} ({e['low']:.4g}–{e['high']:.4g})")
    return environment


def _helped(trial: SearchTrial, reference: SearchTrial) -> bool:
    """The ablation's own call (score, then validation loss on ties), or the score alone in older summaries."""
    return trial.details.get("helped", trial.val_score > reference.val_score)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _history(run_dir: Path, name: str) -> dict[str, Any]:
    record = json.loads((run_dir / name).read_text())
    epochs = record["epochs"]
    keys = list(epochs[0]) if epochs else []
    return {key: [float(e.get(key, float("nan"))) for e in epochs] for key in keys}


def _weights(path: Path) -> np.ndarray:
    tensors = load_file(str(path))
    kept = [v.ravel() for k, v in sorted(tensors.items()) if k.endswith("weight") and v.ndim >= 2]
    return np.concatenate(kept) if kept else np.zeros(0)


def figures(run_dir: Path, summary: Summary) -> dict[str, str]:
    """Every plot of the report as a data URI, keyed by section.

    Args:
        run_dir: the doctor run folder (the histories are read from it).
        summary: the run's :class:`~fitguard.summary.Summary`.
    """
    task, metric = summary.data.task, summary.metric
    baseline, best = _history(run_dir, summary.baseline.history), _history(run_dir, summary.best.history)
    architecture = [t.model_dump() for t in summary.remedies.architecture]
    found: dict[str, str] = {
        "baseline_curves": _data_uri(plots.learning_curves(baseline, task, summary.verdict.onset_epoch)),
        # a recipe trained once kept its last epoch's weights: no epoch was chosen to mark
        "compare_curves": _data_uri(plots.compare_curves(
            baseline, best, task, None if summary.remedies.unscored else summary.best.best_epoch,
            smoothing=summary.best.config.get("train", {}).get("label_smoothing") or 0.0)),
        "weights": _data_uri(plots.weight_histograms(_weights(run_dir / "baseline.safetensors"),
                                                     _weights(run_dir / summary.best.model_file))),
    }
    if any(t["status"] == "done" and t["val_score"] is not None for t in architecture):  # a recipe trained once: none
        found["architecture"] = _data_uri(plots.architecture_scatter(architecture, metric))
    if summary.bias_variance and "skipped" not in summary.bias_variance:
        found["bias_variance"] = _data_uri(plots.bias_variance_bars(summary.bias_variance))
    cv = summary.remedies.lambda_cv
    if any(r.mean is not None for r in cv.rows):
        rows = [r.model_dump() for r in cv.rows]
        found["lambda"] = _data_uri(plots.lambda_curve(rows, cv.best_lam, metric, cv.folds))
    samples = run_dir / "augmentation_samples.npz"
    if samples.is_file():
        with np.load(samples, allow_pickle=False) as npz:
            found["augmentation"] = _data_uri(
                plots.augmentation_grid(npz["original"], npz["augmented"], list(npz["labels"])))
    return found


def render_report(run_dir: str | Path) -> str:
    """The report's HTML for a doctor run folder.

    Args:
        run_dir: A folder written by ``fitguard doctor``: its ``summary.json``, histories and saved weights are
            read; the figures are embedded as data URIs, so the page needs no other file.

    Raises:
        FileNotFoundError: the folder holds no ``summary.json``.
        FitguardError: the summary is not valid JSON or does not match :class:`~fitguard.summary.Summary`.
    """
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    template = _environment().get_template("report.html")
    config_yaml = json.dumps(summary.best.config, indent=1)
    # the template reads the summary as JSON values: its tests (`is defined`) see the keys the file holds
    return template.render(s=summary.to_dict(), fig=figures(run_dir, summary), best_config=config_yaml,
                           advice=advice(summary),
                           reference_sentence=reference_sentence(summary), recall=recall_rows(summary),
                           columns=column_rows(run_dir), unused=unused_time(summary),
                           # each tested model's figure and interval, apart: the cards set the interval smaller
                           cards={model: figure_parts(run.figure, percent=True)
                                  for model, run in (("baseline", summary.test.baseline), ("best", summary.test.best))})


def recall_rows(summary: Summary) -> list[dict[str, Any]]:
    """Per class: its test rows and each tested model's recall (kept, baseline, then the references), from the
    test figures; empty for regression or an older summary without recalls.

    Args:
        summary: the run's :class:`~fitguard.summary.Summary`.
    """
    test = summary.test
    models = [("kept", test.best.figure), ("baseline", test.baseline.figure),
              *((f"reference: {r.name}", r.figure) for r in test.references)]
    if models[0][1].recall is None:
        return []
    return [{"class": row.class_name, "rows": row.rows,
             "recall": [(name, figure.recall[index].value) for name, figure in models]}
            for index, row in enumerate(models[0][1].recall)]


def column_rows(run_dir: Path) -> list[tuple[str, str]]:
    """What the shipped model's preprocessing does to each raw column of a table (name, description), read from
    ``best.json``; empty for images and signals, or a run without a saved model.

    Args:
        run_dir: the doctor run folder.
    """
    path = run_dir / "best.json"
    if not path.is_file():
        return []
    preprocessor = json.loads(path.read_text()).get("preprocessor") or {}
    if preprocessor.get("kind") != "table":
        return []
    from fitguard.data import Preprocessor

    return [(c.name, c.describe()) for c in Preprocessor.from_dict(preprocessor).columns]


def reference_sentence(summary: Summary) -> str:
    """Whether the kept network beats the reference models, in plain words, from the paired tests alone.

    Args:
        summary: the run's :class:`~fitguard.summary.Summary`.
    """
    rows = summary.test.references
    if not rows:
        return "No reference model finished within the budget."
    words = {"better": "beats", "worse": "loses to", "not distinguishable": "cannot be told apart from"}
    parts = [f"{words[r.best_vs_reference.verdict]} {r.name} (p = {r.best_vs_reference.p_value:.2g})" for r in rows]
    beaten = all(r.best_vs_reference.verdict == "better" for r in rows)
    return (f"The kept network {', '.join(parts)} on the same test rows"
            + (": it beats every reference." if beaten else ": it does not beat every reference."))


def advice(summary: Summary) -> list[str]:
    """Recommendations in plain words, from what the search measured (not from rules of thumb alone).

    Args:
        summary: the run's :class:`~fitguard.summary.Summary`.
    """
    metric, best, baseline, test = summary.metric, summary.best, summary.baseline, summary.test
    lines = []
    show = (lambda v: f"{100 * v:.1f}%") if metric == "accuracy" else (lambda v: f"{v:.4g}")
    # the test metric sits beside `loss` among a tested model's scores (accuracy: an undeclared key)
    best_score, baseline_score = getattr(test.best, metric), getattr(test.baseline, metric)
    size = (f"with the baseline's {best.parameters:,} parameters" if best.parameters == baseline.parameters
            else f"with {best.parameters:,} parameters instead of {baseline.parameters:,}")
    lines.append(
        f"Use the recipe “{best.name}”: on the untouched test split it scores {show(best_score)} "
        f"against the baseline's {show(baseline_score)} ({test.best_vs_baseline.verdict} by a paired test on the "
        f"same rows), {size}."
    )
    remedies = summary.remedies
    if remedies.tie is not None:
        other = next(f for f in remedies.tie.finalists if f.name != remedies.tie.kept)
        mine = next(f for f in remedies.tie.finalists if f.name == remedies.tie.kept)
        within = ("within the noise" if mine.fresh_score is None or other.fresh_score is None
                  else f"within {remedies.epsilon:g}" if remedies.window is None
                  else f"within one standard error ({remedies.window:.3f})")
        tie = (f"Network: “{remedies.chosen_architecture}” tied with “{other.name}” {within} (a "
               "fixed schedule and early stopping, whose scores do not compare: an early-stopped one is its best "
               "epoch's)")
        if mine.fresh_score is None or other.fresh_score is None:
            margin = 100 * (mine.noise or other.noise or 0.0)
            lead = f"a lead under {margin:.1f} points is noise on these validation rows"
            lines.append(f"{tie}; {lead}, so " + ("the fixed schedule was kept." if mine is remedies.tie.finalists[0]
                                                 else "the network, further ahead than that, was kept."))
        else:
            lines.append(f"{tie}; trained again as each would be shipped, on a second split of the labelled rows, "
                         f"it scored {show(mine.fresh_score)} against {show(other.fresh_score)}.")
    elif remedies.unscored is not None:
        lines.append(f"Network: “{remedies.chosen_architecture}”, trained once without a score: the budget fitted no "
                     "comparison with another network.")
    else:
        kept = "was the smallest" if summary.metric == "loss" else "had the lowest validation loss"
        reach = (f"{remedies.epsilon:g}" if remedies.window is None else
                 f"{remedies.window:.3f} (one standard error of the best validation accuracy, --one-se)")
        lines.append(f"Network: “{remedies.chosen_architecture}” {kept} of the networks within {reach} "
                     "of the best validation score.")
    if remedies.one_fold is not None:
        lines.append(f"“{remedies.one_fold.recipe}” was scored on fold 1 of {remedies.one_fold.folds} alone (its "
                     f"{remedies.one_fold.folds} trainings did not fit the budget), and every network was compared "
                     f"with it on that fold's {remedies.one_fold.validation_rows} validation rows.")
    short = remedies.unscored
    if short is not None and short.budget is not None:
        lines.append(f"“{short.recipe}” trained {short.epochs} of its {short.full_epochs} epochs to fit the budget: "
                     f"a --budget of about {short.budget:.0f} s would train it in full.")
    if remedies.settled:
        lines.append(f"{remedies.settled[:1].upper()}{remedies.settled[1:]}.")
    reference = remedies.ablation[0]
    scored = [t for t in remedies.ablation[1:] if t.status == "done" and t.val_score is not None]
    helped = [t.name for t in scored if _helped(t, reference)]
    hurt = [t.name for t in scored if not _helped(t, reference)]
    if helped:
        lines.append(f"Remedies that earned their place on validation data: {', '.join(helped)}.")
    if hurt:
        lines.append(f"Remedies that did not help here (leave them out): {', '.join(hurt)}.")
    if best.best_epoch and remedies.unscored is None:  # a recipe trained once had no search run
        search_epochs = getattr(best, "search_epochs", None) or best.epochs  # older summaries lack it
        lines.append(f"Keep early stopping: the search run of this recipe kept its weights of epoch {best.best_epoch} "
                     f"of {search_epochs}, and " + ("that model was tested and shipped (no refit fitted the time left)."
                                                    if getattr(best, "tested", "refit") == "search" else
                                                    "the refit trains that many epochs."))
    kind = summary.verdict.kind
    if kind == "overfit":
        memorized = any(line.endswith("memorized") for line in summary.verdict.evidence)
        why = "the baseline memorized its training set" if memorized else \
            "the baseline fits its training rows clearly better than new ones"
        lines.append(f"More training data is the remedy no search can replace: {why}.")
    elif kind == "underfit":
        lines.append("The baseline underfits: a bigger model or longer training comes before any regularization.")
    return lines


def build_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` into the run folder (atomically) and return its path.

    Args:
        run_dir: A folder written by ``fitguard doctor`` (see :func:`render_report`); an existing
            ``report.html`` is replaced.
    """
    path = Path(run_dir) / "report.html"
    atomic_write_bytes(path, render_report(run_dir).encode())
    return path
