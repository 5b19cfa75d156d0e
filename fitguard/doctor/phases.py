"""The remedy search, phase by phase; every remedy earns its place on validation data, never on the test split.

Every phase scores recipes through one :class:`Scorer`: trained on the training split and scored on the
validation split, or -- when the labelled rows are few -- k-fold cross-validated over train + val (test untouched),
because a validation split of a few dozen rows moves accuracy in steps of several points and one row then decides.
Ties in the score go to the lower validation loss.

1. ``architecture``: the model families that fit the kind of data, at several widths/depths, each with early
   stopping, after the complete recipes ``--recipe`` names (:data:`RECIPES`, or a file: a network with its own
   optimizer, fixed schedule and remedies), first the default ones (:data:`DEFAULT_RECIPES`, images: ``vgg``) as
   far as a forecast of their scoring fits the time left (every fold, one training, or trained once without a score
   when scoring it would cut it short: then nothing else is scored, :func:`trained_once`); the kept
   network is, of those within ``epsilon`` of the best validation score, the one with the lowest validation loss
   (then the fewest parameters; for regression, scored by the loss, the smallest) -- unless a fixed schedule ties
   early stopping there: then the fixed schedule is kept where the validation rows cannot resolve a point of
   accuracy (unless the network leads by more than the noise), and elsewhere a second split of the labelled rows,
   each trained as it would be shipped, decides (:func:`settle_tie`). A complete recipe kept on too few validation
   rows to resolve a point of accuracy is shipped as given: the phases below search nothing on it (:func:`settled`).
2. ``lambda_cv``: the L2 strength λ (not of a complete recipe: it has its weight decay), by k-fold cross-validation
   where the search cross-validates, else on the validation split (``--lambda-cv``: by k folds of train + val there).
3. ``ablation``: each remedy alone on the chosen network, then the ones that helped, combined.
4. ``study``: an Optuna study (SQLite in the run folder, fitguard.search's default sampler and pruner -- no
   pruning, see ``benchmarks/search.py``) over λ, dropout and learning rate around the best recipe, for whatever
   budget is left.

Which phases run, in what order and with what share of the budget, is the diagnosis' call
(:mod:`fitguard.doctor.plan`); ``train_longer`` and the learning curve (:mod:`fitguard.doctor.suggestions`) join
them when the verdict asks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from fitguard.data import Dataset, TensorData, kfold
from fitguard.diagnose.significance import accuracy_standard_error
from fitguard.doctor.options import FAMILIES
from fitguard.doctor.plan import CLASS_WEIGHTS, INPUT_DROPOUT
from fitguard.doctor.plan import DEFAULT_LAMBDAS as LAMBDAS
from fitguard.doctor.queue import FoldJob, FoldQueue, train_job
from fitguard.doctor.store import TrialStore, trial_key
from fitguard.models import count_parameters
from fitguard.models.imported import is_import_path
from fitguard.recipe import Run, build_model, model_choice
from fitguard.search.ablation import ablate
from fitguard.search.evaluate import (
    Candidate,
    Evaluator,
    fixed_schedule,
    fold_mean,
    recipe_config,
    skipped,
    train_keys,
    train_recipe,
)
from fitguard.search.scoring import Trial, evaluator, mirror_mean, mirror_scores, rank, resolve_metric
from fitguard.train import Callback

T = TypeVar("T")

#: candidate networks per kind of data, ordered so that a short budget still sees every family
ARCHITECTURES: dict[str, list[dict[str, Any]]] = {
    # the third: an MLP on 512 Fourier features that start as an RBF kernel's (``fitguard.models.builders.mlp``):
    # where an RBF SVM beats the plain MLPs on a numeric table, this one learns the kernel's smooth surface
    # measured and left out (session 36, benchmarks/table_networks.py): a linear head on 2048 such features, the
    # kernel machine itself learnt by gradient descent; alone on DNA 1000 it tests 0.942 where the MLP on Fourier
    # features tests 0.922, but the whole doctor at 60 s with it is level, on DNA (35 rows vs 34) and pooled over 6
    # dev tables (37 rows vs 40, p = 0.68)
    "table": [{"name": "mlp", "hidden": [64]}, {"name": "mlp", "hidden": [256, 256]},
              {"name": "mlp", "hidden": [256], "fourier": 512}, {"name": "mlp", "hidden": [16]},
              {"name": "mlp", "hidden": [256]}, {"name": "mlp", "hidden": [64, 64]}],
    # pooled grids first: after two blocks, global average pooling discards where a feature is, which costs 8
    # points on Fashion-MNIST 100/class (0.75 against 0.83) and learns far slower on 28x28 digits (after the three
    # VGG blocks of RECIPES["vgg"] it is the better head). A VGG net trained the doctor's way (Adam, early
    # stopping) third was measured and left out (session 16, 3 seeds, row test): Fashion-MNIST 0.820 -> 0.832 at
    # 120 s (p = 2e-11) but 0.824 -> 0.817 at 60 s (p = 1e-5); its complete recipe is DEFAULT_RECIPES' instead
    "image": [{"name": "cnn", "widths": [16, 32], "pool_to": 4}, {"name": "cnn", "widths": [32, 64], "pool_to": 4},
              {"name": "mlp", "hidden": [256]}, {"name": "cnn", "widths": [16, 32]},
              {"name": "cnn", "widths": [32, 64]}, {"name": "mlp", "hidden": [256, 256]},
              {"name": "cnn", "widths": [8, 16]}],
    "signal": [{"name": "cnn1d", "widths": [32, 64]}, {"name": "mlp", "hidden": [256, 256]},
               {"name": "cnn1d", "widths": [16, 32]}, {"name": "cnn1d", "widths": [64, 128]},
               {"name": "mlp", "hidden": [64]}],
}
#: :data:`fitguard.doctor.plan.INPUT_DROPOUT`'s rates (why, there)
INPUT_DROPOUT_MODEL = {"dropout": 0.5, "input_dropout": 0.2}
#: the image augmentation the ablation tries: small rotations, shifts and zooms keep every class what it is
AUGMENT = {"rotate": 10.0, "shift": 0.1, "scale": 0.1}
#: complete recipes by name (``fitguard doctor --recipe NAME``): a network with the optimizer, fixed schedule and
#: augmentation it is known to train well with, which the search's own phases (early stopping with Adam, one remedy
#: at a time) would not reach; scored first, beside the networks, then regularized like any kept network.
#: ``vgg`` is the CIFAR-style recipe a practitioner writes from memory (``benchmarks/peers.py``'s ``VGG recipe``):
#: two conv-BN-ReLU units a block at 32, 64 and 128 channels, global pooling, SGD with Nesterov momentum and weight
#: decay 5e-4, one cycle over a fixed 60 epochs of batch 64 (the rate rises to 0.1 over the first quarter of the
#: steps, then falls along a cosine), label smoothing 0.1, shifts and cutout. Global pooling, as the peer's: the head
#: pooled to 4x4 (until session 18) scored 1.5 points lower alone on all 1,000 rows of Fashion-MNIST 100/class (0.835
#: against 0.850, 3 seeds, each seed lower), 1.4 on MNIST 50/class and 21 on CIFAR-10 50/class (held out). The one
#: cycle, as the peer's (since session 19): the peer with this recipe's former schedule (a cosine decay from 0.05
#: from the first step, no Nesterov) lost 1.0-1.8 points on every seed, while its other differences (max pooling, one
#: conv at 128, label smoothing, flips) were each within half a point on Fashion-MNIST; this recipe with the one cycle
#: and Nesterov momentum scored 1 point higher alone than with the cosine (``benchmarks/reference/doctor_cpu.json``,
#: ``run_2026-12-05_session19``). Scored first by default (:data:`DEFAULT_RECIPES`). Label smoothing 0.1, as the peer's
#: (since session 33): on the 8x8 digits the peer without it scores 0.45 points lower, on each of 5 seeds
#: (``benchmarks/peer_ablation.py``, digits 100%; a sign test p = 0.06), while its other differences from this recipe
#: (one conv at 128, erasing up to 15% of an image, max pooling) are each within 0.15; alone on every labelled row
#: (``benchmarks/recipe_variants.py``, sessions 26 and 33) it moved digits 100% +0.33 (5 seeds), digits 10% +0.4,
#: Fashion-MNIST 100/class +0.2, MNIST 50/class +0.3, CIFAR-10 100/class +0.1 and the held-out CIFAR-10 50/class -0.5 (3
#: seeds each); in the doctor at 60 s (``benchmarks/recipe_option.py``, 3 seeds, same splits) digits 100% 0.993 -> 0.994
#: (12 test rows against 9, p = 0.66) and digits 10% 0.948 -> 0.951 (24 against 16, p = 0.27), not distinguishable
#: (Fashion-MNIST's runs there differed most in the epochs the machine's speed let the recipe train). The Trainer
#: smooths the training loss only, so the recipe's validation loss compares with other networks' (the tie-break).
RECIPES: dict[str, dict[str, Any]] = {
    "vgg": {"model": {"name": "cnn", "widths": [32, 64, 128], "convs": 2, "dropout": 0.3},
            "train": {"optimizer": "sgd", "lr": 0.1, "nesterov": True, "weight_decay": 5e-4, "batch_size": 64,
                      "max_epochs": 60, "repeat": 1, "label_smoothing": 0.1},
            "early_stopping": None,
            "remedies": {"augment": {"shift": 0.1, "erase": 0.25}, "one_cycle": {"warmup": 0.25}}},
}
#: on few labelled rows a built-in complete recipe (:data:`RECIPES`) takes more passes over them an epoch (its
#: ``repeat``), as many as would let its epochs take this many optimizer steps over the labelled rows, at most
#: :data:`RECIPE_MAX_PASSES` (:func:`load_recipe`): 240 is 4 steps an epoch of the VGG recipe's 60 (batch 64), where
#: digits 10%'s 90 labelled rows take 2 (with 2 passes, 3: an epoch's passes make one stream of batches). Measured
#: in the doctor at 60 s (``benchmarks/recipe_passes.py``, 3 seeds, same splits): digits 10% 0.924 -> 0.945 (92 test
#: rows against 33, p = 1e-7), digits 20% (180 rows) 0.962 -> 0.971 (40 against 17, p = 0.003); alone on every
#: labelled row (session 23) 3 passes no better than 2, and 2 passes on 500 rows (8 steps an epoch) +0.5 points for
#: twice the time, which at 60 s the scoring window cannot spare
RECIPE_MIN_STEPS = 240
#: the most passes an epoch :data:`RECIPE_MIN_STEPS` gives a built-in recipe
RECIPE_MAX_PASSES = 2
#: the complete recipes every run without ``--model`` scores first among its networks, by kind of data, when a
#: forecast of their scoring fits the time left (:func:`admits_recipe`; never under a trials budget)
DEFAULT_RECIPES: dict[str, tuple[str, ...]] = {"image": ("vgg",)}
#: a default recipe is scored only when its forecast trainings take at most this share of the search's time left:
#: kept, it costs about as much again in the final training, and the remedy phases need the rest
RECIPE_SHARE = 0.4
#: no forecast with less than this many seconds of search left: the forecast itself takes 1-3 s of them, and its 60
#: epochs never fit 40% of them (8x8 digits: 6 s forecast for 30% of the rows, 2-fold cross-validation)
RECIPE_MIN_LEFT = 15.0
#: a default recipe too long for the time left is trained once, shortened to fit, down to this share of its epochs
#: (:func:`optional_recipe`, :func:`direct_epochs`). The VGG recipe alone on every labelled row, its one cycle sized to
#: 60, 30, 20 and 15 epochs (``benchmarks/recipe_variants.py``, 3 seeds, mean test accuracy; reference
#: ``doctor_cpu.json``, section ``run_2026-12-06_session23``): Fashion-MNIST 100/class 0.860, 0.845, 0.831, 0.820; MNIST
#: 50/class 0.976, 0.971, 0.967, 0.963; CIFAR-10 50/class 0.487, 0.463, 0.450, 0.417. At 20 epochs it scored above what
#: the doctor kept at a 60 s budget without it on all three (0.819, 0.946, 0.440: early-stopped CNNs); at 15, below it
#: on CIFAR-10.
SHORTEST = 1 / 3

#: the final trainings' estimated cost is multiplied by this, plus REPORT_SECONDS, to reserve their time
RESERVE_FACTOR = 1.3
REPORT_SECONDS = 3.0

#: the remedy phases search on a complete recipe (its own schedule and remedies, tuned as a whole) only when its
#: validation score can tell a change of this much accuracy from noise (:func:`resolves`); else it is kept as given
#: and the time goes to the phases left (the learning curve, when the plan has it) and the ensemble's members
#: (see :func:`settled`)
RESOLVE = 0.01


@dataclass
class Clock:
    """The run's budget: a wall-clock deadline for the whole run (``seconds`` from ``started``) and/or a number of
    search trainings; ``spend`` says whether one more training fits.

    ``reserve`` is kept back at the end of the run for the final trainings and the report: the search's own
    deadline is ``deadline - reserve``, and the search learns ``reserve`` as it measures what a training costs.
    Phase shares are measured from ``search_started`` (set when the search begins) to the search's deadline.

    Args:
        seconds: the run's time budget; None: unbounded.
        trials: the most search trainings; None: only ``seconds`` bounds them.
        started: the run's start, in ``time.perf_counter`` units (default: now).
        used: search trainings counted so far (default 0).
        reserve: seconds kept back for the final trainings and the report (default 0).
        search_started: when the search began; None (default): not yet (phase shares then count from ``started``).
        search_ended: when the search was ended early (:meth:`end_search`); None (default): it runs to its deadline.
    """

    seconds: float | None
    trials: int | None
    started: float = field(default_factory=time.perf_counter)
    used: int = 0
    reserve: float = 0.0
    search_started: float | None = None
    search_ended: float | None = None

    @property
    def deadline(self) -> float:
        """When the whole run must be over (``time.perf_counter`` units; inf without a time budget)."""
        return math.inf if self.seconds is None else self.started + self.seconds

    def search_deadline(self) -> float:
        """When the search must stop, trainings in flight included: ``reserve`` before the run's deadline, or when it
        was ended (:meth:`end_search`), whichever is sooner."""
        end = self.deadline - self.reserve
        return end if self.search_ended is None else min(end, self.search_ended)

    def end_search(self) -> None:
        """End the search now, whatever ``reserve`` says later: the rest of the run is the final trainings' (a
        recipe trained once without a score, :func:`trained_once`). No phase starts a training after it."""
        self.search_ended = time.perf_counter()

    def left(self) -> float:
        """Seconds until the search's deadline (negative once it passed; inf without a time budget)."""
        return self.search_deadline() - time.perf_counter()

    def fits(self, seconds: float, share: float = 1.0) -> bool:
        """Whether a training forecast to take ``seconds`` would end within ``share`` of the search's time (always
        without a time budget): a phase whose trainings have a forecast starts none that its share would cut.

        Args:
            seconds: the training's forecast.
            share: the cumulative share of the search's time the phase may use (default 1.0).

        Example:
            >>> clock = Clock(seconds=100.0, trials=None)
            >>> clock.fits(30.0, 0.5), clock.fits(70.0, 0.5), Clock(None, 10).fits(1e9)
            (True, False, True)
        """
        return self.seconds is None or time.perf_counter() + seconds <= self._share_end(share)

    def _share_end(self, share: float) -> float:
        """When ``share`` of the search's time (from its start to its deadline) is used up."""
        begun = self.search_started or self.started
        return begun + share * (self.search_deadline() - begun)

    def spend(self, share: float = 1.0, trainings: int = 1, *, always: bool = False) -> bool:
        """True (and count them) when ``trainings`` more fit; a phase may use up to ``share`` of the search's time
        and trials. ``always``: count them and say yes whatever is left (a choice needs at least two candidates).

        Args:
            share: the cumulative share of the search's time and trials the phase may use (default 1.0).
            trainings: the trainings asked for (default 1).
            always: count them and say yes whatever is left (default False).
        """
        if always:
            self.used += trainings
            return True
        if self.trials is not None and self.used + trainings > max(trainings, math.floor(share * self.trials)):
            return False
        if self.seconds is not None and time.perf_counter() >= self._share_end(share):
            return False
        self.used += trainings
        return True


