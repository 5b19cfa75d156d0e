"""Regularizers as PyTorch building blocks: penalties (L1/L2/elastic net, proximal L1), weight and input noise,
class weights for skewed classes.

Example:
    >>> import torch
    >>> from fitguard.regularize import L2
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> [name for name, _ in L2(1e-3).select(model)]
    ['0.weight', '2.weight']
"""

from __future__ import annotations

from fitguard.regularize.adversarial import FGSM
from fitguard.regularize.class_weights import balanced_class_weights, class_counts
from fitguard.regularize.groups import param_groups
from fitguard.regularize.noise import InputNoise, WeightNoise
from fitguard.regularize.penalties import L1, L2, ElasticNet, Penalty, absolute_norm, squared_norm
from fitguard.regularize.proximal import soft_threshold
from fitguard.regularize.selection import select_parameters
from fitguard.regularize.sparsity import ParameterSparsity, SparsityReport, sparsity_report

__all__ = [
    "FGSM",
    "L1",
    "L2",
    "ElasticNet",
    "InputNoise",
    "ParameterSparsity",
    "Penalty",
    "SparsityReport",
    "WeightNoise",
    "absolute_norm",
    "balanced_class_weights",
    "class_counts",
    "param_groups",
    "select_parameters",
    "soft_threshold",
    "sparsity_report",
    "squared_norm",
]
