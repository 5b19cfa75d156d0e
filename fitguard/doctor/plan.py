"""What the diagnosis decides: which search phases run, in what order, with what share of the budget, and why.

The verdict of the baseline (``fitguard.diagnose.verdict``) is a hypothesis about what limits the model; the
search spends its time testing that hypothesis first:

- **underfit** (the model cannot fit its own training rows): capacity first -- the architecture phase tries the
  biggest networks first, then the chosen network trained three times longer, then *less* regularization (a λ grid
  ending where the default grid starts), and an ablation limited to remedies that add no regularization (batch norm,
  skip connections, a cosine schedule, and augmentation for images, which multiplies the data); the study tunes the
  learning rate and a small λ.
- **overfit**: regularize, augment and shrink -- architectures in the usual order, small ones included (of those
  within ε of the best, the lowest validation loss is kept; a complete recipe tied with early stopping, see
  :func:`fitguard.doctor.phases.settle_tie`), the full λ grid, every regularizing remedy in the
  ablation, a learning curve that estimates how many more rows would close half the gap, then the study over λ,
  dropout and the learning rate.
- **good**: the same phases as overfit, without the learning curve (there is no gap to close).

Whatever the verdict, **skewed classes** (the largest training class has at least ``SKEW_RATIO`` times the rows of
the smallest) add a class-weighted loss to the ablation, tried first (see :data:`SKEW_RATIO` for why 3).

``until`` is the cumulative share of the search's time (and trials) at which a phase stops starting trainings;
the study always takes what is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

KINDS = ("underfit", "overfit", "good")
#: the ablation's second dropout for MLPs: Srivastava et al.'s (JMLR 2014) 20% of the inputs and 50% of the hidden
#: units. Why beside ``dropout 0.25`` (``benchmarks/input_dropout.py``, ``benchmarks/reference/input_dropout_cpu.json``:
#: 5 dev tables, 3 seeds, each network trained the doctor's way and refit on train + val): on mlbench's DNA (180
#: binary columns, 1,000 labelled rows, where the RBF SVC leads every network) validation ranked it first for the
#: 64- and 256-unit MLPs on every seed, and it scored +0.7 and +0.4 points on test (by row p = 0.02 and 0.14), where
#: 0.25 moved them by +0.1; on Vowel it costs 4-12 points, and validation never chose it there; elsewhere
#: validation's choice moved by -0.8 to +0.4 points, none distinguishable. In the doctor at 60 s (3 seeds each) four
#: dev tables rose by +0.2 to +1.6 points (breast_cancer 10 rows vs 2, p = 0.04). Offered to every built-in MLP, an
#: image's too: Srivastava et al. measured it on MNIST's. An alternative to ``dropout 0.25``: a combination takes one
#: of the two. The name has no comma: the report joins remedy names with commas.
INPUT_DROPOUT = "dropout 0.5 (inputs 0.2)"
#: every single remedy the ablation knows, in the order it tries them
#: (the regularization cocktail's -- Kadra et al., NeurIPS 2021 -- come after the usual remedies, so that a short
#: budget spends itself on those first; Lookahead and an EMA of the weights are not searched: alone on the remedies
#: benchmark they moved no data set's accuracy, see ``benchmarks/reference/remedies_*_cpu.json``)
REMEDIES = ("L2", "dropout 0.25", INPUT_DROPOUT, "batch norm", "augmentation", "augmentation with flips",
            "augmentation with cutout", "weight noise", "mixup", "skip connections", "cosine schedule",
            "snapshot ensemble", "SWA", "cutmix", "FGSM")
#: the share of a cross-validated search's time (and trials) kept for scoring its finalists again on a second fold
#: split (``--confirm``): on the small data sets that are cross-validated, a finalist's k trainings take seconds
CONFIRM_SHARE = 0.1
#: the remedy the plan adds, first, when classes are skewed (a loss weighted n / (classes * count) per class)
CLASS_WEIGHTS = "class weights"
#: largest / smallest training class count from which classes count as skewed and class weights are tried.
#: Why 3: (1) from 3:1 on, accuracy misleads -- a model that always answers the big class of a 3:1 binary problem
#: scores 75% accuracy and 50% balanced accuracy, a 25-point gap the test figures must then show; (2) balanced
#: weights move each class's logit by the log of its weight ratio, log 3 = 1.1 nats at 3:1, about the margin of an
#: uncertain row, so below it the remedy changes few decisions and would spend a training for little; (3) the
#: usual near-balanced tables stay below it (digits 1.1, wine 1.5, breast cancer 1.7) and their ablation is not
#: lengthened, while the skewed ones people bring (fraud, churn, rare diagnoses: 5:1 to 100:1) are far above it.
SKEW_RATIO = 3.0
#: remedies that add no regularization: the only ones an underfit model is given
#: (skip connections and a cosine schedule help a network fit -- deeper signal paths, a learning rate that settles)
CAPACITY_NEUTRAL = ("batch norm", "augmentation", "augmentation with flips", "augmentation with cutout",
                    "skip connections", "cosine schedule")
#: what the plan proposes for a verdict beside the verdict's own remedies (the regularization cocktail's), each
#: measured by the ablation's rows of that name
PROPOSALS: dict[str, list[tuple[str, str]]] = {
    "overfit": [("weight averaging", "the gap is variance: an average of the weights along the run (SWA) or of "
                                     "cyclic snapshots' predictions lowers it without costing capacity")],
    "underfit": [("skip connections", "a path around each layer lets a network of the same size fit more easily"),
                 ("cosine schedule", "a learning rate that decays to zero lets the weights settle in a minimum")],
}
DEFAULT_LAMBDAS = (1e-5, 1e-4, 1e-3, 1e-2)
SMALL_LAMBDAS = (1e-7, 1e-6, 1e-5, 1e-4)


@dataclass(frozen=True)
class Step:
    """One phase of the search, the share of the budget it may use (cumulative), and why it is there.

    Args:
        phase: the phase's name.
        until: the cumulative share of the budget at which it stops starting trainings.
        why: why the plan runs it.
    """

    phase: str
    until: float
    why: str


@dataclass(frozen=True)
class Plan:
    """The search the verdict asks for (see the module docstring).

    Args:
        kind: the verdict it answers: "underfit", "overfit" or "good".
        steps: the phases in order.
        bigger_first: whether larger networks come before regularization.
        lambdas: the L2 strengths the cross-validation tries.
        remedies: the remedies the ablation tries, in order.
        study_dropout: whether the study searches dropout.
        study_lambda: the study's range of L2 strengths.
        class_skew: largest / smallest training class count (classification with two or more classes); None
            (default) otherwise.
    """

    kind: str
    steps: tuple[Step, ...]
    bigger_first: bool
    lambdas: tuple[float, ...]
    remedies: tuple[str, ...]
    study_dropout: bool
    study_lambda: tuple[float, float]
    #: largest / smallest training class count (classification with two or more classes), else None
    class_skew: float | None = None

    def phases(self) -> list[str]:
        """The phases' names, in order."""
        return [step.phase for step in self.steps]

    def proposals(self, first_priority: int = 1) -> list[dict[str, Any]]:
        """The remedies the plan proposes beside the verdict's, as recommendation rows (``remedy``, ``reason``,
        ``priority`` from ``first_priority``): class weights when the classes are skewed, then the cocktail's
        remedies for the verdict (:data:`PROPOSALS`).

        Args:
            first_priority: the priority the first proposal gets (default 1).
        """
        rows: list[tuple[str, str]] = []
        if CLASS_WEIGHTS in self.remedies:
            rows.append((CLASS_WEIGHTS, f"skewed classes: the largest has {self.class_skew:.1f}x the training rows of "
                                        f"the smallest (>= {SKEW_RATIO:g}); a loss weighted n / (classes · count) per "
                                        "class"))
        rows += PROPOSALS.get(self.kind, [])
        return [{"remedy": remedy, "reason": reason, "priority": priority}
                for priority, (remedy, reason) in enumerate(rows, start=first_priority)]

    def share(self, phase: str) -> float:
        """The cumulative share at which ``phase`` stops starting trainings.

        Args:
            phase: one of the plan's phases.
        """
        return next(step.until for step in self.steps if step.phase == phase)

    def to_dict(self) -> dict[str, object]:
        """The plan as plain data (the summary's ``plan`` section starts from it)."""
        return asdict(self)