class StopAtDeadline(Callback):
    """Stop a training once ``deadline()`` has passed: from epoch ``min_epochs`` on, after the batch in which it
    passed (the cut epoch is still validated, so the training keeps a score; with ``restore_best`` the run keeps its
    best epoch so far). Every training runs ``min_epochs - 1`` whole epochs and at least one batch of the next,
    whatever the deadline. ``deadline`` is a function so that a moving deadline (the search's) is read when it
    matters.

    Why after the batch, not the epoch: an epoch of a large network (a pretrained backbone at 224 pixels on a CPU)
    can take minutes, and a deadline checked only at epoch ends let a 90 s run take 384 s.

    Args:
        deadline: gives the deadline in ``time.perf_counter`` units.
        min_epochs: the epoch from which the deadline may end a training, >= 1 (default 1).
    """

    def __init__(self, deadline: Callable[[], float], min_epochs: int = 1) -> None:
        self.deadline = deadline
        self.min_epochs = min_epochs

    def on_batch_end(self, trainer: Any, step: int, loss: Any) -> None:
        epoch = trainer.epoch + 1  # the epoch in progress
        if epoch >= self.min_epochs and time.perf_counter() >= self.deadline():
            trainer.request_stop(f"{DEADLINE_STOP} in epoch {epoch}", now=True)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        if epoch >= self.min_epochs and time.perf_counter() >= self.deadline():
            trainer.request_stop(f"{DEADLINE_STOP} after epoch {epoch}")


#: how a training the run's deadline stopped says why it stopped
DEADLINE_STOP = "stopped at the run's deadline (--budget)"


def cut_by_deadline(trial: Trial) -> bool:
    """Whether the run's deadline stopped ``trial``'s training (any fold's) before its own stopping rule did: its
    score is then that of a network trained for fewer epochs than it asked for.

    Args:
        trial: a scored trial.

    Example:
        >>> cut = Trial("a", "study", {}, 0.9, 0.0, 10, 3, 1.0, details={"stop_reasons": [
        ...     "early stopping", f"{DEADLINE_STOP} after epoch 3"]})
        >>> cut_by_deadline(cut), cut_by_deadline(Trial("b", "study", {}, 0.9, 0.0, 10, 3, 1.0))
        (True, False)
    """
    reasons = trial.details.get("stop_reasons") or [trial.details.get("stop_reason")]
    return any(str(reason or "").startswith(DEADLINE_STOP) for reason in reasons)


def kept_trial(scored: list[Trial], rule: str, fallback: Callable[[], Trial], *, against: bool = True) -> Trial:
    """The trial whose recipe the doctor keeps: by ``rule`` ("best": the best-ranked; "simplest": the fewest remedies
    within one standard error) among the ``scored`` ones -- unless the deadline cut every one of them short, when
    ``fallback()`` (the baseline's recipe, trained to its own end) is kept: a training cut after a few epochs measured
    no evidence against the baseline. With ``against``, the rule's pick is kept even then when it scores above the
    baseline on validation (a finite score above ``fallback()``'s): a cut training that already does measured the
    evidence (at 60 s on MNIST-1D the deadline cut the one network the search trained, at epoch 96 of 100 and 0.968
    validation accuracy, and the baseline's MLP at 0.61 was shipped; session 37). The doctor compares so where both
    were scored on the same validation split, not where the search cross-validates.

    Args:
        scored: the candidates' trials.
        rule: "best" or "simplest".
        fallback: gives the baseline's trial, its score the one its kept epoch count had on validation.
        against: whether a cut pick above the baseline is kept (default True).

    Example:
        >>> cut = Trial("cut", "study", {}, 0.9, 0.0, 10, 3, 1.0,
        ...             details={"stop_reason": f"{DEADLINE_STOP} after epoch 3"})
        >>> whole = Trial("whole", "study", {}, 0.8, 0.0, 10, 30, 1.0, details={"stop_reason": "early stopping"})
        >>> baseline, weak = (Trial("baseline", "baseline", {}, score, 0.0, 10, 150, 1.0) for score in (0.95, 0.85))
        >>> kept_trial([cut, whole], "best", lambda: baseline).name, kept_trial([cut], "best", lambda: baseline).name
        ('cut', 'baseline')
        >>> kept_trial([cut], "best", lambda: weak).name  # cut, but above the baseline on validation
        'cut'
        >>> kept_trial([cut], "best", lambda: weak, against=False).name
        'baseline'
    """
    kept = simplest_within_one_se(scored) if rule == "simplest" else max(scored, key=rank)
    if not all(cut_by_deadline(t) for t in scored):
        return kept
    baseline = fallback()
    above = math.isfinite(kept.val_score) and (not math.isfinite(baseline.val_score) or rank(kept) > rank(baseline))
    return kept if against and above else baseline


def score_at(trial: Trial, epoch: int) -> Trial:
    """``trial`` with the validation score and loss its History recorded at ``epoch`` (1-based): the baseline trains
    without restoring its best weights, so its own score is its last epoch's, not that of the epoch count it is
    refit for. Unchanged where the History lacks them.

    Args:
        trial: a trial with its History.
        epoch: the epoch.

    Example:
        >>> from fitguard.train import History
        >>> h = History([{"epoch": 1, "val_loss": 0.5, "val_accuracy": 0.7}, {"epoch": 2, "val_loss": 0.4,
        ...              "val_accuracy": 0.8}, {"epoch": 3, "val_loss": 0.6, "val_accuracy": 0.75}])
        >>> t = score_at(Trial("b", "baseline", {}, 0.75, 0.0, 10, 3, 1.0, metric="val_accuracy", history=h), 2)
        >>> t.val_score, t.details["val_loss"]
        (0.8, 0.4)
    """
    history = trial.history
    if history is None or trial.metric not in history.keys() or not 1 <= epoch <= len(history):
        return trial
    value = float(history[trial.metric][epoch - 1])
    loss = history["val_loss"][epoch - 1] if "val_loss" in history.keys() else trial.details.get("val_loss")
    return replace(trial, val_score=value if trial.mode == "max" else -value,
                   details={**trial.details, "val_loss": loss})


def schedule(rows: int, batch_size: int, epochs: int, min_steps: int) -> int:
    """Passes over the training rows per epoch (``repeat``, at most 20) so that ``epochs`` epochs can take
    ``min_steps`` optimizer steps.

    Why: an epoch of 60 rows is two steps; 100 epochs of it are too few for a network (let alone one that sees
    augmented images) to converge, and a patience of 15 epochs is then 30 steps of noise. Repeating the rows
    within an epoch keeps the epoch count and the patience meaningful and pays for one validation per epoch.

    Args:
        rows: training rows.
        batch_size: rows per step.
        epochs: the epoch limit.
        min_steps: the optimizer steps a training should be able to take.

    Example:
        >>> schedule(60, 32, 100, 1500), schedule(5000, 32, 100, 1500)
        (8, 1)
    """
    steps = epochs * math.ceil(rows / batch_size)
    return min(20, max(1, math.ceil(min_steps / steps))) if steps else 1


def simplest_within_one_se(trials: list[Trial]) -> Trial:
    """The recipe to keep: the best-ranked one, or -- when its score comes from cross-validation -- the one with
    the fewest remedies among those within one standard error of it (Breiman's one-standard-error rule).

    Why: the study tries dozens of recipes on the same folds, and the top score among many noisy ones is partly
    luck; a simpler recipe that is statistically as good generalizes at least as well. Complexity: the number of
    remedies a trial added (``details["remedies"]``), three for a study trial (λ, dropout and learning rate tuned).

    Args:
        trials: the scored trials, at least one.

    Example:
        >>> plain = Trial("early stopping only", "ablation", {}, 0.95, 0, 1, 1, 1.0,
        ...               details={"remedies": [], "folds": [0.93, 0.95, 0.97]})
        >>> tuned = Trial("study #7", "study", {}, 0.96, 0, 1, 1, 1.0, details={"folds": [0.95, 0.96, 0.97]})
        >>> simplest_within_one_se([plain, tuned]).name  # 0.95 >= 0.96 - 0.01 / sqrt(3)? no
        'study #7'
    """
    best = max(trials, key=rank)
    folds = best.details.get("folds") or []
    if len(folds) < 2:
        return best
    margin = float(np.std(folds, ddof=1)) / math.sqrt(len(folds))
    close = [t for t in trials if t.val_score >= best.val_score - margin]
    return min(close, key=lambda t: (len(t.details.get("remedies", [None] * 3)), *(-v for v in rank(t))))


class SearchModels:
    """The trained models of the best-ranked holdout trainings (:func:`~fitguard.search.scoring.rank`), as the search
    left them (restored to the epoch validation chose): given to the :class:`Scorer` as ``on_trained``
    (:meth:`offer`), they let the final phase ship the model validation scored when no refit of the kept recipe fits
    the time left (:meth:`run_of`). Until the architecture is chosen (:meth:`pin`) every training is held, up to
    :attr:`most`; then the ``keep`` best-ranked and the chosen architecture's (the ablation's reference, which can rank
    below networks the architecture phase did not choose). A training the deadline cut is held as it stopped,
    restored to its best epoch so far (what its score measured; :func:`kept_trial` may keep it). Trainings with no
    finite score are not held, nor those other processes trained (``--workers``: their models stay there) or a
    resumed run read back, nor cross-validated ones (their folds' models are k networks on other rows).

    Args:
        keep: the best-ranked trainings held once the architecture is chosen (default 3).
        most: the trainings held before it is (default 12: the architecture phase trains a handful).

    Example:
        >>> from fitguard.train import History
        >>> models = SearchModels(keep=1)
        >>> a, b, c = (Trial(n, "architecture", {}, v, 0.0, 10, 5, 1.0, history=History([]))
        ...            for n, v in (("a", 0.8), ("b", 0.9), ("c", 0.7)))
        >>> for trial in (a, b, c):
        ...     models.offer(trial, f"run {trial.name}")
        >>> models.pin(a)  # the architecture chosen: a; b ranks first
        >>> [models.run_of(t) for t in (a, b, c)]
        ['run a', 'run b', None]
        >>> reference = Trial("early stopping only", "ablation", {}, 0.8, 0.0, 10, 5, 1.0, history=a.history)
        >>> models.run_of(reference)  # the same training, recorded again: its History is the training's
        'run a'
    """

    def __init__(self, keep: int = 3, most: int = 12) -> None:
        self.keep, self.most = keep, most
        self._held: list[tuple[Trial, Run]] = []
        self._pinned: Any = None  # the chosen architecture's History; None: not chosen yet

    def offer(self, trial: Trial, run: Run) -> None:
        """Hold ``run`` (unless ``trial`` has no finite score), then let go of those no longer among the held
        (:class:`SearchModels`).

        Args:
            trial: a holdout training's trial.
            run: its trained run.
        """
        if trial.history is None or not math.isfinite(trial.val_score):
            return
        self._held.append((trial, run))
        self._trim()

    def pin(self, trial: Trial) -> None:
        """The architecture is chosen: hold ``trial``'s model whatever ranks above it, and from now on the ``keep``
        best-ranked besides.

        Args:
            trial: the chosen architecture's trial.
        """
        self._pinned = trial.history if trial.history is not None else False
        self._trim()

    def _trim(self) -> None:
        count = self.most if self._pinned is None else self.keep
        # sorted is stable: of equal ranks the earlier training stays, as max() keeps the first of equals
        ranked = sorted(self._held, key=lambda held: rank(held[0]), reverse=True)
        top = {id(held) for held in ranked[:count]}
        self._held = [held for held in ranked if id(held) in top or held[0].history is self._pinned]

    def run_of(self, trial: Trial) -> Run | None:
        """The held model of ``trial``'s training (the same History: a training recorded again under another name,
        as the ablation's reference is, is the same training) when ``trial`` is done (a study trial pruned after it
        was offered is not); else None.

        Args:
            trial: the kept trial.
        """
        if trial.history is None or trial.status != "done":
            return None
        return next((run for held, run in self._held if held.history is trial.history), None)


