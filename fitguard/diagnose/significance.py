"""How sure a comparison is: intervals and paired tests for the numbers fitguard compares.

A test accuracy of 0.93 on 150 rows could be 0.88 or 0.96 on another 150 rows; two models scored on the same rows
differ by less than two independent scores suggest, because most rows are easy for both. These functions say how
much a number moves (``wilson_interval``, ``accuracy_standard_error``) and whether a difference between two models
on the *same* rows is more than noise (``mcnemar_exact`` for right/wrong per row -- ``mcnemar_by_row`` when several
seeds share the test rows -- and ``paired_bootstrap`` for per-row losses), so that a report says "better" only when
the data support it (``decide``). ``bootstrap_interval`` gives any per-row statistic (a balanced accuracy, an RMSE,
an R²) its percentile interval over resampled rows.

Example:
    >>> low, high = wilson_interval(140, 150)  # 93.3% right of 150 test rows
    >>> round(low, 3), round(high, 3)
    (0.882, 0.963)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, norm

from fitguard._validation import check_int, check_number

#: most row indices one bootstrap chunk draws at once (8 MB of int64), so memory stays flat for big test sets
_CHUNK_INDICES = 1_000_000


@dataclass(frozen=True)
class McNemar:
    """Discordant rows of two classifiers scored on the same rows, and the exact two-sided McNemar p-value.

    Args:
        only_first: Rows only the first classifier got right.
        only_second: Rows only the second classifier got right.
        p_value: Exact two-sided p-value of "no difference" (1.0 with no discordant row).
    """

    only_first: int
    only_second: int
    p_value: float


@dataclass(frozen=True)
class PairedDifference:
    """``mean(second - first)`` over the rows, its bootstrap percentile interval and two-sided p-value.

    Args:
        mean_difference: The observed mean of ``second - first`` over the rows.
        low: Lower end of the bootstrap percentile interval.
        high: Upper end of the interval.
        p_value: Two-sided bootstrap p-value of a zero difference, capped at 1.
    """

    mean_difference: float
    low: float
    high: float
    p_value: float


def wilson_interval(successes: int, total: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion, e.g. a test accuracy of ``successes`` right out of ``total`` rows.

    Why Wilson: the normal ("Wald") interval collapses to a point at 0/n and n/n and undercovers near them, which
    is exactly where a good model's accuracy lives.

    Args:
        successes: rows right, 0 <= successes <= total.
        total: rows scored, >= 1.
        confidence: coverage of the interval, in (0, 1); default 0.95.

    Returns:
        ``(low, high)``, with low = 0 when successes = 0 and high = 1 when successes = total.

    Raises:
        ValueError: an argument outside the ranges above.

    Example:
        >>> low, high = wilson_interval(45, 50)
        >>> round(low, 4), round(high, 4)
        (0.7864, 0.9565)
        >>> wilson_interval(0, 10)[0], wilson_interval(10, 10)[1]
        (0.0, 1.0)
    """
    _check_confidence(confidence)
    check_int("total", total, low=1)
    check_int("successes", successes, low=0, high=total)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / total
    # center and half-width of the Wilson interval: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    shrink = 1 + z * z / total
    center = (p + z * z / (2 * total)) / shrink
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / shrink
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == total else min(1.0, center + half)
    return low, high


def accuracy_standard_error(accuracy: float, rows: int) -> float:
    """Binomial standard error of an accuracy on ``rows`` rows, ``sqrt(p (1 - p) / rows)``, with ``p`` kept half a
    row from 0 and 1: a perfect (or null) score on 36 rows does not make the next 36 certain, and a standard error
    of 0 would let any difference count.

    Args:
        accuracy: the accuracy, in [0, 1] (a mean of fold accuracies a rounding error above 1 counts as 1).
        rows: the rows it was measured on, >= 1.

    Raises:
        ValueError: an accuracy outside [0, 1] (beyond a rounding error: a percentage, a NaN), or fewer than one row.

    Example:
        >>> round(accuracy_standard_error(0.9, 100), 3)
        0.03
        >>> round(accuracy_standard_error(1.0, 36), 4)  # as if 35.5 of 36 were right
        0.0195
    """
    check_number("accuracy", accuracy, finite=True)
    if not -1e-9 <= accuracy <= 1 + 1e-9:  # a mean of fold accuracies may stray by a rounding error, no further
        raise ValueError(f"`accuracy` must be in [0, 1], got {accuracy!r}")
    check_int("rows", rows, low=1)
    p = min(max(accuracy, 0.5 / rows), 1 - 0.5 / rows)
    return math.sqrt(p * (1 - p) / rows)