def class_skew(counts: Sequence[int]) -> float | None:
    """Largest / smallest count among the classes that have rows; None with fewer than two such classes.

    Args:
        counts: rows per class (e.g. :func:`fitguard.regularize.class_counts` of the training labels).

    Example:
        >>> class_skew([90, 10, 30]), class_skew([5, 0]), class_skew([])
        (9.0, None, None)
    """
    present = [int(c) for c in counts if c > 0]
    return max(present) / min(present) if len(present) >= 2 else None


def plan_for(kind: str, *, class_counts: Sequence[int] | None = None, recommended: Sequence[str] = (),
             confirm: int = 0) -> Plan:
    """The search for a verdict ``kind`` (underfit, overfit or good).

    The ablation tries the remedies the verdict recommends first, in the verdict's order (``augmentation`` first for
    a small image set: its three variants), then the plan's others in :data:`REMEDIES` order; class weights, when
    the classes are skewed, come before all.

    Args:
        kind: the baseline's verdict: "underfit", "overfit" or "good".
        class_counts: training rows per class (classification); when the classes are skewed (largest / smallest
            >= :data:`SKEW_RATIO`) the ablation tries class weights first. None (default): no class weights.
        recommended: the verdict's remedies, best first (``Verdict.recommendations``' names: "augmentation",
            "dropout", "L2"...); a remedy of the plan whose name is one of them, or starts with one and a space,
            moves forward (default none).
        confirm: score this many of the best recipes again on a second fold split, in the last
            :data:`CONFIRM_SHARE` of the search (a cross-validated search's ``--confirm``); 0 (default): no
            confirmation.

    Raises:
        ValueError: an unknown ``kind``.

    Example:
        >>> plan = plan_for("underfit")
        >>> plan.phases(), plan.bigger_first
        (['architecture', 'train_longer', 'lambda_cv', 'ablation', 'study'], True)
        >>> plan.remedies[:4]
        ('batch norm', 'augmentation', 'augmentation with flips', 'augmentation with cutout')
        >>> plan.remedies[4:]
        ('skip connections', 'cosine schedule')
        >>> plan_for("overfit").phases()
        ['architecture', 'lambda_cv', 'ablation', 'learning_curve', 'study']
        >>> [(s.phase, s.until) for s in plan_for("good", confirm=3).steps[-2:]]
        [('study', 0.9), ('confirm', 1.0)]
        >>> plan_for("good", class_counts=[300, 40]).remedies[:2]
        ('class weights', 'L2')
        >>> recommended = plan_for("overfit", recommended=["augmentation", "shrink the network", "dropout"]).remedies
        >>> recommended[:3]
        ('augmentation', 'augmentation with flips', 'augmentation with cutout')
        >>> recommended[3:6]
        ('dropout 0.25', 'dropout 0.5 (inputs 0.2)', 'L2')
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {', '.join(KINDS)}, got {kind!r}")
    plan = _plan(kind)
    if confirm:
        study = plan.steps[-1]
        plan = replace(plan, steps=(*plan.steps[:-1], replace(study, until=1.0 - CONFIRM_SHARE), Step(
            "confirm", 1.0, f"the {confirm} best recipes scored again on a second fold split: the search's best score "
                            "is the largest of many noisy ones, so it flatters the recipe it chose; the one best over "
                            "both splits is kept")))
    first = [r for name in recommended for r in plan.remedies if r == name or r.startswith(f"{name} ")]
    if first:
        plan = replace(plan, remedies=tuple(dict.fromkeys([*first, *plan.remedies])))
    skew = class_skew(class_counts) if class_counts is not None else None
    if skew is None:
        return plan
    plan = replace(plan, class_skew=skew)
    if skew < SKEW_RATIO:
        return plan
    steps = tuple(replace(s, why=f"{s.why}; class weights first: the largest class has {skew:.1f}x the rows of the "
                                 "smallest") if s.phase == "ablation" else s for s in plan.steps)
    return replace(plan, steps=steps, remedies=(CLASS_WEIGHTS, *plan.remedies))


def _plan(kind: str) -> Plan:
    if kind == "underfit":
        return Plan(kind, (
            Step("architecture", 0.45, "bigger model: the baseline does not fit its own training rows, so capacity "
                                       "comes first (biggest candidates first)"),
            Step("train_longer", 0.55, "train longer: three times the epochs and twice the patience"),
            Step("lambda_cv", 0.65, "less regularization: λ from 1e-7, below the usual grid"),
            Step("ablation", 0.85, "only remedies that add no regularization (batch norm, skip connections, a cosine "
                                   "schedule, augmentation for images)"),
            Step("study", 1.0, "the learning rate and a small λ around the best recipe"),
        ), True, SMALL_LAMBDAS, CAPACITY_NEUTRAL, False, (1e-8, 1e-3))
    steps = [
        Step("architecture", 0.35, "the network family that fits the data, at several sizes, small ones included "
                                   "(shrink the network); of those within ε of the best (on a table, one "
                                   "standard error of the best accuracy: --one-se), the lowest validation "
                                   "loss is kept (a complete recipe tied with an early-stopped network: the one "
                                   "validation can tell is better, else the recipe)"),
        Step("lambda_cv", 0.55, "regularize: the L2 strength, on validation data (cross-validated on small data)"),
        Step("ablation", 0.8, "each regularizing remedy and augmentation alone (the cocktail's weight averages, "
                              "snapshot ensembles, cutmix and FGSM last), then the helpful ones combined"),
    ]
    if kind == "overfit":
        steps.append(Step("learning_curve", 0.85, "more data: how many more rows would close half the gap"))
    else:
        steps[-1] = Step("ablation", 0.85, steps[-1].why)
    steps.append(Step("study", 1.0, "λ, dropout and the learning rate around the best recipe"))
    return Plan(kind, tuple(steps), False, DEFAULT_LAMBDAS, REMEDIES, True, (1e-6, 1e-1))