@dataclass
class Scorer(Evaluator):
    """The doctor's :class:`~fitguard.search.evaluate.Evaluator`: a recipe scored on the validation split (``folds``
    is None) or by k-fold cross-validation over train + val, with the run's trial store and fold queue.

    ``store``: where every scored trial is kept (:class:`~fitguard.doctor.store.TrialStore`); a recipe it already
    holds for the same phase, name and training options is read back instead of trained (``fitguard doctor
    --resume``). ``queue``: where the folds go when other processes train them too (``fitguard doctor --workers N``,
    ``--join``).

    Args:
        base: the base spec.
        data: the dataset.
        folds: ``(train, val)`` pairs for cross-validation; None: the validation split.
        train: options laid over the spec's ``train`` section for every training (default none).
        callbacks: given to every training (default none).
        progress: told which candidate and fold trains (``candidate(name, fold, folds)``); None (default): nobody.
        on_scored: called with every scored trial; None (default): nothing.
        metric: the validation metric (default "auto": accuracy for classes, the loss for regression).
        grouped: train a candidate's folds as one grouped network where they may, and sibling candidates' folds
            (an L2 grid) side by side in one (``--grouped-folds``, the doctor's default; here default False).
        deadline: for grouped folds, gives the time after whose epoch they stop; None (default): none.
        deadline_reason: the stop reason the deadline gives grouped folds (the doctor's :data:`DEADLINE_STOP`).
        on_trained: called with each holdout training's trial and trained Run, in this process (the doctor's
            :meth:`SearchModels.offer`); None (default): nothing.
        store: where scored trials are kept and read back; None (default): nowhere.
        queue: the run's :class:`~fitguard.doctor.queue.FoldQueue` when other processes train folds too
            (``--workers``): a cross-validated score's folds are queued (grouped folds as one job), trained by
            whichever process takes them, and gathered before their mean is taken; None (default): this process
            trains them.
        fold_seed: the seed :func:`fitguard.data.kfold` made ``folds`` with, by which a worker builds them too; None
            (default): the spec's data seed (the run's own folds).
        first_fold_of: this scorer scores on the first of that many folds alone (:func:`one_fold`): its trials
            record so in ``details["one_fold"]``, and the trial store keeps them apart from full scores; None
            (default): every fold in ``folds``.
    """

    store: TrialStore | None = None
    queue: FoldQueue | None = None
    fold_seed: int | None = None
    first_fold_of: int | None = None

    @cached_property
    def _holdout(self) -> list[tuple[TensorData, TensorData | None]]:
        """The holdout split as the one "fold" a worker can train (one list, so that the queue hashes it once)."""
        return [(self.data.train, self.data.val)]

    def _jobs(self, recipe: dict[str, Any], name: str, phase: str, options: dict[str, Any]) -> list[FoldJob] | None:
        """The recipe's trainings as queue jobs; None when only this process may train them: there is no queue,
        or the folds are not ones a worker can build (the learning curve's subsets)."""
        if self.queue is None or (self.data.val is None and not self.folds):
            return None
        return self.queue.jobs(recipe, name=name, phase=phase, options={**self.train, **options},
                               folds=self.folds or self._holdout,
                               seed=self.base.data.seed if self.fold_seed is None else self.fold_seed,
                               grouped=self.groups(recipe, options))

    def _collected(self, recipe: dict[str, Any], name: str, phase: str, trials: list[Trial]) -> Trial:
        """One recipe's trial from its queued trainings': the mean of its folds', or the one job's under the
        recipe's name (a holdout training, or grouped folds whose job took their mean)."""
        return fold_mean(recipe, name, phase, trials) if len(trials) > 1 else replace(trials[0], name=name)

    def _train_job(self, job: FoldJob) -> Trial:
        """A queued training, when this process takes it: as a worker trains it (to the deadline the job carries,
        not this run's moving one, which a worker cannot see), with this run's other callbacks (the progress
        display)."""
        if self.progress is not None:
            self.progress.candidate(job.name, job.fold if self.folds and job.fold else None, self.trainings)
        others = tuple(c for c in self.callbacks if not isinstance(c, StopAtDeadline))
        folds = self.folds or self._holdout
        return train_job(self.base, self.data, folds if job.fold == 0 else folds[job.fold - 1], job,
                         callbacks=others)

    def _key(self, candidate: Candidate) -> str | None:
        """The candidate's key in the trial store (no store: None)."""
        scope = {"first_fold_of": self.first_fold_of} if self.first_fold_of else {}
        return trial_key(candidate.phase, candidate.name, candidate.recipe,
                         {**self.train, **candidate.options, **scope}) if self.store is not None else None

    def _stored(self, candidate: Candidate) -> tuple[str | None, Trial | None]:
        key = self._key(candidate)
        return key, self.store.get(key) if self.store is not None and key is not None else None

    def score(self, recipe: dict[str, Any], *, name: str, phase: str, options: dict[str, Any],
              callbacks: tuple[Callback, ...] = ()) -> Trial:
        """The stored trial when the store holds this recipe for the same phase, name and training options; else
        its trainings -- queued when other processes may train them (a training with its own callback, a pruner,
        stays here) -- and the trial stored. (A recipe with a fixed schedule trains its own epoch count, in this
        process or a worker's, and the recipe in the trial's key says it.)

        Args:
            recipe: the sections the recipe sets.
            name: the candidate's name.
            phase: the search phase.
            options: ``train`` options on top of the scorer's.
            callbacks: more callbacks for its trainings (a pruner; default none).
        """
        key, trial = self._stored(Candidate(recipe, name, phase, options))
        if trial is None:
            jobs = self._jobs(recipe, name, phase, options) if not callbacks else None
            if jobs is not None:
                trial = self._collected(recipe, name, phase, self.queue.scatter(jobs, self._train_job))  # type: ignore[union-attr]
            else:
                trial = super().score(recipe, name=name, phase=phase, options=options, callbacks=callbacks)
            self._kept(key, trial)
        return trial

    def score_siblings(self, candidates: Sequence[Candidate]) -> list[Trial]:
        """The candidates' trials, each told to ``on_scored`` in order: stored ones read back, the others trained
        as :meth:`~fitguard.search.evaluate.Evaluator.score_siblings` trains them (grouped when two or more are
        left), each stored.

        Args:
            candidates: sibling candidates.
        """
        found = [self._stored(c)[1] for c in candidates]  # each read once: the store counts what it replays
        fresh = [c for c, trial in zip(candidates, found) if trial is None]
        # stored (and their details completed) by _sibling_scored; one alone is scored (and told) as __call__ does
        trained = iter(self._trained_siblings(fresh) if len(fresh) > 1 else [])
        trials = []
        for c, trial in zip(candidates, found):
            if trial is None and len(fresh) < 2:
                trials.append(self(c.recipe, name=c.name, phase=c.phase, **c.options))
                continue
            trials.append(next(trained) if trial is None else trial)
            if self.on_scored is not None:
                self.on_scored(trials[-1])
        return trials

    def _sibling_scored(self, candidate: Candidate, trial: Trial) -> Trial:
        """A grouped sibling's trial completed and stored, as :meth:`score` stores a trial."""
        self._kept(self._key(candidate), trial)
        return trial

    def _kept(self, key: str | None, trial: Trial) -> None:
        """A freshly scored trial completed (scored on the first fold alone: it says so) and stored under its key."""
        if self.first_fold_of and self.folds:
            train, val = self.folds[0]
            trial.details["one_fold"] = {"fold": 1, "folds": self.first_fold_of, "training_rows": len(train),
                                         "validation_rows": len(val)}
        self._keep(key, trial)

    def _keep(self, key: str | None, trial: Trial) -> None:
        """Store a freshly scored trial under its key (no store: nothing)."""
        if self.store is not None and key is not None:
            self.store.put(key, trial)

    def evaluate_candidates(self, candidates: Sequence[Candidate],
                            admit: Callable[[int, Candidate], bool] | None = None,
                            on_trial: Callable[[Trial], None] | None = None) -> list[Trial]:
        """Score each candidate, in order: with a queue, in batches of as many candidates as keep the run's
        processes busy (:meth:`~fitguard.doctor.queue.FoldQueue.capacity`; ``admit`` asked for each candidate of a
        batch before the batch starts), every training of a batch queued at once; without, one after another, but
        for siblings whose folds train side by side as one grouped network
        (:meth:`~fitguard.search.evaluate.Evaluator.evaluate_candidates`).

        Args:
            candidates: the candidates.
            admit: whether a candidate may start; None (default): every one.
            on_trial: called with each scored trial once its batch is done (progress); None (default): nothing.
        """
        if self.queue is None:
            return super().evaluate_candidates(candidates, admit, on_trial)
        trials: list[Trial] = []
        left = list(enumerate(candidates))
        while left:
            _, first = left[0]  # grouped folds are one job a candidate
            jobs = 1 if self.groups(first.recipe, first.options) else self.trainings
            size = max(1, math.ceil(self.queue.capacity() / jobs))
            batch, left = left[:size], left[size:]
            allowed = [admit is None or admit(index, c) for index, c in batch]
            scored = self._batch([c for (_, c), ok in zip(batch, allowed) if ok])
            for trial in scored:
                if on_trial is not None:
                    on_trial(trial)
            ready = iter(scored)
            trials += [next(ready) if ok else skipped(c) for (_, c), ok in zip(batch, allowed)]
        return trials

    def _batch(self, candidates: list[Candidate]) -> list[Trial]:
        """The candidates' trials: stored ones read back, the others' trainings queued together and gathered."""
        found: dict[int, Trial] = {}
        queued: list[tuple[int, str | None, list[FoldJob]]] = []
        for index, c in enumerate(candidates):
            key, trial = self._stored(c)
            jobs = self._jobs(c.recipe, c.name, c.phase, c.options) if trial is None else None
            if trial is not None:
                found[index] = trial
            elif jobs is None:  # only this process may train it: the evaluator's own scoring, stored
                found[index] = Evaluator.score(self, c.recipe, name=c.name, phase=c.phase, options=c.options)
                self._keep(key, found[index])
            else:
                queued.append((index, key, jobs))
        if queued:
            gathered = iter(self.queue.scatter([j for _, _, jobs in queued for j in jobs], self._train_job))  # type: ignore[union-attr]
            for index, key, jobs in queued:
                c = candidates[index]
                found[index] = self._collected(c.recipe, c.name, c.phase, [next(gathered) for _ in jobs])
                self._keep(key, found[index])
        for index in sorted(found):
            if self.on_scored is not None:
                self.on_scored(found[index])
        return [found[index] for index in range(len(candidates))]


def load_recipe(value: str, rows: int | None = None) -> dict[str, Any]:
    """A complete recipe for ``--recipe``: a name of :data:`RECIPES` (a copy), or a YAML/TOML file of recipe
    sections (``model``, ``train``, ``early_stopping``, ``remedies``...; ``model`` required), checked as
    :class:`fitguard.recipe.Recipe` checks them.

    A named recipe on few labelled ``rows`` takes as many passes over them an epoch (``train.repeat``) as would let
    its epochs take :data:`RECIPE_MIN_STEPS` steps, at most :data:`RECIPE_MAX_PASSES` (why, there): one ``repeat``
    for every training of it in a run, scored, tested and shipped alike, which the time forecasts read. A file's
    recipe with a schedule of its own (``train.max_epochs``) is as its file says (one that sets no ``repeat`` trains
    with the search's, :func:`passes_of`).

    Args:
        value: the name or the file's path.
        rows: the run's labelled rows (train + val); None (default): the recipe as written.

    Raises:
        FitguardError: neither a name nor a file, or a file that is not a valid recipe with a ``model``, in one line.

    Example:
        >>> load_recipe("vgg")["train"]["optimizer"]
        'sgd'
        >>> [load_recipe("vgg", rows)["train"]["repeat"] for rows in (50, 90, 192, 193, 1000)]
        [2, 2, 2, 1, 1]
    """
    import copy
    from pathlib import Path

    from fitguard.config import read_config_file
    from fitguard.errors import FitguardError
    from fitguard.recipe import Recipe

    if value in RECIPES:
        recipe = copy.deepcopy(RECIPES[value])
        if rows is not None:
            train = recipe["train"]
            passes = schedule(rows, train["batch_size"], train["max_epochs"], RECIPE_MIN_STEPS)
            train["repeat"] = max(train.get("repeat", 1), min(RECIPE_MAX_PASSES, passes))
        return recipe
    if not Path(value).is_file():
        raise FitguardError(f"`--recipe` must be a recipe name ({', '.join(RECIPES)}) or a .yaml/.yml/.toml file of "
                            f"recipe sections, got {value!r}")
    raw = read_config_file(value)
    Recipe.parse(raw, f"--recipe {value}")
    if not isinstance(raw.get("model"), dict):
        raise FitguardError(f"--recipe {value}: a recipe needs a `model` section (the network it trains), e.g. "
                            "model: {name: cnn, widths: [32, 64]}")
    return raw


def passes_of(recipe: dict[str, Any], options: dict[str, Any] | None = None) -> int:
    """The passes over its training rows a recipe takes an epoch: its ``train.repeat`` where it has a fixed schedule
    and sets one, else the search's (``options``, a :class:`Scorer`'s ``train``), else 1
    (:func:`fitguard.search.evaluate.train_keys`).

    Args:
        recipe: the recipe.
        options: the ``train`` keys the search puts on top of a recipe (default none).

    Example:
        >>> passes_of(load_recipe("vgg", rows=90), {"repeat": 8}), passes_of({"model": {"name": "mlp"}})
        (2, 1)
        >>> passes_of({"model": {"name": "cnn"}, "train": {"max_epochs": 60}}, {"repeat": 8})  # a file without one
        8
    """
    return int(train_keys(recipe, options or {}).get("repeat") or 1)


def describe(recipe: dict[str, Any]) -> str:
    """A candidate's short name: ``mlp 256x256``, ``cnn 16x32``, ``cnn 32x64x128, 2 convs a block, pooled to 4``,
    ``mlp 256 on 512 Fourier features``, ``linear on 2048 Fourier features`` (an MLP without hidden layers),
    ``my_nets:small_cnn``, ``backbone runs/pre``.

    Args:
        recipe: the candidate's recipe.
    """
    backbone = (recipe.get("transfer") or {}).get("backbone")
    if backbone is not None:
        return f"backbone {backbone}"
    model = recipe["model"]
    sizes = model.get("hidden", model.get("widths"))
    name = f"{model['name']} {'x'.join(map(str, sizes))}" if sizes is not None else model["name"]
    if _linear_head(model):
        name = "linear"
    if model.get("convs", 1) != 1:
        name = f"{name}, {model['convs']} convs a block"
    if model.get("fourier"):
        name = f"{name} on {model['fourier']} Fourier features"
        if model.get("fourier_gamma") is not None:
            name = f"{name} (γ={model['fourier_gamma']:.3g})"
    name = f"{name}, pooled to {model['pool_to']}" if model.get("pool_to", 1) != 1 else name
    train, remedies = recipe.get("train") or {}, recipe.get("remedies") or {}
    if fixed_schedule(recipe) and "optimizer" in train:  # a complete recipe (``--recipe``) names its training
        schedule = "cosine over " if "cosine" in remedies else "one cycle over " if "one_cycle" in remedies else ""
        name = f"{name}; {train['optimizer'].upper()}, {schedule}{train['max_epochs']} epochs"
        if train.get("repeat", 1) > 1:
            name = f"{name} of {train['repeat']} passes"
        if train.get("label_smoothing"):
            name = f"{name}, label smoothing {train['label_smoothing']:g}"
        if remedies.get("augment"):
            name = f"{name}, augmented"
    return name


def tunable(recipe: dict[str, Any]) -> bool:
    """Whether the recipe's network is a built-in one whose options (dropout, batch norm, width) the search may set;
    :func:`has_hidden_layers` says whether the hidden-layer remedies act on it.

    Args:
        recipe: the candidate's recipe.
    """
    return recipe["model"]["name"] in FAMILIES and not (recipe.get("transfer") or {}).get("backbone")


def has_hidden_layers(recipe: dict[str, Any]) -> bool:
    """Whether the recipe's network is a :func:`tunable` one with hidden layers for dropout, batch norm and skip
    connections to act on: the linear head on Fourier features (an MLP with ``hidden=[]``) has none, and those
    remedies would train the same network again.

    Args:
        recipe: the candidate's recipe.

    Example:
        >>> has_hidden_layers({"model": {"name": "mlp", "hidden": [64]}})
        True
        >>> has_hidden_layers({"model": {"name": "mlp", "hidden": [], "fourier": 2048}})
        False
    """
    return tunable(recipe) and not _linear_head(recipe["model"])


def _linear_head(model: dict[str, Any]) -> bool:
    """Whether ``model`` is an MLP without hidden layers (``hidden=[]``): a linear head on its inputs."""
    return model["name"] == "mlp" and "hidden" in model and not model["hidden"]


def architecture(score: Scorer, clock: Clock, candidates: list[dict[str, Any]], *, epsilon: float,
                 tick: Callable[[], None], share: float, extend: int = 1,
                 optional: Sequence[dict[str, Any]] = (),
                 second: Callable[[], Scorer | None] | None = None,
                 named: Sequence[dict[str, Any]] = (), one_se: bool = False) -> tuple[list[Trial], Trial]:
    """Score each candidate recipe (always at least two while the search has time left, else one; none beside a
    default recipe trained once without a score, :func:`trained_once`); return them all
    and the one kept: of those within ``epsilon`` of the best validation score (with ``one_se``, on a table scored by
    accuracy: within one standard error of it, :func:`tie_window`; the chosen trial's ``details["window"]`` then
    says how far), the lowest validation loss, then the fewest parameters (where the score is the loss, regression:
    the fewest parameters; :func:`tie_break`).

    Why not the smallest within ``epsilon``, as before session 15: ``epsilon`` (0.005) is a tie on up to 200
    validation rows, and among ties the smaller network was the worse choice on the tables measured; the
    validation loss separated them better (``benchmarks/architecture_rule.py``: refit on train + val, 3-5 seeds,
    8 classification sets: +0.3 points in the mean, nowhere worse than 0.1 points, nominally better on DNA 1000
    with p = 0.02 -- one set of 8, uncorrected for the 3 rules compared; measured in-sample).

    When the best candidate is the largest of its family (a built-in network with at least one smaller sibling
    scored), the optimum may lie beyond the grid, as for the λ grid (:func:`lambda_cv`): up to ``extend`` networks
    twice as wide (every layer) are scored too, while the phase's share lasts.

    The ``optional`` recipes (:data:`DEFAULT_RECIPES`) are scored first, before the candidates, under a time budget
    alone (a trials budget counts a 60-epoch recipe as one training: it would take over the run), each as far as its
    :func:`forecast` allows (:func:`optional_recipe`): on every fold, by one training (then every network is
    compared with it on that fold: :func:`on_first_fold`), trained once without a score (while nothing was scored
    before it and no other candidate the user ``named`` waits: it is then kept and nothing else is scored), or not at
    all. First, not second (until
    session 23) nor third (until session 22): on every image set measured the recipe was the strongest candidate,
    and second it was shortened or skipped at a 60 s budget because the first network took the time (MNIST 50/class:
    29-35 of its 60 epochs, or none; first, 60 on every seed of session 24's runs). One the candidates hold already
    (named by ``--recipe``) is not scored twice.

    Args:
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        candidates: the recipes to score, in order.
        epsilon: how far below the best validation score the kept network may be (a tie, on few rows; the floor of
            ``one_se``'s window).
        tick: called after each training (progress).
        share: the cumulative share of the search's time and trials the phase may use.
        extend: the most networks added beyond the large end of the grid (default 1).
        optional: complete recipes scored first when the time left fits them (default none).
        second: gives the :class:`Scorer` of a second split of the labelled rows (built only when a tie between a
            fixed schedule and early stopping needs it, :func:`settle_tie`); None (default): the tie-break alone
            decides.
        named: the candidates the user named (a ``--backbone``, ``--recipe`` files, a ``--model`` of theirs; default
            none): they are to be compared, so a complete recipe is trained once without a score only when no
            candidate the user named is left but itself.
        one_se: on a table scored by accuracy, widen ``epsilon`` to one standard error of the best validation
            accuracy (:func:`tie_window`); default False: ``epsilon`` alone.
    """
    timed = clock.seconds is not None and clock.trials is None
    extra = [r for i, r in enumerate(optional) if timed and r not in candidates and r not in optional[:i]]
    admitted = 0  # candidates started: the first two always are (a choice needs two)

    def admit(_: int, __: Candidate) -> bool:
        nonlocal admitted
        # the second only while the search has time left: started past its deadline, a network trains one batch
        # (StopAtDeadline), whose score chooses nothing
        started = clock.spend(share, score.trainings, always=admitted == 0 or (admitted == 1 and clock.left() > 0))
        admitted += started
        return started

    def networks(recipes: list[dict[str, Any]]) -> list[Trial]:
        return score.evaluate_candidates([Candidate(recipe, describe(recipe), "architecture") for recipe in recipes],
                                         admit=admit, on_trial=lambda _: tick())

    # the complete recipes first, the default ones then those --recipe names, each as far as its forecast allows (a
    # named one scored as a plain candidate took the time its final training needed: Fashion-MNIST 100/class at 45 s
    # with --recipe vgg, the final training was cut by the deadline and tested 0.793, where the default path's recipe
    # trained once tested 0.848)
    budgeted = extra + [r for r in candidates if timed and fixed_schedule(r)]
    rest = [r for r in candidates if r not in budgeted]
    trials: list[Trial] = []
    for index, recipe in enumerate(budgeted):
        # trained once without a score only while nothing was scored and no other candidate the user named waits
        not_once = ("a candidate was scored before it" if any(t.status == "done" for t in trials)
                    else "a candidate you named waits to be compared" if any(n != recipe for n in named) else None)
        trials.append(optional_recipe(score, clock, recipe, share=share, always=admitted < 2, not_once=not_once))
        if unscored(trials[-1]):
            return _trained_once(clock, trials, [*budgeted[index + 1:], *rest])
        if trials[-1].status == "done":
            admitted += 1
            tick()
    # then the networks in one batch: with --workers, as many candidates at once as keep the processes busy
    trials += networks(rest)
    # a recipe scored on one fold is compared with the networks on that fold: their first fold's figures
    one = any("one_fold" in t.details for t in trials)
    compared = on_first_fold if one else (lambda t: t)
    for _ in range(extend):
        wider = _beyond_the_grid([compared(t) for t in trials if t.status == "done"])
        if wider is None or any(t.recipe == wider for t in trials) or not clock.spend(share, score.trainings):
            break
        trial = score(wider, name=describe(wider), phase="architecture")
        trial.details["beyond_grid"] = True
        trials.append(trial)
        tick()
    done = [t for t in trials if t.status == "done"]
    views = [compared(t) for t in done]  # the trials themselves unless a recipe was scored on one fold
    scorer = scored_by(score, next(t for t in done if "one_fold" in t.details)) if one else score
    # with one network alone nothing ties: the window says nothing
    window = (tie_window(views, epsilon, validation_rows(scorer), score.data.kind) if one_se and len(views) > 1
              else epsilon)
    chosen = within_epsilon(views, window, score=lambda t: t.val_score, prefer=tie_break)
    # no second split for one fold's scores: where the fold's rows resolve a point, the tie-break decides
    second = _no_split if one else second
    if second is not None:
        chosen = settle_tie(score, second, clock, views, chosen, epsilon=window, rows=validation_rows(scorer))
    for view, trial in zip(views, done):
        if view is not trial:  # a network compared on the first fold: its figures there, and its side of a tie
            trial.details["first_fold"] = {"val_score": view.val_score, "val_loss": view.details["val_loss"]}
            if "tie" in view.details:
                trial.details["tie"] = view.details["tie"]
    chosen = next(trial for view, trial in zip(views, done) if view is chosen)  # by identity, not ==
    chosen.details["chosen"] = True
    if window > epsilon:
        chosen.details["window"] = window  # how far the tie reached: the doctor moves it to the summary
    return trials, chosen


