"""Underfit, good or overfit — with the evidence and ranked remedies, each with its reason in numbers.

Measures (``gap`` is ``val_loss - loss`` at the last epoch):

- ``train_error``: ``1 - accuracy`` (classification) or ``1 - r2`` (regression) at the last epoch; when the
  history has neither, the fraction of the first training loss still left, ``loss[-1] / loss[0]``.
- ``accuracy gap``: ``accuracy - val_accuracy`` at the last epoch; without accuracy, the ratio
  ``val_loss / loss``. The Trainer's training accuracy is the running mean over the epoch's batches with dropout
  and augmentation on, so it understates the fit and the gap errs small, never large.

Kind, first rule that fires:

1. **overfit** — ``overfitting_onset`` finds an onset (validation loss rising while training loss falls).
2. **overfit** — no onset yet, but the model memorizes: its training loss fell to at most ``memorized``
   (1%) of the first epoch's, and ``accuracy - val_accuracy > max_accuracy_gap`` (0.10) or, without accuracy,
   ``val_loss > max_loss_ratio * loss`` (3x).
3. **underfit** — ``train_error > max_train_error`` (0.10): the model cannot even fit its training data. When
   the gap is above its limit (rule 4) as well, the evidence says so and ``more data`` closes the remedies; the
   kind stays underfit, because a model that cannot fit its data gives a regularizer nothing to trade, and a
   bigger or longer-trained model changes the gap anyway.
4. **overfit** — the gap is above its limit: ``accuracy - val_accuracy > good_gap`` (0.05), or, without
   accuracy, ``val_loss / loss > good_loss_ratio`` (1.5). With little data a regularized model keeps such a gap
   without memorizing (its penalty holds the training loss up): it fits its training rows better than new ones
   all the same.
5. **good** — otherwise.

Why ``good_gap = 0.05``. Two numbers bound it. The noise: a validation accuracy ``p`` on ``n_val`` rows has
standard error ``sqrt(p (1 - p) / n_val)`` (``p`` kept half a row from 0 and 1: 36 rows all right are not a
certainty); at p = 0.9 that is 0.030 on 100 rows, 0.021 on 200 and 0.0095 on
1,000, and 2 standard errors reach 0.05 at 144 rows (p = 0.9) or 400 rows (p = 0.5, the worst case). A limit
under 2 standard errors would call validation noise overfitting, so with ``n_val`` the limit is
``max(good_gap, 2 * SE)``: 18 validation rows (one row moves accuracy by 5.6 points) cannot convict on their
own. The effect: regularization trades training fit for validation fit, so what it can recover is bounded by
the gap, and what the remedies recover here is a few points — the doctor's best recipe gains 1.7 to 5.6 points
over its baseline on digits and Fashion-MNIST (benchmarks/MEASUREMENTS.md; MNIST-1D's 36 points is an architecture
change), and no single remedy in ``benchmarks/reference/remedies_cpu.json`` moves digits accuracy by more than 0.8
points, with a seed-to-seed sd of 0.6 to 2.4 points. Under 5 points the gap is the size of those gains and their
noise, and a search for it would chase noise; above it there is room for what the remedies are measured to win.

Why ``good_loss_ratio = 1.5``. Least squares with ``k`` effective parameters on ``n`` rows has expected training
error ``σ²(1 - k/n)`` and expected error on new rows ``σ²(1 + k/n)`` (Mallows' Cp, Efron's optimism), a ratio of
``(1 + k/n) / (1 - k/n)``: 1.5 is ``k/n = 0.2``, twice the loosest rule of thumb (10 rows per parameter,
ratio 1.22), so a run above it is well into memorizing, not on the border. With Gaussian residuals a mean of
``n_val`` squared errors has relative standard error ``sqrt(2 / n_val)``, so with ``n_val`` the limit is
``max(good_loss_ratio, 1 + 2 * sqrt(2 / n_val))``, which is 1.5 at 32 rows.

Remedies for overfit, in this order (priority 1 = try first):

a. ``augmentation`` when ``kind_of_data == "image"`` and ``n_train < small_data`` (10,000): more (virtual) data
   is the remedy that costs no capacity.
b. ``shrink the network`` then ``dropout`` when ``n_params / n_train > params_per_sample`` (10).
c. ``L2`` when a layer of ``weight_stats`` has large weights (``large_to_init >= large_weight_ratio``, 3x the
   default init bound) of mixed sign (``large_sign_balance >= 0.5``): the article's symptom that L2 cures.
d. ``early stopping`` when an onset was found: restore the weights of the onset epoch.
e. ``L2`` (when c did not fire), ``dropout`` (when b did not fire), then ``more data``, as generic fallbacks.

Remedies for underfit: ``train longer`` first when the training loss is still falling over the last quarter of
the epochs (Mann–Kendall, p < 0.05, and by at least 1% of the loss); ``less regularization`` when the history
logs a penalty > 0; then ``bigger model``; then ``more data`` when the gap is above its limit too. A good fit
gets no remedies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from fitguard._validation import check_int
from fitguard.diagnose.onset import Onset, mann_kendall, overfitting_onset
from fitguard.diagnose.significance import accuracy_standard_error
from fitguard.diagnose.weights import LayerWeights
from fitguard.train.history import History

KINDS_OF_DATA = ("table", "signal", "image")


@dataclass(frozen=True)
class Recommendation:
    """One remedy, why it is proposed, and its rank (1 = try first).

    Args:
        remedy: The remedy's name, e.g. ``"L2"``, ``"dropout"``, ``"more data"``.
        reason: Why it is proposed, with the numbers that triggered it.
        priority: Its rank among the verdict's remedies, from 1.
    """

    remedy: str
    reason: str
    priority: int


@dataclass(frozen=True)
class Verdict:
    """The diagnosis: kind, where overfitting began, the last-epoch gap, the evidence and the remedies.

    Args:
        kind: ``"overfit"``, ``"underfit"`` or ``"good"`` (rules in the module text).
        onset_epoch: The last good epoch when an onset was found; None otherwise.
        gap: ``val_loss - loss`` at the last epoch.
        evidence: One sentence per finding, with its numbers.
        recommendations: The remedies, best first (empty for a good fit).
        onset: The :class:`Onset` found, or None (default).
    """

    kind: str
    onset_epoch: int | None
    gap: float
    evidence: list[str]
    recommendations: list[Recommendation]
    onset: Onset | None = field(default=None, repr=False)


def _train_error(history: History) -> tuple[float, str]:
    keys = history.keys()
    if "accuracy" in keys:
        accuracy = history["accuracy"][-1]
        return 1.0 - accuracy, f"training accuracy {accuracy:.3f} (error {1.0 - accuracy:.3f})"
    if "r2" in keys:
        r2 = history["r2"][-1]
        return 1.0 - r2, f"training R² {r2:.3f} (unexplained {1.0 - r2:.3f})"
    losses = history["loss"]
    left = losses[-1] / losses[0] if losses[0] > 0 else 0.0
    return left, f"training loss fell from {losses[0]:.4g} to {losses[-1]:.4g} ({left:.1%} of it left)"


def _still_falling(values: list[float]) -> tuple[bool, float]:
    """A significant downward trend over the last quarter that still removes >= 1% of the loss."""
    tail = values[-max(3, len(values) // 4) :]
    if len(tail) < 3:
        return False, 0.0
    fall_rate, p_falling = mann_kendall([-v for v in tail])
    return p_falling < 0.05 and tail[0] - tail[-1] >= 0.01 * abs(tail[-1]), fall_rate


def _gap_check(history: History, monitor: str, n_val: int | None, good_gap: float,
               good_loss_ratio: float) -> tuple[bool, str] | None:
    """Rule 4: is the train–val gap above its limit, and the evidence line that says so (None: not measurable)."""
    keys = history.keys()
    if "accuracy" in keys and "val_accuracy" in keys:
        val_accuracy = history["val_accuracy"][-1]
        measured, what, limit, why = history["accuracy"][-1] - val_accuracy, "accuracy gap", good_gap, "good_gap"
        if n_val is not None and math.isfinite(val_accuracy):  # a History fills a metric an epoch lacks with NaN
            noise = 2 * accuracy_standard_error(val_accuracy, n_val)
            if noise > good_gap:
                limit, why = noise, f"2 standard errors of a validation accuracy of {val_accuracy:.3f} on {n_val} rows"
            else:
                why = f"good_gap; 2 standard errors on {n_val} validation rows are {noise:.3f}"
        above = measured > limit
        return above, f"{what} {measured:.3f} {'above' if above else 'within'} the limit {limit:.3f} ({why})"
    loss = history["loss"][-1]
    if not loss > 0:
        return None
    measured, limit, why = history[monitor][-1] / loss, good_loss_ratio, "good_loss_ratio"
    if n_val is not None:
        noise = 1 + 2 * math.sqrt(2 / n_val)
        if noise > good_loss_ratio:
            limit, why = noise, f"2 standard errors of a mean squared error on {n_val} rows"
        else:
            why = f"good_loss_ratio; 2 standard errors on {n_val} validation rows give {noise:.2f}"
    above = measured > limit
    return above, (f"{monitor} is {measured:.2f}x the training loss, {'above' if above else 'within'} the limit "
                   f"{limit:.2f} ({why})")


def verdict(
    history: History,
    *,
    n_train: int | None = None,
    n_params: int | None = None,
    n_val: int | None = None,
    kind_of_data: str | None = None,
    weight_stats: Sequence[LayerWeights] | None = None,
    monitor: str = "val_loss",
    max_train_error: float = 0.10,
    good_gap: float = 0.05,
    good_loss_ratio: float = 1.5,
    max_accuracy_gap: float = 0.10,
    max_loss_ratio: float = 3.0,
    memorized: float = 0.01,
    small_data: int = 10_000,
    params_per_sample: float = 10.0,
    large_weight_ratio: float = 3.0,
) -> Verdict:
    """Diagnose one run from its ``history`` (and what is known of the data and model), see the module rules.

    Args:
        history: the run, at least 2 epochs logging ``loss`` and ``monitor`` (plus ``accuracy`` and
            ``val_accuracy``, or ``r2``, when the task has them).
        n_train: training rows (None: unknown); sizes the augmentation and shrink advice.
        n_params: trainable parameters (None: unknown).
        n_val: validation rows (None: unknown); raises the gap limit to 2 standard errors of the validation
            score when that is larger, so a small validation set does not call noise overfitting.
        kind_of_data: "table", "signal", "image" or None.
        weight_stats: per-layer weight statistics (``weight_stats(model)``) for the L2 advice, or None.
        monitor: the validation loss the onset and ratios read (default "val_loss").
        max_train_error: training error above which the run underfits (default 0.10).
        good_gap: largest ``accuracy - val_accuracy`` a good run keeps (default 0.05; module docstring: why).
        good_loss_ratio: largest ``val_loss / loss`` a good run keeps without accuracy (default 1.5).
        max_accuracy_gap: accuracy gap that, with memorization, means overfit (default 0.10).
        max_loss_ratio: loss ratio that, with memorization, means overfit (default 3.0).
        memorized: training loss, as a share of the first epoch's, at or below which the model memorized (0.01).
        small_data: training rows under which images get augmentation first (default 10,000).
        params_per_sample: parameters per training row above which the network is too big (default 10).
        large_weight_ratio: largest weights over the init bound that count as large (default 3.0).

    Raises:
        ValueError: an argument out of range, or a history without ``loss``/``monitor`` or under 2 epochs.

    Example:
        >>> rows = [{"epoch": e, "loss": 1 / e, "val_loss": 1 / e + 0.02 * max(0, e - 10)} for e in range(1, 41)]
        >>> v = verdict(History(rows), n_train=100, n_params=50_000, kind_of_data="image")
        >>> v.kind, v.onset_epoch, [r.remedy for r in v.recommendations][:3]
        ('overfit', 10, ['augmentation', 'shrink the network', 'dropout'])
        >>> flat = [{"epoch": e, "loss": 0.3, "val_loss": 0.5, "accuracy": 0.97, "val_accuracy": 0.82} for e in (1, 2)]
        >>> verdict(History(flat)).evidence[-1]
        'accuracy gap 0.150 above the limit 0.050 (good_gap)'
    """
    if kind_of_data is not None and kind_of_data not in KINDS_OF_DATA:
        raise ValueError(f"`kind_of_data` must be one of {KINDS_OF_DATA} or None, got {kind_of_data!r}")
    for name, value in (("n_train", n_train), ("n_params", n_params), ("n_val", n_val)):
        check_int(name, value, low=1, none_ok=True)
    if not 0.0 <= good_gap < 1.0:
        raise ValueError(f"`good_gap` must be in [0, 1), got {good_gap!r}")
    if not good_loss_ratio >= 1.0:
        raise ValueError(f"`good_loss_ratio` must be >= 1, got {good_loss_ratio!r}")
    for name in ("loss", monitor):
        if name not in history.keys():
            raise ValueError(f"`history` must log {name!r} to be diagnosed; "
                             f"it has: {', '.join(history.keys()) or 'nothing'}")
    if len(history) < 2:
        raise ValueError(f"`history` must hold at least 2 epochs to be diagnosed, got {len(history)}")
    onset = overfitting_onset(history, monitor=monitor)
    gap = history[monitor][-1] - history["loss"][-1]
    train_error, train_text = _train_error(history)
    evidence = [f"generalization gap at the last epoch: {monitor} - loss = {gap:+.4g}", train_text]
    keys = history.keys()
    losses = history["loss"]
    train_left = losses[-1] / losses[0] if losses[0] > 0 else 0.0
    if onset is not None:
        evidence.insert(0, f"overfitting from epoch {onset.epoch} (confidence {onset.confidence:.2f}): "
                           f"{onset.reason()}")
    gap_check = _gap_check(history, monitor, n_val, good_gap, good_loss_ratio)
    if gap_check is not None:
        evidence.append(gap_check[1])
    gap_too_large = gap_check is not None and gap_check[0]
    if "accuracy" in keys and "val_accuracy" in keys:
        memorizes = history["accuracy"][-1] - history["val_accuracy"][-1] > max_accuracy_gap
        how_wide = f"an accuracy gap above {max_accuracy_gap:g}"
    else:
        memorizes = losses[-1] > 0 and history[monitor][-1] / losses[-1] > max_loss_ratio
        how_wide = f"{monitor} above {max_loss_ratio:g}x the training loss"
    memorizes = memorizes and train_left <= memorized
    if memorizes:
        evidence.append(f"training loss is {train_left:.2%} of its first value (<= {memorized:.0%}) with {how_wide}: "
                        "memorized")
    if onset is not None or memorizes:
        kind = "overfit"
    elif train_error > max_train_error:
        kind = "underfit"
        evidence.append(f"training error {train_error:.3f} > {max_train_error}: the model does not fit its own data")
        if gap_too_large:
            evidence.append("underfit and a gap above its limit at once: bias first, then measure the gap again")
    elif gap_too_large:
        kind = "overfit"
    else:
        kind = "good"
    if kind == "overfit":
        remedies = _overfit_remedies(onset, n_train, n_params, kind_of_data, weight_stats, small_data,
                                     params_per_sample, large_weight_ratio)
    elif kind == "underfit":
        remedies = _underfit_remedies(history, train_error)
        if gap_too_large:
            remedies.append(("more data", "the gap is above its limit too: more rows lower the variance "
                                          "without adding bias"))
    else:
        remedies = []
    recommendations = [Recommendation(remedy, reason, rank) for rank, (remedy, reason) in enumerate(remedies, start=1)]
    return Verdict(kind, onset.epoch if onset else None, gap, evidence, recommendations, onset)


def _overfit_remedies(onset: Onset | None, n_train: int | None, n_params: int | None, kind_of_data: str | None,
                      weight_stats: Sequence[LayerWeights] | None, small_data: int, params_per_sample: float,
                      large_weight_ratio: float) -> list[tuple[str, str]]:
    remedies: list[tuple[str, str]] = []
    if kind_of_data == "image" and n_train is not None and n_train < small_data:
        remedies.append(("augmentation", f"images and only {n_train} training samples (< {small_data}): "
                                         "rotations, flips and shifts multiply the data without costing capacity"))
    if n_params is not None and n_train is not None and n_params / n_train > params_per_sample:
        why = (f"{n_params} parameters for {n_train} samples "
               f"({n_params / n_train:.0f} per sample > {params_per_sample:g})")
        remedies.append(("shrink the network", f"{why}: fewer, narrower layers leave less room to memorize"))
        remedies.append(("dropout", f"{why}: dropout keeps the capacity but stops units from co-adapting"))
    suspects = [s for s in weight_stats or () if s.large_to_init >= large_weight_ratio and s.large_sign_balance >= 0.5]
    if suspects:
        worst = max(suspects, key=lambda s: s.large_to_init)
        remedies.append(("L2", f"layer {worst.name!r}: its largest weights are {worst.large_to_init:.1f}x the init "
                               f"bound with mixed signs (balance {worst.large_sign_balance:.2f}): weights cancelling "
                               "each other, which an L2 penalty shrinks"))
    if onset is not None:
        remedies.append(("early stopping", f"validation loss was lowest at epoch {onset.epoch} "
                                           f"({onset.min_val_loss:.4g}); stop there and restore those weights"))
    named = {remedy for remedy, _ in remedies}
    if "L2" not in named:
        remedies.append(("L2", "a weight penalty is the cheapest general remedy; tune λ by cross-validation"))
    if "dropout" not in named:
        remedies.append(("dropout", "randomly dropping units regularizes wide layers"))
    remedies.append(("more data", "variance falls as the training set grows; a learning curve shows how much"))
    return remedies


def _underfit_remedies(history: History, train_error: float) -> list[tuple[str, str]]:
    remedies: list[tuple[str, str]] = []
    falling, slope = _still_falling(history["loss"])
    if falling:
        remedies.append(("train longer", f"training loss still falls by {slope:.3g}/epoch over the last quarter "
                                         f"of the run, which ended at epoch {len(history)}"))
    if "penalty" in history.keys() and history["penalty"][-1] > 0:
        remedies.append(("less regularization", f"the penalty term is {history['penalty'][-1]:.4g} while the "
                                                f"training error is {train_error:.3f}: λ holds the model back"))
    remedies.append(("bigger model", f"training error {train_error:.3f}: more width or depth lowers the bias"))
    return remedies
