"""Linear models made measurable: the ridge path with closed-form leave-one-out/GCV, conditioning, stability,
lasso/elastic-net paths with CV, and the L1-vs-L2 geometry.

Example:
    >>> import torch
    >>> from fitguard.linear import ridge_path
    >>> X = torch.randn(40, 3, dtype=torch.float64)
    >>> ridge_path(X, X.sum(dim=1), [0.01, 1.0, 100.0], cv="gcv").coefs_.shape
    torch.Size([3, 3])
"""

from fitguard.linear.conditioning import Conditioning, conditioning
from fitguard.linear.geometry import Geometry, constrained_minima, geometry_figure
from fitguard.linear.inputs import one_hot
from fitguard.linear.lambdas import check_lambdas, parse_lambdas
from fitguard.linear.lasso import SparsePath, elastic_net_path, lasso_path
from fitguard.linear.plots import plot_coefficient_paths, plot_cv_curve
from fitguard.linear.ridge import RidgePath, ridge_path
from fitguard.linear.stability import Stability, stability

__all__ = [
    "Conditioning",
    "Geometry",
    "RidgePath",
    "SparsePath",
    "Stability",
    "check_lambdas",
    "conditioning",
    "constrained_minima",
    "elastic_net_path",
    "geometry_figure",
    "lasso_path",
    "one_hot",
    "parse_lambdas",
    "plot_coefficient_paths",
    "plot_cv_curve",
    "ridge_path",
    "stability",
]