def _trained_once(clock: Clock, trials: list[Trial], rest: list[dict[str, Any]]) -> tuple[list[Trial], Trial]:
    """The architecture phase's trials and choice when its last trial so far is a default recipe trained once,
    unscored (:func:`trained_once`): it is kept; nothing else is scored (the ``rest`` of the recipes are listed as
    skipped); and the rest of the run is the final training's -- the search ends now (:meth:`Clock.end_search`), so
    no later phase starts a training."""
    clock.end_search()
    why = "skipped: the recipe, trained once without a score, takes the rest of the budget"
    trials[-1].details["chosen"] = True
    left = [skipped(Candidate(r, describe(r), "architecture"), why) for r in rest]
    for trial in left:
        trial.details["beside_unscored"] = True  # the report names them in one sentence
    return [*trials, *left], trials[-1]


def _no_split() -> None:
    """No second split (for :func:`settle_tie`)."""
    return None


def optional_recipe(score: Scorer, clock: Clock, recipe: dict[str, Any], *, share: float, always: bool,
                    not_once: str | None = None) -> Trial:
    """A default complete recipe's trial in the architecture phase, scored as far as the time left allows:

    - on every fold (or the validation split) when its :func:`forecast` fits :data:`RECIPE_SHARE` of the search's
      time left (:func:`admits_recipe`) and its final training, forecast from one of them, then ends by the run's
      deadline (scored first, it comes before any search training has sized the time kept back for it);
    - else by one training at full length -- on the first fold alone when ``score`` cross-validates
      (:func:`one_fold`), on the validation split otherwise -- when that training and the recipe's final training on
      every labelled row, forecast from it, end before the run's deadline (:func:`fitting_epochs` admits all its
      epochs): on a small budget one training measured beats no measure, and the networks are compared with it
      (MNIST 50/class at 60 s: 3 folds of 60 epochs never fit, one fold and the final training do, and a network
      was scored beside it on every seed of session 24);
    - else **not scored, trained once** (:func:`trained_once`): the final phase trains it on every labelled row, at
      full length when that alone fits by the deadline, else shortened to the most epochs that do
      (:func:`direct_epochs`; its schedule, a one cycle or a cosine, is sized to them), down to :data:`SHORTEST` of
      its own. Scoring it first would have cut it to the epochs whose one training and final training both fit
      and left no time to score anything beside it, so the score would have chosen nothing: session 24,
      Fashion-MNIST 100/class at 60 s, it was scored at 36-38 of its 60 epochs in 18 s, no network was scored
      beside it, and it was trained again at those epochs (0.852 against 0.858 for the recipe's 60 epochs trained
      once). A budget too small for the recipe at full length gets the recipe at the length it can afford, as Li
      et al. ("Budgeted training", ICLR 2020) found a schedule fitted to the budget beats the full one cut short;
    - else not at all (its status says why). No forecast with less than :data:`RECIPE_MIN_LEFT` left.

    The forecast is kept in ``details["forecast_seconds"]``, beside the seconds it took. A recipe scored by one
    training has ``details["one_training"]`` (the epochs it trained, of how many); kept, it is kept as given
    (:func:`settled`). One trained once has ``details["unscored"]`` (:func:`trained_once`).

    Args:
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        recipe: the complete recipe (a fixed schedule).
        share: the cumulative share of the search's time and trials the phase may use.
        always: start it whatever the share says once its forecast fits (a choice needs two candidates).
        not_once: why it may not be trained once without a score (something was scored before it, or a candidate
            the user named waits): where scoring does not fit at full length it is then not scored at all, and the
            status says why; None (default): it may.
    """
    candidate = Candidate(recipe, describe(recipe), "architecture")
    if clock.left() < RECIPE_MIN_LEFT:
        return skipped(candidate)
    seconds = forecast(score, recipe)
    once = seconds / score.trainings
    full = recipe["train"]["max_epochs"]
    # every fold within RECIPE_SHARE of the search's time left, and then its final training by the run's deadline:
    # scored first, before any search training has sized the time kept back for the final one
    laps = passes_of(recipe, score.train)
    after = once * (_final_factor(score, laps) - 1) + _evaluation_seconds(once / full, score, laps) + REPORT_SECONDS
    fitting = admits_recipe(seconds, clock) and time.perf_counter() + seconds + after <= clock.deadline
    scored = None if fitting else fitting_epochs(once, full, score, clock, laps)
    direct = None if fitting or scored == full or not_once else direct_epochs(once, full, score, clock, laps)
    if fitting:
        trial = (score(recipe, name=candidate.name, phase="architecture")
                 if clock.spend(share, score.trainings, always=always) else skipped(candidate))
    elif scored == full:
        if not clock.spend(share, 1, always=always):
            trial = skipped(candidate)  # the phase's share of the search is spent
        else:
            single = one_fold(score) if score.folds else score  # one training
            trial = single(recipe, name=candidate.name, phase="architecture")
            trial.details["one_training"] = {"epochs": full, "of": full, "forecast_seconds": round(once, 1)}
    elif direct is not None:
        trial = trained_once(score, recipe, direct, forecast_seconds=once, scored_epochs=scored)
    else:
        least = math.ceil(SHORTEST * full)
        trial = skipped(candidate, f"skipped: forecast {seconds:.0f} s, over {RECIPE_SHARE:.0%} of the time left"
                        + (f" (trained once, past the deadline even at {least} of its {full} epochs)"
                           if not_once is None else " (one training and its final training: past the deadline; not "
                           f"trained once without a score: {not_once})"))
    trial.details["forecast_seconds"] = round(seconds, 1)
    return trial


def trained_once(score: Scorer, recipe: dict[str, Any], epochs: int, *, forecast_seconds: float,
                 scored_epochs: int | None) -> Trial:
    """The trial of a default recipe the budget trains once, on every labelled row, with no score
    (:func:`optional_recipe`): ``epochs`` of its own (its schedule sized to them when fewer), no validation score or
    gap (NaN: the summary writes None), its parameters counted on a network built for it, and
    ``details["unscored"]``: the epochs and of how many, the forecast of one training at full length on the first
    fold (or the training split), and the epochs scoring it first would have left it (None: none fitted). The
    architecture phase keeps it and scores nothing beside it; the final phase trains it (``best_epoch``).

    Args:
        score: the run's :class:`Scorer`.
        recipe: the complete recipe (a fixed schedule).
        epochs: the epochs it trains (:func:`direct_epochs`).
        forecast_seconds: the forecast of its one training at full length.
        scored_epochs: the epochs one training and the final training would have fitted (:func:`fitting_epochs`).
    """
    full = recipe["train"]["max_epochs"]
    short = shortened(recipe, epochs) if epochs < full else recipe
    train, _ = one_split(score)
    per_epoch = forecast_seconds / full
    # what the epochs it lacks would cost in its final training, with the reserve (the summary's budget for them)
    laps = passes_of(recipe, score.train)
    more = (full - epochs) * per_epoch * (_final_factor(score, laps) - 1)
    metric, mode = resolve_metric(score.metric, score.data.task)
    return Trial(describe(short), "architecture", short, math.nan, math.nan, parameters_of(score, short), epochs, 0.0,
                 metric=metric, mode=mode, details={"best_epoch": epochs, "stop_reason": "not trained in the search",
                          # a forward row at a third of a training row's cost (as forecast counts it): the final
                          # phase costs the test split's evaluation from it
                          "forward_row": per_epoch / max(1, len(train) * laps) / 3,
                          "unscored": {"epochs": epochs, "of": full, "forecast_seconds": round(forecast_seconds, 1),
                                       "scored_epochs": scored_epochs, "more_seconds": round(more, 1)}})


def parameters_of(score: Scorer, recipe: dict[str, Any]) -> int:
    """The parameters of ``recipe``'s network on ``score``'s data, counted on a network built for it (not trained).

    Args:
        score: the run's :class:`Scorer`.
        recipe: the recipe.
    """
    config = recipe_config(score.base, recipe, score.train)
    name, options = model_choice(config, score.data)
    with torch.random.fork_rng():  # building seeds torch's generator: the run's own draws stay as they were
        return count_parameters(build_model(name, options, score.data, config.train.seed))


def unscored(trial: Trial) -> bool:
    """Whether ``trial`` is a default recipe the budget trains once, unscored (:func:`trained_once`).

    Args:
        trial: a trial.
    """
    return "unscored" in trial.details


def shortened(recipe: dict[str, Any], epochs: int) -> dict[str, Any]:
    """``recipe`` with its fixed schedule shortened to ``epochs`` (``train.max_epochs``; a one cycle or cosine
    schedule is sized from it, so it still warms up and anneals, over fewer steps).

    Args:
        recipe: a complete recipe with a fixed schedule.
        epochs: the epochs it trains, >= 1.

    Example:
        >>> shortened(RECIPES["vgg"], 25)["train"]["max_epochs"], RECIPES["vgg"]["train"]["max_epochs"]
        (25, 60)
    """
    return {**recipe, "train": {**(recipe.get("train") or {}), "max_epochs": epochs}}


def fitting_epochs(seconds: float, epochs: int, score: Scorer, clock: Clock, passes: int = 1) -> int | None:
    """The most epochs, up to ``epochs``, of a fixed schedule whose one training of ``epochs`` is forecast to take
    ``seconds`` such that one training of them is admitted (:func:`admits_one_fold`: it, the final training and the
    final model's evaluations end in time); None when fewer than :data:`SHORTEST` of ``epochs`` would be (the
    training seconds scale with the epochs).

    Args:
        seconds: the forecast of one training at ``epochs``.
        epochs: the schedule's own epochs.
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        passes: the recipe's passes over the rows an epoch (``train.repeat``, default 1).

    Example:
        >>> import torch
        >>> from fitguard.config import TrainConfig
        >>> rows = lambda n: TensorData(torch.zeros(n, 2), torch.zeros(n, dtype=torch.long))
        >>> score = Scorer(TrainConfig(), None, folds=[(rows(300), rows(150))] * 3)  # 450 labelled rows
        >>> clock = Clock(seconds=60.0, trials=None)
        >>> admits_one_fold(20.0, score, clock), admits_one_fold(22.0, score, clock)  # 57 s / (1 + 1.3 x 450 / 350)
        (True, False)
        >>> fitting_epochs(10.0, 60, score, clock), fitting_epochs(30.0, 60, score, clock)
        (60, 42)
        >>> fitting_epochs(80.0, 60, score, clock) is None  # 14 epochs: under a third of 60
        True
        >>> fitting_epochs(30.0, 60, score, clock, 2)  # 2 passes: a final epoch costs 1 + 1.3 x 900 / 650 of one
        40
    """
    per_epoch = seconds / epochs
    evaluation = _evaluation_seconds(per_epoch, score, passes)
    fit = min(epochs, math.floor(_one_fold_seconds(score, clock, evaluation, passes) / per_epoch))
    while fit > 0 and not admits_one_fold(per_epoch * fit, score, clock, evaluation=evaluation,
                                          passes=passes):  # float rounding
        fit -= 1
    return fit if fit >= max(1, math.ceil(SHORTEST * epochs)) else None


def direct_epochs(seconds: float, epochs: int, score: Scorer, clock: Clock, passes: int = 1) -> int | None:
    """The most epochs, up to ``epochs``, of a fixed schedule whose one training of ``epochs`` (on ``score``'s first
    fold, or its training split) is forecast to take ``seconds``, such that its final training alone on every
    labelled row, the final model's evaluations (both mirror views on images: they may be used) and the report end
    by the run's deadline (:func:`trained_once`); None when fewer than :data:`SHORTEST` of ``epochs`` would. The
    final training's seconds scale with the rows an epoch passes over, with its reserve, as in
    :func:`_final_factor`.

    Args:
        seconds: the forecast of one training at ``epochs``.
        epochs: the schedule's own epochs.
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        passes: the recipe's passes over the rows an epoch (``train.repeat``, default 1).

    Example:
        >>> import torch
        >>> from fitguard.config import TrainConfig
        >>> rows = lambda n: TensorData(torch.zeros(n, 2), torch.zeros(n, dtype=torch.long))
        >>> score = Scorer(TrainConfig(), None, folds=[(rows(300), rows(150))] * 3)  # 450 labelled rows
        >>> clock = Clock(seconds=60.0, trials=None)
        >>> fitting_epochs(30.0, 60, score, clock), direct_epochs(30.0, 60, score, clock)  # scored first: 42
        (42, 60)
        >>> direct_epochs(60.0, 60, score, clock)  # (57 - 0.5) s / (1.3 x 1 s an epoch x 450 / 350)
        33
        >>> direct_epochs(150.0, 60, score, clock) is None  # 13 epochs: under a third of 60
        True
        >>> direct_epochs(60.0, 60, score, clock, 2)  # (57 - 0.25) s / (1.3 x 1 s an epoch x 900 / 650)
        31
    """
    per_epoch = seconds / epochs
    final = per_epoch * (_final_factor(score, passes) - 1)  # an epoch of the final training, with its reserve
    views = 2 if getattr(score.data, "kind", None) == "image" else 1
    evaluations = views * _evaluation_seconds(per_epoch, score, passes)
    to_deadline = clock.deadline - time.perf_counter() - REPORT_SECONDS - evaluations
    fit = min(epochs, math.floor(to_deadline / final)) if to_deadline > 0 else 0
    return fit if fit >= max(1, math.ceil(SHORTEST * epochs)) else None