def mcnemar_exact(first_correct: np.ndarray, second_correct: np.ndarray) -> McNemar:
    """Exact two-sided McNemar test: do two classifiers, scored on the same rows, differ in accuracy?

    Only the rows exactly one of them got right carry evidence; under "no difference" each such row is a fair
    coin, so the p-value is the two-sided binomial test of ``only_first`` out of the discordant rows at 1/2.

    Args:
        first_correct: 1-D boolean array, True where the first model was right.
        second_correct: 1-D boolean array of the same length, for the second model.

    Returns:
        ``McNemar(only_first, only_second, p_value)``; p_value is 1.0 when no row is discordant.

    Raises:
        ValueError: an array that is not 1-D or not boolean, or the two of different lengths.

    Example:
        >>> first = np.array([True] * 40 + [False] * 10)
        >>> second = np.array([True] * 30 + [False] * 10 + [True] * 10)
        >>> mcnemar_exact(first, second)
        McNemar(only_first=10, only_second=10, p_value=1.0)
        >>> round(mcnemar_exact(first, np.ones(50, dtype=bool)).p_value, 5)  # 0 against 10: 2 / 2**10
        0.00195
    """
    first = _check_rows("first_correct", first_correct, boolean=True)
    second = _check_rows("second_correct", second_correct, boolean=True)
    _check_same_length("first_correct", first, "second_correct", second)
    only_first = int(np.count_nonzero(first & ~second))
    only_second = int(np.count_nonzero(second & ~first))
    discordant = only_first + only_second
    if discordant == 0:
        return McNemar(only_first, only_second, 1.0)
    # the binomial at 1/2 is symmetric: the two-sided p is twice the smaller tail
    p_value = min(1.0, 2.0 * float(binom.cdf(min(only_first, only_second), discordant, 0.5)))
    return McNemar(only_first, only_second, p_value)


