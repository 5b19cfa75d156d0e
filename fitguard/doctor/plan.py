"""What the diagnosis decides: which search phases run, in what order, with what share of the budget, and why.

The verdict of the baseline (``fitguard.diagnose.verdict``) is a hypothesis about what limits the model; the
search spends its time testing that hypothesis first:

- **underfit** (the model cannot fit its own training rows): capacity first -- the architecture phase tries the
  biggest networks first, then the chosen network trained three times longer, then *less* regularization (a λ grid
  ending where the default grid starts), and an ablation limited to remedies that add no regularization (batch norm,
  and augmentation for images, which multiplies the data); the study tunes the learning rate and a small λ.
- **overfit**: regularize, augment and shrink -- architectures in the usual order (the smallest within ε of the
  best is kept, so a smaller network wins ties), the full λ grid, every regularizing remedy in the ablation, a
  learning curve that estimates how many more rows would close half the gap, then the study over λ, dropout and
  the learning rate.
- **good**: the same phases as overfit, without the learning curve (there is no gap to close).

``until`` is the cumulative share of the search's time (and trials) at which a phase stops starting trainings;
the study always takes what is left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

KINDS = ("underfit", "overfit", "good")
#: every single remedy the ablation knows, in the order it tries them
REMEDIES = ("L2", "dropout 0.25", "batch norm", "augmentation", "augmentation with flips", "weight noise")
#: remedies that add no regularization: the only ones an underfit model is given
CAPACITY_NEUTRAL = ("batch norm", "augmentation", "augmentation with flips")
DEFAULT_LAMBDAS = (1e-5, 1e-4, 1e-3, 1e-2)
SMALL_LAMBDAS = (1e-7, 1e-6, 1e-5, 1e-4)


@dataclass(frozen=True)
class Step:
    """One phase of the search, the share of the budget it may use (cumulative), and why it is there."""

    phase: str
    until: float
    why: str


@dataclass(frozen=True)
class Plan:
    """The search the verdict asks for (see the module docstring)."""

    kind: str
    steps: tuple[Step, ...]
    bigger_first: bool
    lambdas: tuple[float, ...]
    remedies: tuple[str, ...]
    study_dropout: bool
    study_lambda: tuple[float, float]

    def phases(self) -> list[str]:
        return [step.phase for step in self.steps]

    def share(self, phase: str) -> float:
        """The cumulative share at which ``phase`` stops starting trainings."""
        return next(step.until for step in self.steps if step.phase == phase)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def plan_for(kind: str) -> Plan:
    """The search for a verdict ``kind`` (underfit, overfit or good).

    Example:
        >>> plan = plan_for("underfit")
        >>> plan.phases(), plan.bigger_first, plan.remedies
        (['architecture', 'train_longer', 'lambda_cv', 'ablation', 'study'], True, ('batch norm', 'augmentation', 'augmentation with flips'))
        >>> plan_for("overfit").phases()
        ['architecture', 'lambda_cv', 'ablation', 'learning_curve', 'study']
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "underfit":
        return Plan(kind, (
            Step("architecture", 0.45, "bigger model: the baseline does not fit its own training rows, so capacity "
                                       "comes first (biggest candidates first)"),
            Step("train_longer", 0.55, "train longer: three times the epochs and twice the patience"),
            Step("lambda_cv", 0.65, "less regularization: λ from 1e-7, below the usual grid"),
            Step("ablation", 0.85, "only remedies that add no regularization (batch norm, augmentation for images)"),
            Step("study", 1.0, "the learning rate and a small λ around the best recipe"),
        ), True, SMALL_LAMBDAS, CAPACITY_NEUTRAL, False, (1e-8, 1e-3))
    steps = [
        Step("architecture", 0.35, "the network family that fits the data, at several sizes; the smallest within "
                                   "ε of the best is kept (shrink the network)"),
        Step("lambda_cv", 0.55, "regularize: the L2 strength by cross-validation"),
        Step("ablation", 0.8, "each regularizing remedy and augmentation alone, then the helpful ones combined"),
    ]
    if kind == "overfit":
        steps.append(Step("learning_curve", 0.85, "more data: how many more rows would close half the gap"))
    else:
        steps[-1] = Step("ablation", 0.85, steps[-1].why)
    steps.append(Step("study", 1.0, "λ, dropout and the learning rate around the best recipe"))
    return Plan(kind, tuple(steps), False, DEFAULT_LAMBDAS, REMEDIES, True, (1e-6, 1e-1))