def mirror_probe(score: Scorer, seconds: float,
                 on_start: Callable[[], None] | None = None) -> tuple[dict[str, Any] | None, str]:
    """Flip test-time augmentation for an image recipe trained once without a score (:func:`trained_once`), which has
    no validation models of its own, measured by a probe: :data:`PROBE` ("cnn 16x32, pooled to 4"), trained as the
    search trains a network (early stopping) for at most :data:`PROBE_EPOCHS` epochs on the training split, its
    mirrored and plain validation predictions compared (:func:`mirror_scores`, with ``measured_by: "probe"``, the
    probe's name, epochs and seconds). The doctor runs it after the recipe's final training, in the ``seconds``
    left before the deadline once the final model's evaluations and the report are taken out: at least
    :data:`PROBE_MIN_SECONDS`, and it stops by half of them (the other half is for its three passes over the
    validation rows and, where it fails, the baseline's). Before the final training only the plan's reserve for
    that training was known, a forecast times :data:`RESERVE_FACTOR`: run there (session 26, first version), it
    fitted on one CIFAR-10 run and not on the next, whose final training then left 16-24 s unused. It
    counts only where it learned something: finite figures and, for classes, a plain score above the majority
    class's share of the validation rows by two standard errors -- a probe at chance reads every image as the same
    mirrored (its mirrored z is 0).

    Why a CNN: whether images look the same mirrored is the data's property, but the baseline, an MLP, is not
    translation-invariant, so mirroring moves every pixel it learned from and it reads a natural image's mirror as a
    worse image. CIFAR-10 50/class at 60 s seed 0 (session 25): the baseline's mirrored validation rows scored 2.9
    standard errors below its plain ones and the recipe shipped without the mirror views, which gain it 1.9 points
    of test accuracy there (0.495 against 0.514); this probe measured 0.7 standard errors on that seed, and 0.3 and
    -1.9 on seeds 1 and 2, where the baseline agreed; on Fashion-MNIST 100/class (shoes point left) 5.8-6.4 and on
    MNIST 50/class 10-14, as the baseline. 0.6-1.9 s on those sets here (session 26). A probe this small, on a
    hundred validation rows, has little power: on hard images it may pass views that a better model would show
    worse (the two standard errors are a test of "no worse", not a proof of "the same").

    Args:
        score: the run's :class:`Scorer` (its base spec, data and training options).
        seconds: the time it may take, its evaluations included.
        on_start: called when the probe starts training (a progress display); None (default): nothing.

    Returns:
        The probe's record, or None, and why not ("" with a record): then the caller falls back on the baseline's
        model.
    """
    data = score.data
    if data.kind != "image" or data.val is None or not len(data.val):
        return None, "the data are not images with validation rows"
    if seconds < PROBE_MIN_SECONDS:
        return None, "it did not fit the time the final training left"
    if on_start is not None:
        on_start()
    recipe = {"model": dict(PROBE)}
    started = time.perf_counter()
    end = started + seconds / 2
    probe, run, _ = train_recipe(score.base, recipe, data, name=describe(recipe), phase="mirror probe",
                                 callbacks=(StopAtDeadline(lambda: end),),
                                 **{**score.train, "max_epochs": PROBE_EPOCHS})
    if cut_by_deadline(probe) or probe.status != "done":
        return None, "the deadline cut its training"
    found, why = measured_mirror(run, data, score.metric, "probe")
    if found is None:
        return None, why
    return {**found, "probe": probe.name, "probe_epochs": probe.epochs,
            "probe_seconds": round(time.perf_counter() - started, 2)}, ""


def measured_mirror(run: Any, data: Dataset, metric: str, by: str) -> tuple[dict[str, Any] | None, str]:
    """Flip test-time augmentation measured on the validation split by ``run``'s model, another than the kept
    recipe's own (``measured_by``: ``by``, "probe" or "baseline"; :func:`mirror_probe`), and None with why where
    that model's measure says nothing: no images, figures that are not finite (a model that diverged), or, for
    classes scored by accuracy, a plain score no higher than the majority class's share of the rows by two standard
    errors (a model at chance predicts an image and its mirror alike: a mirrored z of 0, whatever the images).

    Args:
        run: the measuring model's Run.
        data: the dataset (its validation split).
        metric: the run's validation metric ("auto" or a ``val_*`` key).
        by: who measures: "probe" or "baseline".
    """
    key = resolve_metric(metric, data.task)
    found = (mirror_scores(run, data.val, key, evaluator(run).evaluate(data.val, prefix="val_"))
             if data.val is not None and len(data.val) else None)
    if not found or not all(math.isfinite(v) for v in found.values()):
        return None, "it measured nothing"
    if data.task == "classification" and key[0] == "val_accuracy":
        share = float(torch.bincount(data.val.y).max()) / len(data.val)
        if found["plain_val_score"] <= share + 2 * accuracy_standard_error(share, len(data.val)):
            return None, f"it scored {found['plain_val_score']:.2f}, no better than always the majority class"
    return {**found, "measured_by": by}, ""


def _evaluation_seconds(per_epoch: float, score: Scorer, passes: int = 1) -> float:
    """The final phase's evaluations of a recipe whose one training (on ``score``'s first fold or training split,
    ``passes`` passes over it an epoch) takes ``per_epoch`` seconds an epoch: a forward pass over the labelled rows
    (the gap) and the test rows, a row's costing about a third of a training row's (as in :func:`forecast`). Session
    23, CIFAR-10 50/class at 60 s: the VGG recipe's on 10,500 rows took 11.6 s (with the mirror views, twice), which
    the deadline had not counted.
    """
    train, val = one_split(score)
    test = getattr(score.data, "test", None)
    rows = len(train) + len(val) + (len(test) if test is not None else 0)
    return per_epoch / max(1, len(train) * passes) / 3 * rows


def one_split(score: Scorer) -> tuple[TensorData, TensorData]:
    """The rows one training of ``score`` trains and validates on: its first fold, or the training and validation
    splits (what :func:`forecast` times, and one training of a recipe is admitted on).

    Args:
        score: the run's :class:`Scorer`.
    """
    return score.folds[0] if score.folds else (score.data.train, score.data.val)


def one_fold(score: Scorer) -> Scorer:
    """``score`` on its first fold alone (one training instead of k), trained in this process; its trials say so
    (``details["one_fold"]``) and are stored apart from full scores.

    Args:
        score: a cross-validating :class:`Scorer`.
    """
    assert score.folds, "one_fold needs a cross-validating scorer"
    return replace(score, folds=score.folds[:1], grouped=False, queue=None, first_fold_of=len(score.folds))


def single_training(trial: Trial) -> bool:
    """Whether a default recipe's ``trial`` was scored by one training because its full scoring did not fit
    (:func:`optional_recipe`: on the first fold alone, or past :data:`RECIPE_SHARE` of the time left): kept, it is
    the final training's recipe from then on (the remedy phases leave it, :func:`settled`). A recipe trained once
    without a score (:func:`unscored`) is not one: nothing scored it.

    Args:
        trial: a scored trial.
    """
    return "one_fold" in trial.details or "one_training" in trial.details


def scored_by(score: Scorer, trial: Trial) -> Scorer:
    """The scorer whose trainings scored ``trial``: :func:`one_fold` of ``score`` for a one-fold trial, else
    ``score`` (what its trainings, training rows and validation rows were).

    Args:
        score: the run's :class:`Scorer`.
        trial: a trial it scored.
    """
    return one_fold(score) if "one_fold" in trial.details and score.folds else score


def admits_one_fold(seconds: float, score: Scorer, clock: Clock, *, evaluation: float = 0.0,
                    passes: int = 1) -> bool:
    """Whether a recipe whose one training (on the first fold, or the validation split without folds) is forecast to
    take ``seconds`` may be scored so: that training ends before the search's deadline, and it, then its final
    training on every labelled row (forecast in proportion to the rows, times :data:`RESERVE_FACTOR`) and the report
    (:data:`REPORT_SECONDS`), and ``evaluation``, end before the run's deadline.

    Args:
        seconds: the one training's forecast.
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        evaluation: the seconds of the final model's evaluations (default 0).
        passes: the recipe's passes over the rows an epoch (default 1).

    Example: see :func:`fitting_epochs`.
    """
    return seconds <= _one_fold_seconds(score, clock, evaluation, passes)


def _one_fold_seconds(score: Scorer, clock: Clock, evaluation: float = 0.0, passes: int = 1) -> float:
    """The longest one training :func:`admits_one_fold` admits now."""
    to_deadline = clock.deadline - time.perf_counter() - REPORT_SECONDS - evaluation
    return min(clock.left(), to_deadline / _final_factor(score, passes))


def _final_factor(score: Scorer, passes: int = 1) -> float:
    """One training on ``score``'s first fold (or training split) and the final training on every labelled row, with
    its reserve, in units of the one training, for a recipe of ``passes`` passes over its rows an epoch. The seconds
    scale with the rows an epoch passes over: the one training's training rows (each pass) and its validation rows
    at a third of the cost (a forward pass, once an epoch, as :func:`forecast` counts them), the final training's
    every labelled row (each pass; until session 24 the validation rows were left out of the one training's cost:
    1.5 times its seconds where they are 1.29 times on 3 folds).

    Example:
        >>> import torch
        >>> from fitguard.config import TrainConfig
        >>> rows = lambda n: TensorData(torch.zeros(n, 2), torch.zeros(n, dtype=torch.long))
        >>> score = Scorer(TrainConfig(), None, folds=[(rows(60), rows(30))] * 3)
        >>> round(_final_factor(score), 3), round(_final_factor(score, 2), 3)  # 1 + 1.3 x 90/70, 1 + 1.3 x 180/130
        (2.671, 2.8)
    """
    train, val = one_split(score)
    return 1 + RESERVE_FACTOR * passes * (len(train) + len(val)) / max(1.0, passes * len(train) + len(val) / 3)


def on_first_fold(trial: Trial) -> Trial:
    """A cross-validated trial as its first fold scored it: that fold's score and validation loss (the mean loss
    when the trial predates per-fold losses); a one-fold trial as it is. The architecture phase compares a
    one-fold recipe with the networks so: the same rows on both sides.

    Args:
        trial: a scored trial.

    Example:
        >>> t = Trial("cnn", "architecture", {}, 0.9, 0.0, 10, 30, 1.0,
        ...           details={"folds": [0.8, 0.95, 0.95], "val_loss": 0.3, "fold_losses": [0.5, 0.2, 0.2]})
        >>> view = on_first_fold(t)
        >>> view.val_score, view.details["val_loss"], t.val_score
        (0.8, 0.5, 0.9)
    """
    folds = trial.details.get("folds")
    if "one_fold" in trial.details or not folds:
        return trial
    losses = trial.details.get("fold_losses") or [trial.details.get("val_loss", math.inf)]
    return replace(trial, val_score=folds[0], details={**trial.details, "val_loss": losses[0]})


def settle_tie(score: Scorer, second: Callable[[], Scorer | None], clock: Clock, done: list[Trial], chosen: Trial,
               *, epsilon: float, rows: int) -> Trial:
    """When the networks within ``epsilon`` of the best validation score mix a fixed schedule (a complete recipe)
    with early stopping, the best of each (by :func:`tie_break`) are the finalists; else ``chosen`` as it is. Where
    ``rows`` validation rows cannot resolve a point of accuracy (:func:`resolves`), a fixed schedule ties within
    :func:`noise` of the best score, not ``epsilon`` alone (since session 22); one the deadline cut ties nothing.

    - When the rows cannot resolve a point, the fixed schedule is kept unless the network leads it by more than
      :func:`noise`: a smaller lead is noise, and an early-stopped score is a selection (below) where the recipe's
      is none.
    - Else both are trained again on ``second()``, a second split of the same labelled rows, as each would be
      shipped: the recipe on its schedule, the early-stopped network for the epochs its first split chose, without
      early stopping. The higher score there is kept (on an exact tie, the fixed schedule).

    Both finalists keep the record in ``details["tie"]`` (the search's score, the second split's and the epochs
    trained there, or None without one), and their first-split trials stay what the later phases compare with.

    Why: neither the tie-break's validation loss nor the first split's score compares the two kinds. An
    early-stopped network's score and loss are those of the epoch that was best on the very rows that score it (a
    selection, so optimistic); a fixed schedule's are its last epoch's, selected on nothing. Session 19,
    Fashion-MNIST 100/class seed 2: the one-cycle recipe validated at 0.870 (loss 0.512), a CNN at 0.875 (loss
    0.410); the loss kept the CNN, which tested 0.839, where the recipe alone tests 0.860. Scored again with early
    stopping on a second split (session 20, first version), the CNN led again, 0.91 against 0.86, and still
    tested below the recipe (0.841-0.847): on fresh rows it had again been stopped where those rows liked it best.
    Trained as shipped (second version) it still led, 0.87 against 0.86, and tested 0.839: 200 rows do not resolve
    two points, whichever way they are scored. So on splits that small the tie goes to the recipe (third version).
    The loss still decides ties within one kind. A lead beyond ``epsilon`` but within the noise is no more evidence
    than one within it (fourth version, session 22): on CIFAR-10 50/class at 120 s seed 1 the recipe, scored on one
    fold (:func:`optional_recipe`), validated 0.455 and a CNN led it there by more than ``epsilon``, within the
    noise of those 167 rows (11 points); the CNN kept tested 0.437, where seed 0, which kept the recipe, tested
    0.517.

    The second split runs only when its trainings, forecast from what the finalists took on the first split,
    fit :data:`RECIPE_SHARE` of the time left (under a time budget; else when the clock spends them), and counts
    only when neither finalist's second training was cut by the deadline.

    Args:
        score: the run's :class:`Scorer` (the first split).
        second: gives the scorer of the second split (:func:`second_split`; None: there is none), asked only when
            the split is needed; its trials' phase is "tie".
        clock: the run's :class:`Clock`.
        done: the architecture phase's scored trials.
        chosen: the trial the tie-break kept.
        epsilon: how far below the best validation score a network ties.
        rows: the validation rows behind a score (:func:`validation_rows`).
    """
    leader = max(done, key=lambda t: t.val_score)
    best = leader.val_score
    # where the rows cannot resolve a point, a fixed schedule ties the networks within the noise, not epsilon alone
    window = epsilon if resolves(leader, rows) else max(epsilon, noise(best, rows))
    # a fixed schedule the deadline cut is not its schedule: its score says nothing of it
    finalists = [min((t for t in done if fixed_schedule(t.recipe) is kind and t.val_score >= best - reach
                      and not (kind and cut_by_deadline(t))), key=tie_break, default=None)
                 for kind, reach in ((True, window), (False, epsilon))]
    if any(f is None for f in finalists):
        return chosen
    pair = [f for f in finalists if f is not None]
    if not resolves(pair[0], rows):
        # the network is kept only when it leads by more than the noise (a wide --epsilon can tie far apart scores)
        margin = noise(pair[0].val_score, rows)
        kept = pair[1] if pair[1].val_score - pair[0].val_score > margin else pair[0]
        for t in pair:
            t.details["tie"] = {"search_score": t.val_score, "fresh_score": None, "fresh_folds": [], "epochs": None,
                                "kept": t is kept, "noise": margin}
        return kept
    fresh_score = second()
    if fresh_score is None:
        return chosen
    seconds = sum(t.seconds for t in pair) * fresh_score.trainings / max(1, score.trainings)
    if clock.seconds is not None:
        if seconds > RECIPE_SHARE * clock.left():
            return chosen
        clock.spend(trainings=2 * fresh_score.trainings, always=True)
    elif not clock.spend(trainings=2 * fresh_score.trainings):
        return chosen
    again = []
    for t in pair:
        recipe, options = as_shipped(t)
        again.append(fresh_score(recipe, name=t.name, phase="tie", **options))
    if any(cut_by_deadline(t) or t.status != "done" for t in again):
        return chosen
    kept = max(zip(pair, again), key=lambda p: p[1].val_score)[0]  # an exact tie: the fixed schedule (first)
    for t, fresh in zip(pair, again):
        t.details["tie"] = {"search_score": t.val_score, "fresh_score": fresh.val_score,
                            "fresh_folds": fresh.details.get("folds", [fresh.val_score]), "epochs": fresh.epochs,
                            "kept": t is kept}
    return kept


