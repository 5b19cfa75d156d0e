"""One decomposition of the design matrix, from which ridge gives every λ's answer in closed form.

With the centered design ``Xc = U diag(s) Vᵀ`` the ridge solution is ``w(λ) = V diag(s / (s² + λ)) Uᵀ y`` and the
fitted values are ``U diag(s² / (s² + λ)) Uᵀ y``: after one SVD, each λ costs a few small matrix products.
(For a well-conditioned tall design the SVD's factors come from the p × p Gram matrix's eigendecomposition,
which is several times cheaper; see ``_thin_svd``.)
When there are fewer samples than features (n < p) the eigendecomposition ``Xc Xcᵀ = U diag(s²) Uᵀ`` (n × n) is
cheaper, and ``w(λ) = Xcᵀ U diag(1 / (s² + λ)) Uᵀ y`` (the kernel form) needs no division by tiny ``s``.
The intercept is not penalized: centering ``X`` and ``y`` makes it ``mean(y) - mean(X) · w``, as scikit-learn does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Below this ratio of smallest to largest eigenvalue of XᵀX, its eigendecomposition loses digits the SVD keeps.
_GRAM_RCOND = 1e-6


@dataclass(frozen=True, eq=False)
class Spectrum:
    """The pieces of one decomposition that every per-λ formula needs.

    ``basis`` is ``U`` (n, r), ``squared`` the eigenvalues ``s²`` of ``Xc Xcᵀ`` on that basis (r,), ``projected`` is
    ``Uᵀ yc`` (r, k); ``right`` is ``V`` (p, r) in SVD mode and ``None`` in kernel mode, where ``centered`` (n, p)
    is kept to map back to coefficients.

    Args:
        basis: ``U`` (n, r).
        squared: the eigenvalues ``s²`` (r,).
        projected: ``Uᵀ yc`` (r, k).
        right: ``V`` (p, r) in SVD mode; None in kernel mode.
        centered: the centered inputs ``Xc`` (n, p).
        centered_targets: the centered targets ``yc`` (n, k).
        x_mean: the inputs' column means (zeros without an intercept).
        y_mean: the targets' means (zeros without an intercept).
        fit_intercept: whether the data was centered.
    """

    basis: torch.Tensor
    squared: torch.Tensor
    projected: torch.Tensor
    right: torch.Tensor | None
    centered: torch.Tensor
    centered_targets: torch.Tensor
    x_mean: torch.Tensor
    y_mean: torch.Tensor
    fit_intercept: bool

    @property
    def samples(self) -> int:
        return int(self.basis.shape[0])

    @property
    def features(self) -> int:
        return int(self.centered.shape[1])


def decompose(X: torch.Tensor, Y: torch.Tensor, fit_intercept: bool = True) -> Spectrum:
    """Center ``X`` (n, p) and ``Y`` (n, k) when ``fit_intercept`` and decompose once.

    Args:
        X: inputs (n, p).
        Y: targets (n, k).
        fit_intercept: center both first (default True).

    Example:
        >>> spectrum = decompose(torch.randn(20, 3, dtype=torch.float64), torch.randn(20, 1, dtype=torch.float64))
        >>> spectrum.squared.shape
        torch.Size([3])
    """
    if fit_intercept:
        x_mean, y_mean = X.mean(dim=0), Y.mean(dim=0)
        centered, centered_targets = X - x_mean, Y - y_mean
    else:
        x_mean = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
        y_mean = torch.zeros(Y.shape[1], dtype=Y.dtype, device=Y.device)
        centered, centered_targets = X, Y
    n, p = centered.shape
    if n >= p:
        basis, squared, right = _thin_svd(centered)
    else:
        eigenvalues, basis = torch.linalg.eigh(centered @ centered.mT)
        # eigh returns roundoff-negative values for the null directions (centering always makes one).
        squared, right = eigenvalues.clamp(min=0.0), None
    projected = basis.mT @ centered_targets
    return Spectrum(basis, squared, projected, right, centered, centered_targets, x_mean, y_mean, fit_intercept)


def _thin_svd(centered: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``U``, ``s²`` (descending) and ``V`` of a tall matrix.

    The p × p Gram matrix's eigendecomposition gives the same factors as an SVD for a fraction of its cost, but
    squares the condition number: it is used only while cond(XᵀX) < 1e6, where the eigenvalues keep ~10
    correct digits; a multicollinear design (the case ridge is for) goes through the SVD itself.
    """
    eigenvalues, right = torch.linalg.eigh(centered.mT @ centered)
    squared, right = eigenvalues.flip(0), right.flip(1)
    if float(squared[-1]) > _GRAM_RCOND * float(squared[0]):
        return (centered @ right) / squared.sqrt(), squared, right
    basis, singular, right_t = torch.linalg.svd(centered, full_matrices=False)
    return basis, singular.square(), right_t.mT


