"""Diagnosis: epoch and learning curves, overfitting onset, verdict, bias–variance, complexity sweeps, weights,
and how sure a comparison is (intervals and paired tests).

Example:
    >>> from fitguard.diagnose import overfitting_onset, verdict
    >>> from fitguard.train.history import History
    >>> rows = [{"epoch": e, "loss": 1 / e, "val_loss": 1 / e + 0.02 * max(0, e - 10)} for e in range(1, 41)]
    >>> overfitting_onset(History(rows)).epoch, verdict(History(rows)).kind
    (10, 'overfit')
"""

from fitguard.diagnose.bias_variance import BiasVariance, bias_variance, sample_indices
from fitguard.diagnose.curves import EpochCurves, LearningCurve, epoch_curves, learning_curve, trainer_fit_fn
from fitguard.diagnose.decompose import (
    MSEDecomposition,
    VarianceSplit,
    ZeroOneDecomposition,
    decompose_01,
    decompose_mse,
    main_prediction,
    split_variance,
)
from fitguard.diagnose.ensemble import Ensemble, train_ensemble
from fitguard.diagnose.onset import Onset, mann_kendall, overfitting_onset, running_median
from fitguard.diagnose.scaling import PowerLaw, ScalingCurve, fit_power_law, rows_to_close, scaling_curve
from fitguard.diagnose.significance import (
    McNemar,
    PairedDifference,
    accuracy_standard_error,
    bootstrap_interval,
    bootstrap_statistics,
    decide,
    mcnemar_by_row,
    mcnemar_exact,
    paired_bootstrap,
    wilson_interval,
)
from fitguard.diagnose.sweep import ComplexitySweep, SweepPoint, complexity_sweep, plot_sweep
from fitguard.diagnose.verdict import Recommendation, Verdict, verdict
from fitguard.diagnose.weights import LayerWeights, WeightChange, compare, layer_weights, weight_stats

__all__ = [
    "BiasVariance",
    "ComplexitySweep",
    "Ensemble",
    "EpochCurves",
    "LayerWeights",
    "LearningCurve",
    "MSEDecomposition",
    "McNemar",
    "Onset",
    "PairedDifference",
    "PowerLaw",
    "Recommendation",
    "ScalingCurve",
    "SweepPoint",
    "VarianceSplit",
    "Verdict",
    "WeightChange",
    "ZeroOneDecomposition",
    "accuracy_standard_error",
    "bias_variance",
    "bootstrap_interval",
    "bootstrap_statistics",
    "compare",
    "complexity_sweep",
    "decide",
    "decompose_01",
    "decompose_mse",
    "epoch_curves",
    "fit_power_law",
    "layer_weights",
    "learning_curve",
    "main_prediction",
    "mann_kendall",
    "mcnemar_by_row",
    "mcnemar_exact",
    "overfitting_onset",
    "paired_bootstrap",
    "plot_sweep",
    "rows_to_close",
    "running_median",
    "sample_indices",
    "scaling_curve",
    "split_variance",
    "train_ensemble",
    "trainer_fit_fn",
    "verdict",
    "weight_stats",
    "wilson_interval",
]