def tie_partner(score: Scorer, kept: Trial, trials: list[Trial]) -> Trial | None:
    """The early-stopped network the validation rows cannot tell from ``kept``, the complete recipe (a fixed schedule)
    the architecture phase chose among ``trials`` and the search kept as given, on rows too few to resolve a point
    (:func:`resolves`): the best-scored network of ``trials`` whose score is within :func:`noise` of the recipe's,
    above or below it (each on the rows the recipe was scored on: a recipe scored on one fold is compared with the
    networks' first fold, as :func:`architecture` compares them); None when there is none, when the search kept
    something else (a remedy's variant, such as a schedule remedy's fixed epochs on an early-stopped network), when
    the recipe was trained once unscored or cut by the deadline, or for transferred models and networks of the
    user's code (``--model package.module:function``: they predict in the default memory layout, the ensemble in the
    recipe's). Networks the deadline cut in the search do not count, as in :func:`settle_tie`. The final training
    averages it into the kept recipe's ensemble as its last member (one of ``--ensemble``'s places, so 2 or more)
    when its training fits the time left beside the recipe's seeds and the refit on every row, and drops it where
    the run's deadline cut it there.

    Why: where validation cannot tell two networks of different families apart, the mean of both hedges between
    them, and networks that differ in architecture err on different rows more than seeds of one do (Zaidi et al.,
    "Neural Ensemble Search for Uncertainty Estimation and Dataset Shift", NeurIPS 2021). Measured alone on four
    development image sets (``benchmarks/tie_partner.py``: the VGG recipe on every labelled row, the doctor's first
    CNN trained as shipped, 3 seeds each; section ``tie_partner_2026-12-06_session28`` of
    ``benchmarks/reference/doctor_cpu.json``), the recipe plus the CNN against the recipe alone: +1.2 points on
    CIFAR-10 50/class (the CNN alone 7 points below the recipe), +0.8 on digits 10%, +0.1 on Fashion-MNIST
    100/class, -0.1 on MNIST 50/class; as a third member beside two seeds of the recipe +0.7, 0.0, 0.0 and 0.0.
    Against a second seed of the recipe in its place it is 0.3-0.6 points lower on three of the four, but it trains
    in a third to a tenth of the recipe's time (digits aside), so it fits where a second seed does not. A network
    below the recipe by less than the noise counts as well as one above it: the CNN that helped on CIFAR-10 trailed
    there.

    Args:
        score: the run's :class:`Scorer`.
        kept: the trial the search kept.
        trials: the architecture phase's trials.
    """
    chosen = next((t for t in trials if t.details.get("chosen")), None)
    if (chosen is None or chosen.recipe != kept.recipe or not fixed_schedule(kept.recipe) or "transfer" in kept.recipe
            or unscored(kept) or cut_by_deadline(kept) or kept.status != "done" or not math.isfinite(kept.val_score)):
        return None
    rows = validation_rows(scored_by(score, kept))
    if resolves(kept, rows):
        return None
    # a one-fold recipe's networks: their first fold's score, as the architecture phase compared them
    view = on_first_fold if "one_fold" in kept.details else (lambda t: t)

    def compared(trial: Trial) -> float:
        return view(trial).val_score

    networks = [t for t in trials if t is not kept and t.status == "done" and math.isfinite(compared(t))
                and not fixed_schedule(t.recipe) and "transfer" not in t.recipe and not cut_by_deadline(t)
                and not is_import_path(str((t.recipe.get("model") or {}).get("name", "")))]
    if not networks:
        return None
    best = max(networks, key=compared)
    return best if abs(compared(best) - kept.val_score) <= noise(kept.val_score, rows) else None


#: a training alone costs up to this many times its share of a grouped training of its folds: on this CPU the
#: share is 1.2-1.3x below it for the digits CNN in channels-last memory and 1.5-1.7x for the digits MLP
#: (``benchmarks/reference/cv_speed_cpu*.json``); on an NVIDIA H200 2.0-2.3x for a Fashion-MNIST CNN, where a forecast
#: from it runs up to a third short (the final trainings stop at the run's deadline all the same)
GROUPED_ALONE = 1.7


def training_cost(score: Scorer, trial: Trial) -> float:
    """Seconds one training of ``trial``'s recipe for the epochs it ships with (:func:`chosen_epochs`) takes on the
    rows one of its search trainings had, forecast from what those trainings took per epoch (their share of a
    grouped training times :data:`GROUPED_ALONE`): the ratio of two recipes' costs scales a measured training of
    one to the other.

    Args:
        score: the run's :class:`Scorer`.
        trial: a scored trial.

    Example:
        >>> class Folds:
        ...     folds, trainings = [None] * 3, 3
        >>> t = Trial("cnn", "architecture", {"model": {"name": "cnn"}}, 0.9, 0.0, 10, 30, 6.0,
        ...           details={"best_epoch": 15})
        >>> training_cost(Folds(), t)  # 2 s a training of 30 epochs; 15 as shipped
        1.0
    """
    per_epoch = trial.seconds / max(1, scored_by(score, trial).trainings) / max(1, trial.epochs)
    return per_epoch * chosen_epochs(trial) * (GROUPED_ALONE if trial.details.get("grouped") else 1.0)


def as_shipped(trial: Trial) -> tuple[dict[str, Any], dict[str, Any]]:
    """A scored trial's recipe and training options as the final phase trains it: a fixed schedule as it is; an
    early-stopped network for the epochs validation chose (:func:`chosen_epochs`), without early stopping.

    Args:
        trial: a scored trial.

    Example:
        >>> t = Trial("cnn", "architecture", {"model": {"name": "cnn"}}, 0.9, 0.0, 10, 30, 1.0,
        ...           details={"best_epoch": 18})
        >>> as_shipped(t)
        ({'model': {'name': 'cnn'}, 'early_stopping': None}, {'max_epochs': 18})
    """
    if fixed_schedule(trial.recipe):
        return trial.recipe, {}
    return {**trial.recipe, "early_stopping": None}, {"max_epochs": chosen_epochs(trial)}


def chosen_epochs(trial: Trial) -> int:
    """The epoch count validation chose: the folds' median best epoch, or the holdout run's best epoch (what the
    final phase trains for).

    Args:
        trial: a scored trial.
    """
    return int(trial.details.get("best_epoch") or trial.epochs or 1)


#: the mirror views are averaged only where the mirrored images alone score at most this many standard errors worse
#: than the plain ones (paired by row): a one-sided test at about 2% that the data look the same mirrored
MIRROR_Z = 2.0
#: the most epochs of :func:`mirror_probe`'s CNN (its decisions at 10 and 30 epochs were the same on CIFAR-10,
#: Fashion-MNIST and MNIST, 3 seeds each; session 26), and the least time it is started with
PROBE_EPOCHS = 10
PROBE_MIN_SECONDS = 2.0
#: :func:`mirror_probe`'s network: the first and smallest pooled CNN of :data:`ARCHITECTURES`' image networks
PROBE: dict[str, Any] = {"name": "cnn", "widths": [16, 32], "pool_to": 4}


def mirror_helps(trial: Trial) -> bool:
    """Whether the kept recipe's models predict with flip test-time augmentation (each image's prediction the mean
    over it and its left-right mirror; :class:`~fitguard.models.ensemble.MeanEnsemble` ``mirror``), from what the
    validation rows that scored the recipe measured (every fold's, and both splits' when confirmed;
    ``details["mirror"]``, :func:`fitguard.search.scoring.mirror_scores`): when

    - the mirrored images alone score no worse than the plain ones, within :data:`MIRROR_Z` standard errors: the
      data look the same mirrored. Averaging a view that is worse drags the prediction towards it: Fashion-MNIST's
      shoes all point left, the mirrored images alone scored 0.70 against 0.86 and the average 0.85 (test rows,
      the VGG recipe, seed 0); a mirrored 3 is no digit at all;
    - and the average had the lower validation loss (the log loss for classes: a proper score of the probabilities
      the average changes, where accuracy moves by whole rows).

    The average's accuracy is not asked to be as high: two views that score alike, averaged, gain accuracy where
    they disagree, and on a few hundred validation rows that gain is a handful of rows, within noise. Asked (until
    session 21), it refused the mirror views on CIFAR-10 100/class seed 1 at 5 rows of 200 (0.575 against 0.600,
    loss 1.50 against 1.67), where the same recipe alone gains 1.8-2.2 points of test accuracy with them on each of
    3 seeds (10,000 test rows; ``benchmarks/reference/doctor_cpu.json``, ``run_2026-12-05_session21``).

    Every figure comes from the same trained models on the same rows, so their differences are the prediction
    rule's alone. Grouped folds and data that are not images measure no mirror views: False.

    Measured by another model than the recipe's own (``measured_by`` "probe" or "baseline": a recipe trained once,
    :func:`mirror_probe`), only the first condition counts: whether the data look the same mirrored is the data's
    property, which that model measures; whether averaging lowers the loss is the averaged model's, and that model
    is not the one shipped. On CIFAR-10 50/class seed 0 the probe's mean had the higher loss (1.850 against 1.833 on
    100 rows, a probe at 0.30 accuracy) where the recipe gains 1.9 points of test accuracy with the views.

    Args:
        trial: the kept recipe's trial.

    Example:
        >>> m = {"val_score": 0.575, "val_loss": 1.50, "plain_val_score": 0.60, "plain_val_loss": 1.67,
        ...      "mirrored_val_score": 0.535, "mirrored_z": 1.997}
        >>> t = Trial("vgg", "architecture", {}, 0.60, 0.2, 10, 60, 1.0, details={"mirror": m})
        >>> mirror_helps(t), mirror_helps(replace(t, details={"mirror": {**m, "val_loss": 1.7}}))
        (True, False)
        >>> mirror_helps(replace(t, details={"mirror": {**m, "mirrored_val_score": 0.45, "mirrored_z": 3.1}}))
        False
    """
    mirror = trial.details.get("mirror")
    if not mirror or not all(math.isfinite(mirror[k]) for k in ("mirrored_z", "val_loss", "plain_val_loss")):
        return False
    if mirror["mirrored_z"] > MIRROR_Z:
        return False
    return mirror.get("measured_by", "recipe") != "recipe" or mirror["val_loss"] < mirror["plain_val_loss"]


def second_split(score: Scorer, data: Dataset, *, folds: int, seed: int) -> Scorer | None:
    """``score`` on a second split of the same labelled rows (train + val), shuffled with ``seed``: k-fold
    cross-validation with ``folds`` folds when ``score`` cross-validates; else one holdout split of about the sizes
    the first had (the first fold of :func:`fitguard.data.kfold` with k = labelled rows / validation rows, rounded;
    stratified, so a class's rows may round the other way).
    None when there is no validation split to mirror.

    Args:
        score: the run's :class:`Scorer`.
        data: the dataset.
        folds: folds of a cross-validated second split, >= 2.
        seed: the second split's shuffle seed.
    """
    if score.folds:
        return replace(score, folds=list(kfold(data, k=folds, seed=seed)), fold_seed=seed)
    if data.val is None or len(data.val) == 0:
        return None
    k = max(2, round((len(data.train) + len(data.val)) / len(data.val)))
    return replace(score, folds=[next(iter(kfold(data, k=k, seed=seed)))], fold_seed=seed, grouped=False)


def forecast(score: Scorer, recipe: dict[str, Any], *, batches: int = 4) -> float:
    """Seconds the scoring of a fixed-schedule ``recipe`` will take here: three epochs of ``batches`` batches timed
    (the first, which builds and warms up, is not counted), scaled to the schedule's steps and validation rows, times
    the trainings a score takes (the folds). Measured in session 17: 42 s forecast, 47 s taken (Fashion-MNIST
    100/class, the VGG recipe); the forecast itself took 2.7 s.

    Args:
        score: the run's :class:`Scorer` (its data, folds and training options).
        recipe: a recipe with a fixed schedule (``train.max_epochs``).
        batches: batches per timed epoch (default 4).
    """
    train, val = one_split(score)
    config = recipe_config(score.base, recipe, score.train)
    size = config.train.batch_size
    sample = TensorData(train.X[: batches * size], train.y[: batches * size])
    probe = TensorData(train.X[:size], train.y[:size])
    timed = {**recipe, "train": {**(recipe.get("train") or {}), "max_epochs": 3, "repeat": 1}}
    _, _, history = train_recipe(score.base, timed, score.data, name="forecast", phase="forecast", train=sample,
                                 val=probe, **score.train)
    step = min(history["time"][1:]) / (batches + 1 / 3)  # a validation row costs about a third of a training row's
    # an epoch's passes over the rows make one stream of batches; its validation runs once
    steps = math.ceil(config.train.repeat * len(train) / size)
    per_training = step * config.train.max_epochs * (steps + len(val) / size / 3)
    return per_training * score.trainings


def admits_recipe(seconds: float, clock: Clock) -> bool:
    """Whether a default recipe whose scoring is forecast to take ``seconds`` may start: at most
    :data:`RECIPE_SHARE` of the search's time left (the architecture phase asks only under a time budget).

    Args:
        seconds: the forecast (:func:`forecast`).
        clock: the run's :class:`Clock`.
    """
    return seconds <= RECIPE_SHARE * clock.left()


def within_epsilon(items: Sequence[T], epsilon: float, *, score: Callable[[T], float],
                   prefer: Callable[[T], Any]) -> T:
    """The architecture phase's rule: of the items whose score is within ``epsilon`` of the best, the one that
    ``prefer`` ranks first (its smallest key).

    Args:
        items: the scored candidates, at least one.
        epsilon: how far below the best score the kept item may be, >= 0.
        score: an item's validation score, higher is better.
        prefer: the key that orders the items within ``epsilon``, smallest first (the doctor's: the validation
            loss, then the parameters).

    Raises:
        ValueError: no items.

    >>> nets = {"small": (0.90, 0.31, 1_000), "medium": (0.93, 0.22, 5_000), "large": (0.931, 0.20, 20_000)}
    >>> within_epsilon(list(nets), 0.005, score=lambda n: nets[n][0], prefer=lambda n: nets[n][2])
    'medium'
    >>> within_epsilon(list(nets), 0.005, score=lambda n: nets[n][0], prefer=lambda n: nets[n][1:])
    'large'
    """
    if not items:
        raise ValueError("`items` is empty: the rule needs at least one scored candidate")
    best = max(score(item) for item in items)
    return min((item for item in items if score(item) >= best - epsilon), key=prefer)


def tie_window(views: Sequence[Trial], epsilon: float, rows: int, kind: str) -> float:
    """How far below the best validation score the architecture phase's kept network may be, with ``--one-se``:
    on a table scored by accuracy, the larger of ``epsilon`` and one standard error of the best accuracy on ``rows``
    validation rows, √(p (1 − p) / rows) (p kept half a row from 0 and 1); elsewhere ``epsilon``.

    Why: Breiman's one-standard-error rule (Breiman et al., 1984; Hastie et al., *The Elements of Statistical
    Learning*, 7.10): candidates whose scores differ by less than their noise are not told apart by them, and
    another criterion chooses among them -- here the tie-break's validation loss (:func:`tie_break`), a proper
    score that does not move in whole rows. On the tables measured (``benchmarks/architecture_rule.py``, 5 seeds,
    stored runs re-ranked) it kept the MLP on Fourier features on Vowel where ``epsilon`` kept a plain MLP 0.7
    points ahead on 139 validation rows (one row): +0.9 points, 15 test rows vs 2, p = 0.002; DNA +0.2 (23 vs
    14, p = 0.15), Ionosphere -0.2 (1 vs 2), breast_cancer and digits as a table unchanged. Tables only: on
    Fashion-MNIST 100/class the same window kept the better-calibrated MLP over the CNNs, 1.5 points lower (521
    rows vs 983): across model families the loss does not rank what accuracy does, while a table's built-in
    candidates are all MLPs (a table's ``--recipe`` or ``--model`` may add another family: the rule holds for them
    untested).

    Args:
        views: the scored candidates, at least one.
        epsilon: the tie's floor, ``--epsilon``.
        rows: the validation rows behind a score (:func:`validation_rows`).
        kind: the kind of data ("table", "image", "signal").

    Example:
        >>> t = Trial("a", "architecture", {}, 0.9, 0.0, 10, 5, 1.0, metric="val_accuracy")
        >>> round(tie_window([t], 0.005, 100, "table"), 3), tie_window([t], 0.005, 100, "image")
        (0.03, 0.005)
    """
    best = max(views, key=lambda t: t.val_score)
    if kind != "table" or best.metric != "val_accuracy" or rows < 1:
        return epsilon
    return max(epsilon, accuracy_standard_error(best.val_score, rows))