def mcnemar_by_row(first_correct: np.ndarray, second_correct: np.ndarray, rows: np.ndarray | None = None) -> McNemar:
    """Two methods run several times (seeds) on the *same* test rows, compared with the row as the unit: the exact
    sign-flip permutation test of the rows' margins.

    Pooling the runs' rows into one :func:`mcnemar_exact` counts a row that every seed of one method got right and
    every seed of the other got wrong as several independent pieces of evidence; when the test rows are the same in
    every run they are not, and the pooled p-value is too small. Here each row has one margin, ``d = (runs the
    first got it right) - (runs the second got it right)``; under "no difference" the two methods are exchangeable
    on each row, so each margin is as likely to be ``-d`` as ``d``, and the p-value is the exact probability,
    over all sign flips, of a total ``|sum d|`` at least the observed one (computed by convolving the margins'
    distributions, so it is exact however many rows). With one run it is :func:`mcnemar_exact`. Because ``d^2 <=
    runs * |d|``, the test's z is at least the pooled McNemar's divided by ``sqrt(runs)``: seeds that agree row
    by row are the worst case, where the row-level evidence is ``1 / runs`` of the pooled.

    Runs that scored different test rows (a table split again for each seed, several data sets pooled) are given
    one after another, 1-D, with ``rows`` saying which test row each entry is: entries of one row add into its
    margin, distinct rows stay distinct pieces of evidence. Rows each scored once make it :func:`mcnemar_exact` of
    the pooled entries; every run on the same rows makes it the 2-D form.

    Args:
        first_correct: ``(runs, rows)`` boolean array (or 1-D for one run), True where the first method was right;
            with ``rows``, 1-D: every run's entries one after another.
        second_correct: the same shape, for the second method on the same rows, run for run.
        rows: None (default): the runs of a 2-D array scored the same rows, column by column. Else a 1-D integer
            array as long as the 1-D ``first_correct``: the test row of each entry (any ids; equal ids are the same
            row, scored by several runs).

    Returns:
        ``McNemar(only_first, only_second, p_value)`` with ``only_first`` the rows whose margin favours the first
        method, ``only_second`` those favouring the second, and the two-sided permutation p-value (1.0 when the
        margins sum to zero).

    Raises:
        ValueError: arrays that are not boolean, of different shapes, or not 1-D or 2-D; ``rows`` that is not a
            1-D integer array as long as 1-D ``first_correct``.

    Example:
        >>> first = np.array([True] * 40 + [False] * 10)
        >>> second = first.copy(); second[:12] = False; second[40:42] = True  # 12 rows only first, 2 only second
        >>> one, mcnemar = mcnemar_by_row(first, second), mcnemar_exact(first, second)  # one run: McNemar
        >>> (one.only_first, one.only_second, round(one.p_value, 12)) == (12, 2, round(mcnemar.p_value, 12))
        True
        >>> pooled = mcnemar_exact(np.tile(first, 3), np.tile(second, 3))    # 3 seeds that agree, pooled
        >>> by_row = mcnemar_by_row(np.stack([first] * 3), np.stack([second] * 3))
        >>> (pooled.only_first, round(pooled.p_value, 6)), (by_row.only_first, round(by_row.p_value, 4))
        ((36, 3e-06), (12, 0.0129))
        >>> two_splits = mcnemar_by_row(np.tile(first, 2), np.tile(second, 2), rows=np.arange(100))  # 100 rows
        >>> two_splits.only_first, round(two_splits.p_value, 5)
        (24, 0.00018)
    """
    first = np.asarray(first_correct)
    second = np.asarray(second_correct)
    for name, value in (("first_correct", first), ("second_correct", second)):
        if value.dtype != np.bool_ or value.ndim not in (1, 2):
            raise ValueError(f"`{name}` must be a 1-D or 2-D (runs, rows) boolean array, got {value.ndim}-D "
                             f"{value.dtype}")
    if first.shape != second.shape:
        raise ValueError(f"`first_correct` and `second_correct` must have the same shape, got {first.shape} and "
                         f"{second.shape}")
    if rows is None:
        margin = np.atleast_2d(first).sum(0, dtype=np.int64) - np.atleast_2d(second).sum(0, dtype=np.int64)
    else:
        ids = np.asarray(rows)
        if first.ndim != 1 or ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) != len(first):
            raise ValueError(f"`rows` must be a 1-D integer array as long as a 1-D `first_correct` ({first.size} "
                             f"entries), got {ids.ndim}-D {ids.dtype} of {ids.size} for {first.ndim}-D entries")
        _, row = np.unique(ids, return_inverse=True)
        margin = np.bincount(row, first).astype(np.int64) - np.bincount(row, second).astype(np.int64)
    only_first, only_second = int(np.count_nonzero(margin > 0)), int(np.count_nonzero(margin < 0))
    observed = abs(int(margin.sum()))
    if observed == 0:
        return McNemar(only_first, only_second, 1.0)
    # the null distribution of sum(d) over sign flips: for the n_k rows of size k, k * (2 B - n_k), B ~ Bin(n_k, 1/2)
    sizes, counts = np.unique(np.abs(margin[margin != 0]), return_counts=True)
    distribution = np.ones(1)
    for size, count in zip(sizes.tolist(), counts.tolist()):
        spread = np.zeros(2 * size * count + 1)
        spread[:: 2 * size] = binom.pmf(np.arange(count + 1), count, 0.5)
        distribution = np.convolve(distribution, spread)
    total = (len(distribution) - 1) // 2
    values = np.abs(np.arange(-total, total + 1))
    return McNemar(only_first, only_second, min(1.0, float(distribution[values >= observed].sum())))


