"""Remedy search: one evaluator (holdout or k-fold, one typed :class:`Trial`) and the strategies that call it --
k-fold cross-validated grids, Optuna studies (pruning opt-in) and workers, ablation -- and search spaces.

Optuna and SQLAlchemy are imported only inside the functions that use them.

Example:
    >>> from fitguard.search import Choice, SearchSpace, expand_grid
    >>> len(expand_grid(SearchSpace({"l2": Choice((0.0, 1e-4)), "dropout": Choice((0.0, 0.2, 0.4))})))
    6
"""

from __future__ import annotations

from fitguard.search.ablation import AblationResult, AblationRow, ablate, ablation
from fitguard.search.evaluate import Candidate, Evaluator, as_recipe, fold_mean, train_recipe
from fitguard.search.grid import GridResult, GridRow, expand_grid, grid_cv
from fitguard.search.pruning import (
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    PRUNERS,
    SAMPLERS,
    PruningCallback,
    make_pruner,
    make_sampler,
)
from fitguard.search.scoring import Trial, fit_and_score, rank, resolve_metric
from fitguard.search.space import PARAMETERS, Choice, Float, Int, SearchSpace, apply_point
from fitguard.search.storage import default_storage, open_storage
from fitguard.search.study import StudyResult, prepare_study, study, summarize

__all__ = [
    "DEFAULT_PRUNER",
    "DEFAULT_SAMPLER",
    "PARAMETERS",
    "PRUNERS",
    "SAMPLERS",
    "AblationResult",
    "AblationRow",
    "Candidate",
    "Choice",
    "Evaluator",
    "Float",
    "GridResult",
    "GridRow",
    "Int",
    "PruningCallback",
    "SearchSpace",
    "StudyResult",
    "Trial",
    "ablate",
    "ablation",
    "apply_point",
    "as_recipe",
    "default_storage",
    "expand_grid",
    "fit_and_score",
    "fold_mean",
    "grid_cv",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "prepare_study",
    "rank",
    "resolve_metric",
    "study",
    "summarize",
    "train_recipe",
]