def validation_rows(score: Scorer) -> int:
    """The validation rows behind one of ``score``'s scores: every fold's (each labelled row once), or the
    validation split's.

    Args:
        score: the run's :class:`Scorer`.
    """
    if score.folds:
        return sum(len(val) for _, val in score.folds)
    return len(score.data.val) if score.data.val is not None else 0


def resolves(trial: Trial, rows: int, step: float = RESOLVE) -> bool:
    """Whether validation accuracies on ``rows`` rows tell two recipes ``step`` apart: two standard errors of the
    difference of two independent accuracies near the trial's, 2·√(2·p·(1 − p) / rows), are at most ``step``.
    Scored otherwise than by an accuracy (a loss): True (no binomial error to go by).

    At p = 0.87 that takes 9,000 validation rows for one point; the 200 of Fashion-MNIST 100/class resolve 6.7.

    Args:
        trial: the trial whose score sets p.
        rows: the validation rows behind a score (:func:`validation_rows`).
        step: the difference to resolve (default :data:`RESOLVE`).

    Example:
        >>> t = Trial("a", "architecture", {}, 0.87, 0.0, 10, 5, 1.0)
        >>> resolves(t, 200), resolves(t, 10_000), resolves(replace(t, metric="val_loss", val_score=-0.3), 200)
        (False, True, True)
    """
    return not trial.metric.endswith("accuracy") or noise(trial.val_score, rows) <= step


def noise(p: float, rows: int) -> float:
    """Two standard errors of the difference of two independent accuracies near ``p`` on ``rows`` rows each,
    2·√(2·p·(1 − p) / rows): a smaller difference is not resolved (p is kept half a row from 0 and 1).

    Args:
        p: the accuracy.
        rows: the rows behind each accuracy.

    Example:
        >>> round(noise(0.87, 200), 4), round(noise(0.87, 9_500), 4)
        (0.0673, 0.0098)
    """
    return 2 * math.sqrt(2) * accuracy_standard_error(p, max(1, rows))


def settled(score: Scorer, chosen: Trial) -> str | None:
    """Why the remedy phases leave the architecture phase's ``chosen`` as it is, or None when they search on it:
    a complete recipe (its own schedule and remedies, tuned as a whole) is kept as given when its validation
    cannot resolve a change of :data:`RESOLVE` (:func:`resolves`), or when it was scored on one fold alone
    (:func:`optional_recipe`; ``score`` is then :func:`scored_by`'s): its k folds did not fit the budget, so a
    change's would not either, and one fold's score does not rank with k folds' means; likewise when it was scored
    by one training past :data:`RECIPE_SHARE` of the time left; and when it was trained once without a score
    (:func:`trained_once`: there is nothing to compare a change with, and the search has ended). The learning curve
    still runs when the plan has it and the search has time left (how many more rows would help is not a remedy
    chosen by validation); the time left goes to the ensemble's members (session 20, Fashion-MNIST seed 0 at
    300 s: the learning curve took 114 s of the recipe's trainings, and one member fitted).

    Why: on small data the remedy phases pick, among ten or more changes to the recipe, the best of noisy scores,
    and the changes worth trying on a tuned recipe are small. Session 20, Fashion-MNIST 100/class at 300 s: the
    ablation kept "augmentation" (validation 0.89 against the recipe's 0.87, 4 of 200 rows) and "augmentation
    with flips" (0.88 against 0.85); they tested 0.853 and 0.854, where the recipe as given tests 0.860-0.862.
    Changing one ingredient of the VGG peer at a time moved it by at most 0.5 points, its schedule aside
    (``benchmarks/peer_ablation.py``). An ensemble of the recipe's refits gains reliably: 4 of them, 1.9 points
    on CIFAR-10 100/class.

    Args:
        score: the run's :class:`Scorer`.
        chosen: the architecture phase's kept trial.
    """
    if unscored(chosen):
        return ("a complete recipe trained once without a score is kept as given: there is no validation score to "
                "compare a change with, and a change's training would not fit the budget either")
    rows = validation_rows(score)
    if not fixed_schedule(chosen.recipe):
        return None
    if not resolves(chosen, rows):
        return (f"a complete recipe is kept as given: {rows} validation rows cannot tell a change of "
                f"{RESOLVE * 100:g} point{'s' if RESOLVE != 0.01 else ''} from noise, so no remedy is searched on it")
    if "one_fold" in chosen.details:
        folds = chosen.details["one_fold"]["folds"]
        return (f"a complete recipe scored on fold 1 of {folds} alone is kept as given: its {folds} folds did not "
                "fit the budget, nor would a change's, so no remedy is searched on it")
    if "one_training" in chosen.details:
        return (f"a complete recipe scored by one training over {RECIPE_SHARE:.0%} of the time left is kept as given: "
                "a change's training would not fit the budget either, so no remedy is searched on it")
    return None


def tie_break(trial: Trial) -> tuple[float, float]:
    """How the architecture phase orders the networks within ``epsilon`` of the best score: the validation loss,
    then the parameters; where the score is the validation loss itself (regression), the parameters, then the loss
    (the loss adds nothing there, and the smaller network is kept, as before session 15).

    Args:
        trial: a scored trial.
    """
    if trial.metric == "val_loss":
        return float(trial.parameters), val_loss(trial)
    return val_loss(trial), float(trial.parameters)


def val_loss(trial: Trial) -> float:
    """A scored trial's validation loss; infinity when it has none (a loss is a finer score than an accuracy on a
    few hundred rows: it does not move in whole rows).

    Args:
        trial: a scored trial.
    """
    return -rank(trial)[1]


def _beyond_the_grid(done: list[Trial]) -> dict[str, Any] | None:
    """The best trial's network twice as wide, when it is the largest of its scored family; else None. A complete
    recipe (``--recipe``) is a family of its own: its schedule was sized for its network."""
    if not done:
        return None
    leader = max(done, key=rank)
    model = leader.recipe["model"]
    key = "hidden" if "hidden" in model else "widths" if "widths" in model else None
    # a family: the same builder and the same Fourier features, or none (an MLP on them is not a wider plain MLP)
    family = [t for t in done if t.recipe["model"]["name"] == model["name"] and tunable(t.recipe)
              and (t.recipe["model"].get("fourier") or 0) == (model.get("fourier") or 0)
              and fixed_schedule(t.recipe) == fixed_schedule(leader.recipe)]
    if key is None or not tunable(leader.recipe) or len(family) < 2 or any(
            t.parameters > leader.parameters for t in family):
        return None
    return {**leader.recipe, "model": {**model, key: [2 * width for width in model[key]]}}


def _l2(lam: float) -> dict[str, Any]:
    return {"penalties": [{"kind": "l2", "lam": lam, "layers": "*.weight"}]}


def lambda_cv(score: Scorer, clock: Clock, network: dict[str, Any], *, folds: int, tick: Callable[[], None],
              share: float, lambdas: tuple[float, ...] = LAMBDAS, extend: int = 2,
              split: bool = False) -> dict[str, Any]:
    """Mean and spread of the validation score over k folds for each λ of an L2 penalty on every weight.

    ``network`` is the chosen architecture's recipe (its ``model`` and, for a backbone, ``transfer`` sections);
    the folds are ``score``'s when it cross-validates, else ``folds`` folds of train + val -- or, with ``split``,
    ``score``'s own validation split (one training per strength, ``folds`` 1 in the result). When the best λ
    sits at an end of the grid the optimum may lie beyond it: up to ``extend`` more λ, ten times further out
    each, while the budget lasts. Rows come back sorted by λ. A complete recipe (a fixed schedule of its own,
    ``--recipe``) is not cross-validated: its weight decay is its L2 strength (``skipped`` says so). Where the
    folds train grouped, the strengths train side by side as one grouped network (``siblings``: the most that did;
    :meth:`~fitguard.search.evaluate.Evaluator.evaluate_candidates`).

    Args:
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        network: the chosen architecture's recipe.
        folds: the folds when ``score`` does not cross-validate.
        tick: called after each training (progress).
        share: the cumulative share of the search's time and trials the phase may use.
        lambdas: the grid (default ``LAMBDAS``).
        extend: the most λ added beyond an end of the grid (default 2).
        split: where ``score`` does not cross-validate, score each strength on its validation split instead of
            ``folds`` folds (default False).
    """
    if fixed_schedule(network):
        return {"folds": score.trainings if score.folds or split else folds, "rows": [], "best_lam": None,
                "skipped": "a complete recipe: its weight decay is its L2 strength, sized with its schedule"}
    if not score.folds and not split:  # the same scorer (deadline, progress, trial store) over k folds of train + val
        score = replace(score, folds=list(kfold(score.data, k=folds, seed=score.base.data.seed)), on_scored=None)
    elif not score.folds:  # on the split: the ablation trains the chosen λ again, and its model is the one held
        score = replace(score, on_trained=None)
    rows: list[dict[str, Any]] = []
    siblings: list[int] = []

    def measure(*grid: float) -> None:
        trials = score.evaluate_candidates(
            [Candidate({**network, "remedies": {**network.get("remedies", {}), **_l2(lam)}}, f"λ={lam:g}", "lambda_cv")
             for lam in grid],
            admit=lambda _, __: clock.spend(share, score.trainings), on_trial=lambda _: tick())
        for lam, trial in zip(grid, trials):
            siblings.append(trial.details.get("siblings", 1))
            scores = list(trial.fold_scores) or ([trial.val_score] if math.isfinite(trial.val_score) else [])
            rows.append({"lam": lam, "scores": scores, "mean": float(np.mean(scores)) if scores else None,
                         "std": float(np.std(scores)) if len(scores) > 1 else None})

    def best() -> float | None:
        measured = [r for r in rows if r["mean"] is not None]
        return max(measured, key=lambda r: r["mean"])["lam"] if measured else None

    measure(*lambdas)
    for _ in range(extend):
        ends = [r["lam"] for r in rows]
        chosen = best()
        if chosen is None or len(rows) < 2 or chosen not in (min(ends), max(ends)) or rows[-1]["mean"] is None:
            break
        measure(chosen * 10 if chosen == max(ends) else chosen / 10)
    rows.sort(key=lambda r: r["lam"])
    grouped = {"siblings": max(siblings)} if max(siblings, default=1) > 1 else {}
    return {"folds": score.trainings, "rows": rows, "best_lam": best(), **grouped}


#: residual options of the built-in networks that take ``residual`` (skip connections)
RESIDUAL_FAMILIES = ("mlp", "cnn", "cnn1d")


