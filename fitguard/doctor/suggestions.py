"""What each of the diagnosis' suggestions did when the search tried it -- measured, including those that did not
help -- and the learning curve behind "more data".

Each recommendation of the verdict maps to the trials that test it:

- ``augmentation`` (with cutout too), ``dropout``, ``L2``, batch norm, weight noise, mixup, and the plan's own
  proposals -- class weights for skewed classes, skip connections and a cosine schedule for an underfit model,
  weight averaging (the better of SWA and a snapshot ensemble) for an overfit one: the ablation's single-remedy
  rows against the chosen network with early stopping only;
- ``shrink the network`` / ``bigger model``: the best architecture smaller / bigger than the baseline network
  against the baseline network's own architecture trial (when the search scored it);
- ``early stopping``: the baseline's own validation curve, at its best epoch against its last;
- ``train longer``: the chosen network trained three times longer against it;
- ``less regularization``: the smallest λ of the cross-validation against the largest;
- ``more data``: the learning curve's estimate of the rows that would close half the train - validation gap.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fitguard.data import Dataset, TensorData
from fitguard.data.splits import subsample_indices
from fitguard.doctor.phases import Clock, Scorer, rank, scored_by, unscored
from fitguard.doctor.trials import Trial, refit_epochs

if TYPE_CHECKING:
    from fitguard.diagnose.scaling import PowerLaw

#: training fractions of the learning curve
FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def learning_curve_phase(score: Scorer, clock: Clock, chosen: Trial, *, share: float, tick: Any,
                         fractions: tuple[float, ...] = FRACTIONS) -> dict[str, Any]:
    """Train the chosen network on growing stratified fractions of the training split (scored on validation), fit
    error(n) = a·n^-b + c, and say how many more rows would close half of the train - validation gap.

    The whole training split against the validation split is what a holdout search already scored the chosen
    network on: that point is ``chosen``'s own trial (``"reused": True``), not a training again (on a kept complete
    recipe of 60 epochs, 40% of the phase's trainings). A fraction starts only when its forecast -- ``chosen``'s
    seconds per training row, times the fraction's rows -- ends within the phase's share of the time: a training the
    share would cut measures nothing, and one that runs past it takes the final training's time (Fashion-MNIST
    100/class at 180 s: the recipe's last fraction ran on, and the shipped recipe's own schedule was cut, 0.849).

    Args:
        score: the search's scorer.
        clock: the run's budget.
        chosen: the chosen network's trial.
        share: the share of the search's time and trials the phase may use.
        tick: called after each fraction (progress).
        fractions: the fractions of the training split (default ``FRACTIONS``).
    """
    from fitguard.diagnose.scaling import fit_power_law, rows_to_close

    data = score.data
    points: list[dict[str, Any]] = []
    # the search scored the chosen network on the whole training split against validation (holdout, not folds)
    scored_whole = (not score.folds and chosen.status == "done" and "folds" not in chosen.details
                    and not unscored(chosen))
    scorer = scored_by(score, chosen)  # one fold's trainings, when the recipe was scored on one
    trained_rows = sum(len(train) for train, _ in scorer.folds) if scorer.folds else len(data.train)
    per_row = chosen.seconds / trained_rows if chosen.status == "done" and trained_rows else 0.0
    for fraction in fractions:
        reused = fraction == 1.0 and scored_whole
        rows = data.train if reused else _fraction(data, fraction, score.base.data.seed)
        if points and len(rows) <= points[-1]["rows"]:
            continue  # tiny data: two fractions can round to the same rows
        if not reused and not (clock.fits(per_row * len(rows), share) and clock.spend(share, 1)):
            break
        # one "fold": these rows against the validation split, through the search's scorer (deadline, trial store)
        trial = chosen if reused else replace(score, folds=[(rows, data.val)], on_scored=None, progress=None)(
            chosen.recipe, name=f"{fraction:.0%} of the rows", phase="learning_curve")
        train_error, val_error = _errors(data.task, trial)
        points.append({"rows": len(rows), "train_error": train_error, "val_error": val_error,
                       "seconds": trial.seconds, **({"reused": True} if reused else {})})
        tick()
    found: dict[str, Any] = {"points": points, "error": "1 - accuracy" if data.task == "classification" else "loss",
                             "fit": None, "more_rows_for_half_the_gap": None}
    if len(points) < 3:
        found["note"] = "fewer than 3 points fit the budget: no curve"
        return found
    try:
        curve = fit_power_law([p["rows"] for p in points], [p["val_error"] for p in points])
    except (ValueError, RuntimeError) as error:
        found["note"] = f"the power law did not fit: {str(error).splitlines()[0]}"
        return found
    last = points[-1]
    more = rows_to_close(curve, last["rows"], last["train_error"], last["val_error"])
    found.update(fit={"a": curve.a, "b": curve.b, "c": curve.c}, more_rows_for_half_the_gap=more,
                 note=curve_note(curve, more))
    return found


def curve_note(curve: PowerLaw, more: int | None) -> str:
    """What the learning curve says: how many more rows close half the train - validation gap, or that more data
    alone would not; and, where the fit's exponent is the steepest it fits (:data:`~fitguard.diagnose.scaling.
    STEEPEST`), that the errors did not fall with the rows measured, so the curve is their floor, not a trend
    (``make demo``, session 26: "error(n) = 5.53e+07·n^-4 + 0.00625" through 0.0167, 0.0056, 0.0084, 0.0056).

    Args:
        curve: the validation error's power law.
        more: the extra rows for half the gap (:func:`~fitguard.diagnose.scaling.rows_to_close`).

    Example:
        >>> from fitguard.diagnose.scaling import PowerLaw
        >>> curve_note(PowerLaw(a=2.0, b=0.5, c=0.05), 300)
        'about 300 more rows would close half of the train - validation gap'
        >>> curve_note(PowerLaw(a=5.5e7, b=4.0, c=0.006), None)  # doctest: +NORMALIZE_WHITESPACE
        'more data alone would not close half the gap: the curve levels off above it; the validation errors did not
        fall with the rows measured (the fit drops at once to its floor, 0.006: its steepest exponent, 4), so that
        floor is their level, not a trend'
    """
    from fitguard.diagnose.scaling import STEEPEST  # scipy, imported where a curve is fitted

    note = ("more data alone would not close half the gap: the curve levels off above it" if more is None
            else f"about {more:,} more rows would close half of the train - validation gap")
    if curve.b >= STEEPEST:
        note += (f"; the validation errors did not fall with the rows measured (the fit drops at once to its floor, "
                 f"{curve.c:.3g}: its steepest exponent, {STEEPEST:g}), so that floor is their level, not a trend")
    return note


def _fraction(data: Dataset, fraction: float, seed: int) -> TensorData:
    labels = data.train.y.cpu().numpy() if data.task == "classification" else None
    index = subsample_indices(labels, len(data.train), fraction, seed)
    return TensorData(data.train.X[index], data.train.y[index])


def _errors(task: str, trial: Trial) -> tuple[float, float]:
    """(train error, validation error) of a holdout trial: 1 - accuracy, or the losses for regression."""
    if task == "classification":
        val_accuracy = trial.val_score
        return max(0.0, 1.0 - val_accuracy - trial.gap), 1.0 - val_accuracy
    val_loss = -trial.val_score
    return max(0.0, val_loss - trial.gap), val_loss


def outcomes(diagnosis: dict[str, Any], search: dict[str, Any], data: Dataset, baseline: Trial,
             proposals: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """For each recommendation of the diagnosis (in its order), then each of the plan's own ``proposals``
    (:meth:`fitguard.doctor.plan.Plan.proposals`): what the search measured when it tried it.

    Args:
        diagnosis: what :func:`fitguard.doctor.diagnosis.diagnose` returned.
        search: the search's results by phase.
        data: the dataset.
        baseline: the baseline's trial.
        proposals: the plan's own proposals (default none).
    """
    rows = []
    for recommendation in [*diagnosis["recommendations"], *proposals]:
        measured = _measure(recommendation["remedy"], search, data, baseline)
        rows.append({**recommendation, **measured})
    return rows


def _ablation_row(search: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    rows = [t for t in search.get("ablation", [])[1:] if t.name.startswith(prefix) and t.status == "done"]
    return max(rows, key=rank, default=None)


def _result(trial: Trial | None, reference: Trial | None, what: str) -> dict[str, Any]:
    if trial is None or reference is None:
        return {"tried": False, "helped": None, "measured": f"not tried: {what} did not fit the budget or the plan"}
    helped = rank(trial) > rank(reference)
    return {"tried": True, "helped": helped, "trial": trial.name, "score": trial.val_score,
            "reference": reference.name, "reference_score": reference.val_score,
            "measured": f"{trial.name}: {trial.val_score:.4f} against {reference.name}: {reference.val_score:.4f} "
                        f"({'helped' if helped else 'did not help'})"}


def _measure(remedy: str, search: dict[str, Any], data: Dataset, baseline: Trial) -> dict[str, Any]:
    reference = search["ablation"][0] if search.get("ablation") else None
    if search.get("settled") and remedy not in ("early stopping", "more data", "shrink the network", "bigger model"):
        return {"tried": False, "helped": None, "measured": f"not tried: {search['settled']}"}
    if remedy in ("augmentation", "dropout", "L2", "batch norm", "weight noise", "class weights", "mixup",
                  "skip connections", "cosine schedule"):
        return _result(_ablation_row(search, remedy), reference, remedy)
    if remedy == "weight averaging":  # the better of SWA and the snapshot ensemble
        rows = [row for row in (_ablation_row(search, "SWA"), _ablation_row(search, "snapshot ensemble")) if row]
        return _result(max(rows, key=rank, default=None), reference, "weight averaging")
    if remedy in ("shrink the network", "bigger model"):
        # scored ones: a recipe trained once without a score (phases.trained_once) measured no size against another
        done = [t for t in search.get("architecture", []) if t.status == "done" and not unscored(t)]
        own = next((t for t in done if t.recipe.get("model", {}).get("name") == baseline.recipe["model"]["name"]
                    and t.parameters == baseline.parameters), None)
        smaller = remedy == "shrink the network"
        others = [t for t in done if (t.parameters < baseline.parameters) == smaller and t is not own
                  and t.parameters != baseline.parameters]
        # without the baseline network's own search trial, its diagnosis run (last epoch, no early stopping) is
        # the reference: a weaker one, and the row says so
        return _result(max(others, key=rank, default=None), own or baseline, "a network of another size")
    if remedy == "early stopping":
        history = baseline.history
        key = "val_accuracy" if data.task == "classification" else "val_loss"
        if history is None or key not in history.keys():
            return {"tried": False, "helped": None, "measured": "no validation curve to read"}
        monitor = history.monitor or "val_loss"
        best_epoch, values = refit_epochs(history, monitor), history[key]
        at_best, at_last = values[best_epoch - 1], values[-1]
        helped = at_best > at_last if data.task == "classification" else at_best < at_last
        return {"tried": True, "helped": helped, "score": at_best, "reference_score": at_last,
                "measured": f"baseline {key} {at_best:.4f} at the epoch early stopping chose by {monitor} "
                            f"(epoch {best_epoch}) "
                            f"against {at_last:.4f} at its last ({len(history)}); every later training stops early"}
    if remedy == "train longer":
        longer = [t for t in search.get("train_longer", []) if t.status == "done"]
        return _result(longer[0] if longer else None, search.get("chosen"), "training longer")
    if remedy == "less regularization":
        rows = [r for r in search.get("lambda_cv", {}).get("rows", []) if r["mean"] is not None]
        if len(rows) < 2:
            return {"tried": False, "helped": None, "measured": "the λ grid did not fit the budget"}
        low, high = rows[0], rows[-1]
        return {"tried": True, "helped": low["mean"] >= high["mean"], "score": low["mean"],
                "reference_score": high["mean"],
                "measured": f"λ={low['lam']:g}: {low['mean']:.4f} against λ={high['lam']:g}: {high['mean']:.4f}"}
    if remedy == "more data":
        curve = search.get("learning_curve")
        if not curve:
            return {"tried": False, "helped": None, "measured": "no learning curve (not in the plan or the budget)"}
        return {"tried": True, "helped": None, "measured": curve.get("note", "")}
    return {"tried": False, "helped": None, "measured": "the search has no trial for this suggestion"}