def coefficients(spectrum: Spectrum, lambdas: torch.Tensor) -> torch.Tensor:
    """Ridge weights for every λ: (L, p, k). ``lambdas`` may contain 0 (minimum-norm least squares).

    Args:
        spectrum: what :func:`decompose` returned.
        lambdas: the strengths (L,), >= 0.

    Example:
        >>> X, Y = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, 2, dtype=torch.float64)
        >>> coefficients(decompose(X, Y), torch.tensor([1.0], dtype=torch.float64)).shape
        torch.Size([1, 4, 2])
    """
    lam = lambdas.to(spectrum.squared)[:, None]
    denominator = spectrum.squared[None, :] + lam
    cutoff = _null_cutoff(spectrum)
    if spectrum.right is not None:
        factor = _safe_divide(spectrum.squared.sqrt()[None, :], denominator, cutoff)
        return _unstack(spectrum.right @ _stack(factor, spectrum.projected), lambdas.shape[0])
    factor = _safe_divide(torch.ones_like(denominator), denominator, cutoff)
    dual = spectrum.basis @ _stack(factor, spectrum.projected)  # (n, L·k)
    return _unstack(spectrum.centered.mT @ dual, lambdas.shape[0])


def fitted(spectrum: Spectrum, factors: torch.Tensor) -> torch.Tensor:
    """Centered fitted values ``U diag(f) Uᵀ yc`` for filter factors (L, r): (L, n, k).

    Args:
        spectrum: what :func:`decompose` returned.
        factors: the filter factors (L, r), e.g. from :func:`shrinkage`.
    """
    return _unstack(spectrum.basis @ _stack(factors, spectrum.projected), factors.shape[0])


def _stack(factors: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    # (L, r) ⊙ (r, k) laid out as one (r, L·k) matrix: every λ then goes through a single matrix product.
    return (factors.mT[:, :, None] * projected[:, None, :]).reshape(projected.shape[0], -1)


def _unstack(product: torch.Tensor, count: int) -> torch.Tensor:
    return product.reshape(product.shape[0], count, -1).permute(1, 0, 2)


def shrinkage(spectrum: Spectrum, lambdas: torch.Tensor) -> torch.Tensor:
    """The filter factors ``s² / (s² + λ)`` (L, r): how much of each direction of ``y`` the fit keeps.

    Args:
        spectrum: what :func:`decompose` returned.
        lambdas: the strengths (L,), >= 0.
    """
    lam = lambdas.to(spectrum.squared)[:, None]
    numerator = spectrum.squared[None, :].expand(lam.shape[0], -1)
    return _safe_divide(numerator, spectrum.squared[None, :] + lam, _null_cutoff(spectrum))


def intercepts(spectrum: Spectrum, weights: torch.Tensor) -> torch.Tensor:
    """``mean(y) - mean(X) · w`` for weights (L, p, k): (L, k); zeros without an intercept.

    Args:
        spectrum: what :func:`decompose` returned.
        weights: the coefficients (L, p, k).
    """
    return spectrum.y_mean[None, :] - torch.einsum("p,lpk->lk", spectrum.x_mean, weights)


def condition_numbers(spectrum: Spectrum, lambdas: torch.Tensor) -> tuple[float, torch.Tensor]:
    """cond(XcᵀXc) and cond(XcᵀXc + λI) for every λ, from the eigenvalues s² (plus p - r zeros when p > r).

    Args:
        spectrum: what :func:`decompose` returned.
        lambdas: the strengths (L,), >= 0.

    Example:
        >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
        >>> gram, regularized = condition_numbers(decompose(X, X[:, :1], fit_intercept=False), torch.tensor([1.0]))
        >>> gram, regularized.tolist()
        (4.0, [2.5])
    """
    squared = spectrum.squared
    largest = squared.max()
    smallest = squared.min() if squared.shape[0] >= spectrum.features else squared.new_zeros(())
    # An eigenvalue at roundoff level (a constant or duplicated column) is a zero: XᵀX is singular.
    smallest = torch.where(smallest > _null_cutoff(spectrum), smallest, torch.zeros_like(smallest))
    gram = float(largest / smallest) if float(smallest) > 0 else float("inf")
    return gram, (largest + lambdas.to(squared)) / (smallest + lambdas.to(squared))


def _null_cutoff(spectrum: Spectrum) -> float:
    # The pseudo-inverse rule (numpy.linalg.pinv's default rcond): directions this small are roundoff, not data.
    largest = float(spectrum.squared.max()) if spectrum.squared.numel() else 0.0
    rcond = max(spectrum.samples, spectrum.features) * torch.finfo(spectrum.squared.dtype).eps
    return largest * rcond * rcond


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor, cutoff: float) -> torch.Tensor:
    # Only λ ≈ 0 on a null direction reaches the cutoff; the minimum-norm least-squares solution drops it.
    keep = denominator > cutoff
    return torch.where(keep, numerator / torch.where(keep, denominator, 1.0), 0.0)