def schedules(epochs: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The remedies that fix the learning-rate schedule or average weights, as (key, name, recipe change): they
    train a fixed number of epochs without early stopping, so each is sized from ``epochs``, the epoch count early
    stopping chose for the network they are compared with.

    - cosine schedule: one cosine decay of the learning rate over ``2 * epochs`` (Loshchilov & Hutter, 2017);
    - snapshot ensemble: three cosine cycles of ``epochs`` each, the mean of the three snapshots' predictions
      (Huang et al., 2017): three networks for the training of three;
    - SWA: ``ceil(1.5 * epochs)`` epochs, the equal mean of the weights over the last third (Izmailov et al.,
      2018): the average starts about where early stopping would have stopped.

    Why these lengths, measured on Fashion-MNIST 100/class (the doctor's first CNN, 3 seeds, test accuracy against
    early stopping alone): sized 1x, 3 x 0.5x and 1.25x (last 20%) the cosine schedule and the snapshot ensemble
    scored lower on every seed (-1.0 and -0.7 points; ``benchmarks/cocktail.py``) -- a learning rate that decays
    over the epochs where a constant one had only just reached its best undertrains; sized as here all three scored
    higher on every seed (+0.5, +0.6 and +0.6 points; with 3 seeds not a significant gain, but the sign turned on
    every seed; ``benchmarks/reference/cocktail_cpu.json``).

    Args:
        epochs: the early-stopped epoch count they are sized from (>= 1).

    Example:
        >>> [(key, change["train"]["max_epochs"]) for key, _, change in schedules(10)]
        [('cosine schedule', 20), ('snapshot ensemble', 30), ('SWA', 15)]
    """
    epochs = max(1, int(epochs))
    averaged = math.ceil(1.5 * epochs)

    def fixed(length: int, remedy: dict[str, Any]) -> dict[str, Any]:
        return {"early_stopping": None, "train": {"max_epochs": length}, "remedies": remedy}

    return [("cosine schedule", f"cosine schedule ({2 * epochs} epochs)", fixed(2 * epochs, {"cosine": {}})),
            ("snapshot ensemble", f"snapshot ensemble (3 cycles of {epochs} epochs)",
             fixed(3 * epochs, {"snapshots": {"cycles": 3}})),
            ("SWA", f"SWA (last third of {averaged} epochs)",
             fixed(averaged, {"weight_averaging": {"kind": "swa", "start": 0.67}}))]


def remedies_for(data: Dataset, network: dict[str, Any], lam: float | None, allowed: tuple[str, ...] | None = None,
                 *, epochs: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Single remedies that apply to this data and network, as (name, recipe change); ``allowed`` keeps only those
    of :data:`fitguard.doctor.plan.REMEDIES` it names (the plan's choice), in ``allowed``'s order.

    Args:
        data: the dataset (task and kind decide what applies).
        network: the chosen architecture's recipe.
        lam: the L2 strength cross-validation chose, tried as the L2 remedy; None: no L2 remedy.
        allowed: the remedies the plan names; None (default): all that apply.
        epochs: the epoch count early stopping chose for ``network``, which sizes the fixed-schedule remedies
            (:func:`schedules`); None (default): those are not tried.
    """
    model = network["model"]
    options: list[tuple[str, str, dict[str, Any]]] = []
    if data.task == "classification":  # first: the plan allows it only when the classes are skewed
        options.append((CLASS_WEIGHTS, "class weights (balanced)", {"remedies": {"class_weight": "balanced"}}))
    if lam is not None:
        options.append(("L2", f"L2 λ={lam:g}", {"remedies": _l2(lam)}))
    if has_hidden_layers(network):
        options.append(("dropout 0.25", "dropout 0.25", {"model": {**model, "dropout": 0.25}}))
    if tunable(network) and model["name"] == "mlp":
        options.append((INPUT_DROPOUT, INPUT_DROPOUT, {"model": {**model, **INPUT_DROPOUT_MODEL}}))
    if has_hidden_layers(network) and model["name"] == "mlp" and not model.get("batchnorm"):
        options.append(("batch norm", "batch norm", {"model": {**model, "batchnorm": True}}))
    if data.kind == "image":
        # mirrored images are the same class for photos of objects, not for digits or text: validation decides
        options.append(("augmentation", "augmentation", {"remedies": {"augment": dict(AUGMENT)}}))
        options.append(("augmentation with flips", "augmentation with flips",
                        {"remedies": {"augment": {**AUGMENT, "flip": True}}}))
        # cutout (DeVries & Taylor 2017): a rectangle of up to a quarter of the image erased, beside the usual moves
        options.append(("augmentation with cutout", "augmentation with cutout",
                        {"remedies": {"augment": {**AUGMENT, "erase": 0.25}}}))
    options.append(("weight noise", "weight noise σ=0.01·|w|",
                    {"remedies": {"weight_noise": {"sigma": 0.01, "relative": True}}}))
    if data.task == "classification" and not data.preprocessor.embeddings:
        # mixup (Zhang et al. 2018), α = 0.2 as in their tabular and CIFAR runs; not over embedding codes, which a
        # convex mix of two rows would turn into a third, unrelated category
        options.append(("mixup", "mixup α=0.2", {"remedies": {"mixup": 0.2}}))
    # the regularization cocktail's (Kadra et al., NeurIPS 2021): skip connections, the schedules and weight
    # averages, cutmix, FGSM adversarial training
    if has_hidden_layers(network) and model["name"] in RESIDUAL_FAMILIES and not model.get("residual"):
        options.append(("skip connections", "skip connections", {"model": {**model, "residual": True}}))
    if epochs is not None and not fixed_schedule(network):  # a complete recipe has its schedule
        options += schedules(epochs)
    if data.kind == "image" and data.task == "classification":
        options.append(("cutmix", "cutmix α=1", {"remedies": {"cutmix": 1.0}}))
    # ε in the units of standardized inputs: 0.05 standard deviations per feature (the remedies benchmark's value)
    options.append(("FGSM", "FGSM ε=0.05", {"remedies": {"adversarial": {"epsilon": 0.05}}}))
    if allowed is not None:
        options = sorted((o for o in options if o[0] in allowed), key=lambda o: allowed.index(o[0]))
    return [(name, change) for _, name, change in options]


def train_longer(score: Scorer, clock: Clock, reference: Trial, *, factor: int = 3, share: float,
                 tick: Callable[[], None], why_not: str | None = None) -> list[Trial]:
    """The chosen network trained ``factor`` times longer with twice the patience (the underfit verdict's first
    remedy after capacity); helped when it ranks above ``reference``.

    Args:
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        reference: the trial to beat.
        factor: how many times longer (default 3).
        share: the cumulative share of the search's time and trials the phase may use.
        tick: called after each training (progress).
        why_not: why it is not tried (:func:`settled`): listed as skipped; None (default): tried.
    """
    name = f"train {factor}x longer"
    if why_not is not None or not clock.spend(share, score.trainings):
        return [Trial(name, "train_longer", reference.recipe, math.nan, math.nan, 0, 0, 0.0,
                      f"skipped: {why_not or 'budget'}")]
    patience: int | None = None  # a complete recipe has no early stopping to be patient with
    if fixed_schedule(reference.recipe):  # a complete recipe: its own schedule, stretched
        own = reference.recipe["train"]
        epochs = factor * int(own["max_epochs"])
        recipe = {**reference.recipe, "train": {**own, "max_epochs": epochs}}
    else:
        epochs = factor * int(score.train.get("max_epochs", score.base.train.max_epochs))
        patience = 2 * int(score.base.early_stopping.patience if score.base.early_stopping else 15)
        recipe = {**reference.recipe, "early_stopping": {"patience": patience}}
    trial = score(recipe, name=name, phase="train_longer", max_epochs=epochs)
    trial.details.update(remedies=[name], helped=rank(trial) > rank(reference), max_epochs=epochs, patience=patience)
    tick()
    return [trial]


def combine(network: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The network's recipe with the changes' model options and remedies merged in (later ones win); a complete
    recipe's own remedies stay unless a change sets the same one.

    Args:
        network: the chosen architecture's recipe.
        changes: recipe changes (``model`` and ``remedies`` keys), applied in order.
    """
    recipe: dict[str, Any] = {**network, "model": dict(network["model"]), "remedies": dict(network.get("remedies", {}))}
    for change in changes:
        recipe["model"].update(change.get("model", {}))
        recipe["remedies"].update(change.get("remedies", {}))
        if "train" in change:  # a fixed schedule: its epochs, without early stopping
            recipe["train"] = {**recipe.get("train", {}), **change["train"]}
        if "early_stopping" in change:
            recipe["early_stopping"] = change["early_stopping"]
    return recipe


def ablation(score: Scorer, clock: Clock, reference: Trial, network: dict[str, Any], lam: float | None, *,
             tick: Callable[[], None], share: float, allowed: tuple[str, ...] | None = None,
             why_not: str | None = None) -> list[Trial]:
    """Each remedy alone against ``reference`` (the chosen network with early stopping, named "early stopping
    only"; a complete recipe with its own schedule, "the recipe as given"), then the helpful ones combined
    (:func:`fitguard.search.ablate`, ``combine="helpful"``); a remedy helps when it ranks above the reference
    (score, then validation loss).

    Args:
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        reference: the trial to beat.
        network: the chosen architecture's recipe.
        lam: the L2 strength cross-validation chose; None: no L2 remedy.
        tick: called after each training (progress).
        share: the cumulative share of the search's time and trials the phase may use.
        allowed: the remedies the plan names; None (default): all that apply.
        why_not: why no remedy is tried (:func:`settled`): each is then listed as skipped; None (default): tried.
    """
    name = "the recipe as given" if fixed_schedule(network) else "early stopping only"
    baseline = Trial(name, "ablation", dict(network), reference.val_score, reference.gap,
                     reference.parameters, reference.epochs, reference.seconds, details=dict(reference.details),
                     metric=reference.metric, mode=reference.mode, history=reference.history)
    epochs = reference.details.get("best_epoch") or reference.epochs or None
    changes = dict(remedies_for(score.data, network, lam, allowed, epochs=epochs))
    if why_not is not None:
        return [baseline, *(Trial(remedy, "ablation", combine(network, [change]), math.nan, math.nan, 0, 0, 0.0,
                                  f"skipped: {why_not}") for remedy, change in changes.items())]

    def evaluate(batch: list[tuple[str, ...]]) -> list[Trial]:
        return score.evaluate_candidates(
            [Candidate(combine(network, [changes[name] for name in names]), " + ".join(names), "ablation")
             for names in batch],
            admit=lambda _, __: clock.spend(share, score.trainings), on_trial=lambda _: tick())

    return ablate(evaluate, list(changes), baseline, combine="helpful", group=lambda name: _group(changes[name]))


def _group(change: dict[str, Any]) -> tuple[str, ...]:
    """What a remedy sets: remedies that set the same thing (two augmentations, two penalties) are alternatives; the
    fixed schedules (cosine, snapshots, SWA) all decide the epochs and the learning rate, so they are one group."""
    if "early_stopping" in change:
        return ("schedule",)
    # the two dropouts are alternatives: both set the hidden rate, one of them the inputs' too
    return tuple(sorted(f"{section}.{option}" for section, options in change.items() for option in options
                        if (section, option) != ("model", "input_dropout")))


#: study trial ``k`` draws its values with a sampler seeded ``seed + STUDY_SEED_STEP * k``
STUDY_SEED_STEP = 7919


def study(score: Scorer, clock: Clock, best: Trial, storage: Path | str, *, seed: int, tick: Callable[[], None],
          dropout: bool = True, lam_range: tuple[float, float] = (1e-6, 1e-1), name: str = "doctor",
          share: float = 1.0) -> list[Trial]:
    """Tune λ (in ``lam_range``), dropout (when ``dropout`` and the network takes it) and the learning rate around
    ``best``'s recipe with fitguard.search's default sampler and pruner (SQLite storage); a cross-validated trial
    runs all its folds and is never pruned.

    Args:
        score: the run's :class:`Scorer`.
        clock: the run's :class:`Clock`.
        best: the trial whose recipe is tuned.
        storage: the SQLite file of the Optuna study, or the URL of its storage (``--storage``).
        seed: seeds the sampler.
        tick: called after each training (progress).
        dropout: whether dropout is searched (default True).
        lam_range: the range of λ searched (default (1e-6, 1e-1)).
        name: the study's name (default "doctor"; a run id follows it in a shared storage).
        share: the cumulative share of the search's time and trials the phase may use (default 1.0: the rest).
    """
    import optuna

    from fitguard.search.pruning import DEFAULT_PRUNER, DEFAULT_SAMPLER, PruningCallback, make_pruner, make_sampler
    from fitguard.search.storage import optuna_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = optuna_storage(storage if isinstance(storage, str) else f"sqlite:///{storage}")  # an opened storage
    metric, sign = ("val_accuracy", 1.0) if score.data.task == "classification" else ("val_loss", -1.0)
    handle = optuna.create_study(
        study_name=name, storage=url, direction="maximize", load_if_exists=True,
        sampler=make_sampler(DEFAULT_SAMPLER, seed),
        # fitguard.search's default (no pruning, measured in benchmarks/search.py); a cross-validated trial's
        # per-epoch reports mix folds, so it is never pruned
        pruner=optuna.pruners.NopPruner() if score.folds else make_pruner(
            DEFAULT_PRUNER, max_epochs=int(score.train.get("max_epochs", 100))),
    )
    # a user's or pretrained network takes no dropout option, a linear head on Fourier features has no hidden layer
    with_dropout = dropout and has_hidden_layers(best.recipe)
    own_schedule = fixed_schedule(best.recipe)
    # around Adam's usual 1e-3, or a complete recipe's own learning rate (SGD's is 50x larger)
    center = (best.recipe.get("train") or {}).get("lr") if own_schedule else None
    lr_range = (3e-4, 3e-3) if center is None else (0.3 * center, 3 * center)
    states = optuna.trial.TrialState
    leader = trial_key("study", "leader", best.recipe, {"lam_range": list(lam_range), "dropout": with_dropout})
    if handle.user_attrs.get("leader", leader) != leader:
        # an earlier attempt studied around another recipe (its search went otherwise): its draws do not apply here
        optuna.delete_study(study_name=name, storage=url)
        handle = optuna.create_study(study_name=name, storage=url, direction="maximize",
                                     sampler=handle.sampler, pruner=handle.pruner)
    handle.set_user_attr("leader", leader)
    # A resumed run replays, in order, the study trials an earlier attempt drew all values for: one that finished is
    # read back from the trial store, one the kill interrupted is trained again and told. A trial killed before all
    # its values were drawn is failed and drawn afresh: the sampler is seeded by the trial's place in this list (not
    # by how many draws this process made), so the redrawn trial gets the values the uninterrupted run drew there.
    needed = {"lam", "lr", *(("dropout",) if with_dropout else ())}
    earlier = []
    for frozen in handle.get_trials(deepcopy=False):
        if needed <= set(frozen.params):
            earlier.append(frozen)
        elif frozen.state == states.RUNNING:
            handle.tell(frozen.number, state=states.FAIL)
    trials: list[Trial] = []
    while clock.spend(share, score.trainings):
        step = len(trials)
        frozen = earlier.pop(0) if earlier else None
        optuna_trial = None
        if frozen is not None:
            number, params = frozen.number, dict(frozen.params)
        else:
            handle.sampler = make_sampler(DEFAULT_SAMPLER, seed + STUDY_SEED_STEP * step)
            optuna_trial = handle.ask()
            number = optuna_trial.number
            params = {"lam": optuna_trial.suggest_float("lam", *lam_range, log=True)}
            if with_dropout:
                params["dropout"] = optuna_trial.suggest_float("dropout", 0.0, 0.5)
            params["lr"] = optuna_trial.suggest_float("lr", *lr_range, log=True)
        lam, lr = params["lam"], params["lr"]
        recipe = {**best.recipe, "model": dict(best.recipe["model"]),
                  "remedies": {**best.recipe.get("remedies", {}), **_l2(lam)}}
        if "dropout" in params:
            recipe["model"]["dropout"] = round(params["dropout"], 4)
        # the study tunes the learning rate; a fixed schedule keeps its epochs (a complete recipe its whole training)
        own = recipe.pop("train", None) or {}
        fixed = {k: v for k, v in own.items() if k != "lr"} if own_schedule else {}
        if fixed:
            recipe["train"] = fixed
        live = optuna_trial is not None and not score.folds  # a replayed trial was pruned or not before
        pruner = PruningCallback(optuna_trial, metric, sign) if live else None
        trial = score(recipe, name=f"study #{step}", phase="study", callbacks=(pruner,) if pruner else (), lr=lr)
        trial.details.update(params=params, recipe_lr=lr, optuna_number=number)
        trial.recipe = {**recipe, "train": {**fixed, "lr": lr}}
        pruned = pruner.pruned if pruner is not None else frozen is not None and frozen.state == states.PRUNED
        if pruned:
            trial.status = "pruned"
        if frozen is None or frozen.state == states.RUNNING:  # not told yet
            if pruned:
                handle.tell(number, state=states.PRUNED)
            else:
                handle.tell(number, trial.val_score)
        trials.append(trial)
        tick()
    return trials


def confirm(fresh: Scorer, clock: Clock, scored: list[Trial], *, finalists: int, share: float,
            tick: Callable[[], None]) -> list[tuple[Trial, Trial]]:
    """The ``finalists`` best-ranked recipes scored again by ``fresh``, a :class:`Scorer` on a second fold split of
    the same rows: (search trial, fresh trial) pairs in rank order, as many as the phase's share of the budget fits
    -- none unless the first two fit, and none from a finalist whose second split the deadline cut short on.

    Why: the search's best score is the largest of many noisy cross-validated scores, so it is optimistic for the
    recipe it chose, most of all on a small data set where one validation row moves a fold's accuracy by a point
    or more and a long study tries a hundred recipes (the winner's curse). Folds that did not choose the
    finalists score them without that bias; :func:`pooled` then ranks them over both splits.

    Args:
        fresh: scores a recipe on the second fold split (its trials are stored under phase "confirm").
        clock: the run's :class:`Clock`.
        scored: the search's scored trials (ablation, train longer, study); one finalist per distinct recipe and
            epoch limit, none the deadline cut short.
        finalists: how many to score again, >= 2 (one alone leaves nothing to choose).
        share: the cumulative share of the search's time and trials the phase may use.
        tick: called after each finalist (progress).

    Example:
        >>> a, b = (Trial(n, "study", {"model": {"hidden": [h]}}, s, 0.0, 10, 5, 1.0, details={"folds": [s, s]})
        ...         for n, h, s in (("a", 8, 0.9), ("b", 16, 0.8)))
        >>> class Again:  # a second split that scores "a" 0.7 and "b" 0.85, each with 3 fold trainings
        ...     trainings = 3
        ...     def __call__(self, recipe, *, name, phase, **train):
        ...         return replace(a if name == "a" else b, phase=phase, val_score=0.7 if name == "a" else 0.85)
        >>> clock = Clock(None, None)
        >>> [(s.name, f.val_score) for s, f in confirm(Again(), clock, [b, a, a], finalists=2, share=1.0,
        ...                                            tick=lambda: None)], clock.used
        ([('a', 0.7), ('b', 0.85)], 6)
    """
    ranked = sorted((t for t in scored if t.status == "done" and not cut_by_deadline(t)), key=rank, reverse=True)
    chosen: dict[str, tuple[Trial, dict[str, Any]]] = {}
    for trial in ranked:
        options = {"max_epochs": trial.details["max_epochs"]} if trial.phase == "train_longer" else {}
        chosen.setdefault(trial_key("confirm", "", trial.recipe, options), (trial, options))
    picked = list(chosen.values())[:finalists]
    # the first two together or none: one finalist alone leaves nothing to choose
    if len(picked) < 2 or not clock.spend(share, 2 * fresh.trainings):
        return []
    pairs = []
    for index, (trial, options) in enumerate(picked):
        if index >= 2 and not clock.spend(share, fresh.trainings):
            break
        again = fresh(trial.recipe, name=trial.name, phase="confirm", **options)
        tick()
        if cut_by_deadline(again):  # its second split did not train to its stopping point: no fair comparison
            break
        pairs.append((trial, again))
    return pairs


def pooled(search: Trial, fresh: Trial) -> Trial:
    """A finalist's trial over both fold splits: the mean of all 2k folds' scores and validation losses, the
    median of their best epochs (which the refit trains for), the fresh split's scores in ``details["confirm"]``.

    Args:
        search: its trial from the search.
        fresh: its trial on the second fold split (:func:`confirm`).

    Example:
        >>> s = Trial("a", "study", {}, 0.9, 0.1, 10, 5, 1.0, details={"folds": [0.9, 0.9], "val_loss": 0.3,
        ...           "best_epochs": [4, 6]})
        >>> f = Trial("a", "confirm", {}, 0.8, 0.2, 10, 5, 1.0, details={"folds": [0.7, 0.9], "val_loss": 0.5,
        ...           "best_epochs": [8, 10]})
        >>> p = pooled(s, f)
        >>> round(p.val_score, 6), round(p.details["val_loss"], 6), p.details["best_epoch"], p.phase
        (0.85, 0.4, 7, 'study')
    """
    folds = [*search.details.get("folds", [search.val_score]), *fresh.details.get("folds", [fresh.val_score])]
    epochs = [*search.details.get("best_epochs", [search.details.get("best_epoch") or search.epochs]),
              *fresh.details.get("best_epochs", [fresh.details.get("best_epoch") or fresh.epochs])]
    return replace(search, val_score=float(np.mean(folds)), gap=(search.gap + fresh.gap) / 2, details={
        **search.details, "folds": folds, "best_epochs": epochs, "best_epoch": int(np.median(epochs)),
        "val_loss": (search.details["val_loss"] + fresh.details["val_loss"]) / 2,
        "fold_losses": [*search.details.get("fold_losses", [search.details["val_loss"]]),
                        *fresh.details.get("fold_losses", [fresh.details["val_loss"]])],
        "stop_reasons": [*search.details.get("stop_reasons", []), *fresh.details.get("stop_reasons", [])],
        **mirror_mean([search.details.get("mirror"), fresh.details.get("mirror")]),
        "confirm": {"search_score": search.val_score, "fresh_score": fresh.val_score,
                    "fresh_folds": fresh.details.get("folds", [fresh.val_score])}})