def paired_bootstrap(
    first_losses: np.ndarray,
    second_losses: np.ndarray,
    *,
    rounds: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Bootstrap the mean per-row difference ``second - first`` of two models' losses on the same rows.

    Each round resamples the rows with replacement -- the same rows for both models, so what they share
    (hard rows, easy rows) cancels -- and takes the mean difference. Round ``r`` uses the rows
    ``rng.integers(0, n, size=n)`` of ``rng = numpy.random.default_rng(seed)``, drawn round after round.

    Args:
        first_losses: 1-D per-row losses (or any per-row score) of the first model.
        second_losses: 1-D, same length, of the second model on the same rows.
        rounds: bootstrap resamples, >= 1; default 2000.
        confidence: coverage of the percentile interval, in (0, 1); default 0.95.
        seed: seed of the numpy Generator that draws the resamples; default 0.

    Returns:
        ``PairedDifference(mean_difference, low, high, p_value)``: the observed mean difference, the percentile
        interval of the resampled means, and the two-sided p-value ``2 * min(count <= 0, count >= 0)`` over
        ``rounds``, each count and ``rounds`` plus one, capped at 1: a Monte Carlo p-value is never 0, its least is
        ``2 / (rounds + 1)`` (Davison & Hinkley, *Bootstrap Methods and their Application*, 1997, section 4.2.1;
        North, Curtis & Sham, 2002). Until session 26 it was the bare shares, and a clear difference read
        "p = 0" in the report.

    Raises:
        ValueError: an array that is not 1-D, empty or not finite, arrays of different lengths, ``rounds`` < 1
            or ``confidence`` outside (0, 1).

    Example:
        >>> first = np.linspace(0.0, 1.0, 200)
        >>> result = paired_bootstrap(first, first + 0.1, rounds=500)
        >>> round(result.mean_difference, 6), round(result.low, 6), round(result.high, 6), round(result.p_value, 6)
        (0.1, 0.1, 0.1, 0.003992)
        >>> paired_bootstrap(first, first).p_value
        1.0
    """
    first = _check_rows("first_losses", first_losses, boolean=False)
    second = _check_rows("second_losses", second_losses, boolean=False)
    _check_same_length("first_losses", first, "second_losses", second)
    check_int("rounds", rounds, low=1)
    _check_confidence(confidence)
    differences = second.astype(np.float64) - first.astype(np.float64)
    means = bootstrap_statistics(lambda rows: differences[rows].mean(axis=1), len(differences), rounds=rounds,
                                 seed=seed)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    tails = min(int(np.count_nonzero(means <= 0)), int(np.count_nonzero(means >= 0)))
    p_value = min(1.0, 2.0 * (tails + 1) / (rounds + 1))
    return PairedDifference(float(differences.mean()), float(low), float(high), p_value)


def bootstrap_statistics(
    statistic: Callable[[np.ndarray], np.ndarray], rows: int, *, rounds: int = 2000, seed: int = 0
) -> np.ndarray:
    """``statistic`` of ``rounds`` resamples (with replacement) of ``rows`` rows.

    Round ``r`` uses the rows ``rng.integers(0, rows, size=rows)`` of ``rng = numpy.random.default_rng(seed)``,
    drawn round after round -- the same resamples :func:`paired_bootstrap` draws with the same seed. The rounds
    are handed to ``statistic`` in chunks of at most a million row indices, so memory stays flat for big test sets.

    Args:
        statistic: maps a ``(count, rows)`` int64 array of resampled row indices (one resample per line) to
            ``(count,)`` values, or ``(count, k)`` for k statistics of the same resamples; vectorized over lines.
        rows: rows to resample, >= 1.
        rounds: bootstrap resamples, >= 1; default 2000.
        seed: seed of the numpy Generator that draws the resamples; default 0.

    Returns:
        float64 array of shape ``(rounds,)`` or ``(rounds, k)``.

    Raises:
        ValueError: ``rows`` or ``rounds`` not an integer >= 1.

    Example:
        >>> values = np.arange(10.0)
        >>> means = bootstrap_statistics(lambda rows: values[rows].mean(axis=1), 10, rounds=4, seed=1)
        >>> means.shape, bool(np.all((0 <= means) & (means <= 9)))
        ((4,), True)
    """
    for name, value in (("rows", rows), ("rounds", rounds)):
        check_int(name, value, low=1)
    rng = np.random.default_rng(seed)
    chunks = []
    step = max(1, _CHUNK_INDICES // rows)
    for start in range(0, rounds, step):
        count = min(step, rounds - start)
        # one (count, rows) draw is the same stream as `count` draws of `rows`, so chunking does not change the result
        chunks.append(np.asarray(statistic(rng.integers(0, rows, size=(count, rows))), dtype=np.float64))
    return np.concatenate(chunks)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], np.ndarray],
    rows: int,
    *,
    rounds: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> np.ndarray:
    """Percentile bootstrap interval of ``statistic`` over resampled rows (see :func:`bootstrap_statistics`).

    Why the percentile interval: it needs no formula for the statistic's standard error (a balanced accuracy or an
    R² has none simple), and it stays inside the statistic's range.

    Args:
        statistic: as in :func:`bootstrap_statistics`: ``(count, rows)`` row indices -> ``(count,)`` or
            ``(count, k)`` values. Resamples whose value is NaN (undefined on that resample) are left out.
        rows: rows to resample, >= 1.
        rounds: bootstrap resamples, >= 1; default 2000.
        confidence: coverage of the interval, in (0, 1); default 0.95.
        seed: seed of the numpy Generator that draws the resamples; default 0.

    Returns:
        ``[low, high]`` (shape (2,)), or shape (2, k) for k statistics.

    Raises:
        ValueError: an argument outside the ranges above.

    Example:
        >>> values = np.linspace(0.0, 1.0, 200)
        >>> low, high = bootstrap_interval(lambda rows: values[rows].mean(axis=1), 200, rounds=500)
        >>> bool(low < 0.5 < high), round(float(high - low), 1)
        (True, 0.1)
    """
    _check_confidence(confidence)
    values = bootstrap_statistics(statistic, rows, rounds=rounds, seed=seed)
    tail = (1 - confidence) / 2
    return np.nanquantile(values, [tail, 1 - tail], axis=0)


def decide(p_value: float, difference: float, *, higher_is_better: bool, alpha: float = 0.05) -> str:
    """Say whether the second model is "better", "worse" or "not distinguishable" from the first.

    Args:
        p_value: of a paired test of the two, in [0, 1].
        difference: second minus first, in the metric's units (an accuracy or a loss).
        higher_is_better: True for accuracy-like metrics, False for losses.
        alpha: significance level, in (0, 1); default 0.05.

    Returns:
        "better" or "worse" when ``p_value < alpha`` and ``difference`` is not 0, else "not distinguishable".

    Raises:
        ValueError: ``p_value`` outside [0, 1] or ``alpha`` outside (0, 1).

    Example:
        >>> decide(0.01, -0.02, higher_is_better=False), decide(0.01, -0.02, higher_is_better=True)
        ('better', 'worse')
        >>> decide(0.2, 0.05, higher_is_better=True)
        'not distinguishable'
    """
    check_number("p_value", p_value, low=0, high=1)
    check_number("alpha", alpha, low=0, high=1, closed="neither")
    if p_value >= alpha or difference == 0:
        return "not distinguishable"
    return "better" if (difference > 0) == higher_is_better else "worse"


def _check_confidence(confidence: float) -> None:
    check_number("confidence", confidence, low=0, high=1, closed="neither")


def _check_rows(name: str, values: np.ndarray, *, boolean: bool) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {array.shape}")
    if boolean and array.dtype != np.bool_:
        raise ValueError(f"`{name}` must be a boolean array, got dtype {array.dtype}")
    if not boolean:
        if len(array) == 0:
            raise ValueError(f"`{name}` must have at least one row, got 0")
        if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
            raise ValueError(f"`{name}` must be real numbers, got dtype {array.dtype}")
        bad = np.flatnonzero(~np.isfinite(array))
        if len(bad):
            raise ValueError(f"`{name}` must be finite, got {name}[{bad[0]}] = {array[bad[0]].item()!r}")
    return array


def _check_same_length(first_name: str, first: np.ndarray, second_name: str, second: np.ndarray) -> None:
    if len(first) != len(second):
        raise ValueError(
            f"`{first_name}` and `{second_name}` must have the same length, got {len(first)} and {len(second)}"
        )
