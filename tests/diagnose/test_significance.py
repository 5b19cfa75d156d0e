"""Intervals and paired tests against scipy, statsmodels and a brute-force bootstrap loop."""

import itertools

import numpy as np
import pytest
from scipy.stats import binom, binomtest
from statsmodels.stats.contingency_tables import mcnemar

from fitguard.diagnose import (
    accuracy_standard_error,
    decide,
    mcnemar_by_row,
    mcnemar_exact,
    paired_bootstrap,
    wilson_interval,
)
from fitguard.diagnose.significance import McNemar, PairedDifference

CASES = [(k, n) for n in (1, 2, 5, 17, 50, 150, 1000) for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
@pytest.mark.parametrize(("successes", "total"), CASES)
def test_wilson_interval_matches_scipy(successes, total, confidence):
    expected = binomtest(successes, total).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson_interval(successes, total, confidence=confidence)
    assert low == pytest.approx(expected.low, rel=1e-12, abs=1e-14)
    assert high == pytest.approx(expected.high, rel=1e-12, abs=1e-14)
    assert 0.0 <= low <= successes / total <= high <= 1.0


def test_wilson_interval_is_exact_at_the_ends():
    assert wilson_interval(0, 30)[0] == 0.0
    assert wilson_interval(30, 30)[1] == 1.0


def test_wilson_interval_accepts_numpy_integers():
    assert wilson_interval(np.int64(3), np.int64(10)) == wilson_interval(3, 10)


@pytest.mark.parametrize(("successes", "total"), CASES)
def test_accuracy_standard_error_is_the_binomial_one_half_a_row_from_the_ends(successes, total):
    # scipy's binomial standard deviation of the count, over the rows, at the proportion kept in [0.5, n - 0.5] / n
    kept = min(max(successes, 0.5), total - 0.5) / total
    expected = binom(total, kept).std() / total
    assert accuracy_standard_error(successes / total, total) == pytest.approx(expected, rel=1e-12)
    assert accuracy_standard_error(successes / total, total) > 0


def test_accuracy_standard_error_takes_a_mean_a_rounding_error_above_one_as_one():
    assert accuracy_standard_error(1 + 2e-16, 36) == accuracy_standard_error(1.0, 36)


@pytest.mark.parametrize(("accuracy", "rows", "message"), [
    (0.5, 0, "`rows` must be an integer >= 1, got 0"),
    (float("nan"), 10, "`accuracy` must be a finite number, got nan"),
    (93.0, 10, "`accuracy` must be in [0, 1], got 93.0"),  # a percentage
    (-0.1, 10, "`accuracy` must be in [0, 1], got -0.1"),
])
def test_accuracy_standard_error_rejects_bad_arguments(accuracy, rows, message):
    with pytest.raises(ValueError) as error:
        accuracy_standard_error(accuracy, rows)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("successes", "total", "confidence", "message"),
    [
        (1, 0, 0.95, "`total` must be an integer >= 1, got 0"),
        (1, 2.0, 0.95, "`total` must be an integer >= 1, got 2.0"),
        (1, True, 0.95, "`total` must be an integer >= 1, got True"),
        (-1, 5, 0.95, "`successes` must be an integer in [0, 5], got -1"),
        (6, 5, 0.95, "`successes` must be an integer in [0, 5], got 6"),
        (2.5, 5, 0.95, "`successes` must be an integer in [0, 5], got 2.5"),
        (1, 5, 0.0, "`confidence` must be a number in (0, 1), got 0.0"),
        (1, 5, 1, "`confidence` must be a number in (0, 1), got 1"),
        (1, 5, "0.9", "`confidence` must be a number in (0, 1), got '0.9'"),
    ],
)
def test_wilson_interval_rejects_bad_arguments(successes, total, confidence, message):
    with pytest.raises(ValueError) as error:
        wilson_interval(successes, total, confidence=confidence)
    assert str(error.value) == message


def _pairs(only_first: int, only_second: int, both: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    first = np.array([True] * only_first + [False] * only_second + [True] * both + [False] * neither)
    second = np.array([False] * only_first + [True] * only_second + [True] * both + [False] * neither)
    order = np.random.default_rng(only_first * 100 + only_second).permutation(len(first))
    return first[order], second[order]


@pytest.mark.parametrize(
    ("only_first", "only_second"), [(0, 1), (1, 0), (3, 3), (0, 10), (2, 9), (12, 4), (25, 40), (100, 131)]
)
def test_mcnemar_exact_matches_scipy_and_statsmodels(only_first, only_second):
    first, second = _pairs(only_first, only_second, both=60, neither=7)
    result = mcnemar_exact(first, second)
    assert (result.only_first, result.only_second) == (only_first, only_second)
    binomial = binomtest(only_first, only_first + only_second, 0.5).pvalue
    table = [[60, only_first], [only_second, 7]]  # rows: first right / wrong; columns: second right / wrong
    assert result.p_value == pytest.approx(binomial, rel=1e-9)
    assert result.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-9)


def test_mcnemar_exact_without_discordant_rows_is_one():
    first, second = _pairs(0, 0, both=20, neither=5)
    assert mcnemar_exact(first, second) == McNemar(only_first=0, only_second=0, p_value=1.0)
    assert mcnemar_exact(np.array([], dtype=bool), np.array([], dtype=bool)).p_value == 1.0


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (np.ones((2, 2), dtype=bool), np.ones(4, dtype=bool), "`first_correct` must be 1-D, got shape (2, 2)"),
        (np.ones(3, dtype=bool), np.ones(3), "`second_correct` must be a boolean array, got dtype float64"),
        (np.ones(3, dtype=bool), np.ones(4, dtype=bool),
         "`first_correct` and `second_correct` must have the same length, got 3 and 4"),
    ],
)
def test_mcnemar_exact_rejects_bad_arrays(first, second, message):
    with pytest.raises(ValueError) as error:
        mcnemar_exact(first, second)
    assert str(error.value) == message


def _brute_force_bootstrap(first, second, rounds, confidence, seed):
    """The definition, one row at a time, with the draws the docstring promises."""
    rng = np.random.default_rng(seed)
    n = len(first)
    means = []
    for _ in range(rounds):
        rows = rng.integers(0, n, size=n)
        total = 0.0
        for row in rows:
            total += float(second[row]) - float(first[row])
        means.append(total / n)
    means.sort()
    below = sum(m <= 0 for m in means)
    above = sum(m >= 0 for m in means)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    # a Monte Carlo p-value: each tail's count plus one over the rounds plus one, never 0
    p = min(1.0, 2 * (min(below, above) + 1) / (rounds + 1))
    return float(np.mean(np.asarray(second) - np.asarray(first))), low, high, p


@pytest.mark.parametrize(("n", "rounds", "confidence", "seed"), [(1, 5, 0.9, 0), (30, 300, 0.95, 1), (7, 64, 0.5, 7)])
def test_paired_bootstrap_matches_a_brute_force_loop(n, rounds, confidence, seed):
    rng = np.random.default_rng(100 + n)
    first = rng.exponential(size=n)
    second = first + rng.normal(0.05, 0.3, size=n)
    expected = _brute_force_bootstrap(first, second, rounds, confidence, seed)
    result = paired_bootstrap(first, second, rounds=rounds, confidence=confidence, seed=seed)
    assert (result.mean_difference, result.low, result.high, result.p_value) == pytest.approx(expected, rel=1e-12)


def test_paired_bootstrap_chunks_give_the_same_draws(monkeypatch):
    import fitguard.diagnose.significance as significance

    first, second = np.arange(50.0), np.arange(50.0)[::-1]
    whole = paired_bootstrap(first, second, rounds=333, seed=3)
    monkeypatch.setattr(significance, "_CHUNK_INDICES", 120)  # two rounds per chunk, the last chunk short
    assert paired_bootstrap(first, second, rounds=333, seed=3) == whole


def test_paired_bootstrap_interval_covers_a_known_shift():
    rng = np.random.default_rng(0)
    first = rng.exponential(size=400)
    second = first - 0.2 + rng.normal(0, 0.5, size=400)  # the second model's losses are 0.2 lower on average
    result = paired_bootstrap(first, second, seed=1)
    assert result.low < -0.2 < result.high
    assert result.high < 0 and result.p_value < 0.01
    assert abs(result.mean_difference - (-0.2)) < 3 * 0.5 / np.sqrt(400)


def test_paired_bootstrap_of_identical_losses_finds_no_difference():
    losses = np.random.default_rng(0).exponential(size=80)
    assert paired_bootstrap(losses, losses.copy()) == PairedDifference(0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_without_a_shift_is_not_significant():
    rng = np.random.default_rng(5)
    first = rng.normal(size=300)
    noise = rng.normal(size=300)
    result = paired_bootstrap(first, first + noise - noise.mean(), seed=2)  # noise only, mean difference 0
    assert result.low < 0 < result.high and result.p_value > 0.5


def test_paired_bootstrap_is_reproducible_from_its_seed():
    first, second = np.linspace(0, 1, 40), np.linspace(0, 1, 40) ** 2
    assert paired_bootstrap(first, second, seed=4) == paired_bootstrap(first, second, seed=4)
    assert paired_bootstrap(first, second, seed=4) != paired_bootstrap(first, second, seed=5)


@pytest.mark.parametrize(
    ("first", "second", "options", "message"),
    [
        (np.ones((3, 1)), np.ones(3), {}, "`first_losses` must be 1-D, got shape (3, 1)"),
        (np.ones(3), np.ones(2), {}, "`first_losses` and `second_losses` must have the same length, got 3 and 2"),
        (np.ones(0), np.ones(0), {}, "`first_losses` must have at least one row, got 0"),
        (np.ones(3), np.array([1.0, np.nan, 2.0]), {}, "`second_losses` must be finite, got second_losses[1] = nan"),
        (np.array(["a", "b"]), np.ones(2), {}, "`first_losses` must be real numbers, got dtype <U1"),
        (np.ones(3), np.ones(3), {"rounds": 0}, "`rounds` must be an integer >= 1, got 0"),
        (np.ones(3), np.ones(3), {"rounds": 10.0}, "`rounds` must be an integer >= 1, got 10.0"),
        (np.ones(3), np.ones(3), {"confidence": 1.5}, "`confidence` must be a number in (0, 1), got 1.5"),
    ],
)
def test_paired_bootstrap_rejects_bad_arguments(first, second, options, message):
    with pytest.raises(ValueError) as error:
        paired_bootstrap(first, second, **options)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("p_value", "difference", "higher_is_better", "expected"),
    [
        (0.01, 0.03, True, "better"),
        (0.01, -0.03, True, "worse"),
        (0.01, -0.03, False, "better"),
        (0.01, 0.03, False, "worse"),
        (0.05, 0.03, True, "not distinguishable"),  # p must be below alpha
        (0.30, -0.5, False, "not distinguishable"),
        (0.0, 0.0, True, "not distinguishable"),
    ],
)
def test_decide(p_value, difference, higher_is_better, expected):
    assert decide(p_value, difference, higher_is_better=higher_is_better) == expected


def test_decide_uses_alpha():
    assert decide(0.03, 1.0, higher_is_better=True, alpha=0.01) == "not distinguishable"
    assert decide(0.03, 1.0, higher_is_better=True, alpha=0.1) == "better"


@pytest.mark.parametrize(
    ("p_value", "alpha", "message"),
    [
        (1.5, 0.05, "`p_value` must be a number in [0, 1], got 1.5"),
        (float("nan"), 0.05, "`p_value` must be a number in [0, 1], got nan"),
        (0.5, 0.0, "`alpha` must be a number in (0, 1), got 0.0"),
        (0.5, 1, "`alpha` must be a number in (0, 1), got 1"),
    ],
)
def test_decide_rejects_bad_arguments(p_value, alpha, message):
    with pytest.raises(ValueError) as error:
        decide(p_value, 0.1, higher_is_better=True, alpha=alpha)
    assert str(error.value) == message


def _same(result: McNemar, expected: McNemar) -> bool:
    return (result.only_first, result.only_second) == (expected.only_first, expected.only_second) and \
        result.p_value == pytest.approx(expected.p_value, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("seed", range(6))
def test_mcnemar_by_row_is_the_exact_permutation_test_of_the_row_margins(seed):
    # the oracle: every one of the 2^n sign flips of the n rows' margins, enumerated
    rng = np.random.default_rng(seed)
    runs, rows = 3, 14
    first = rng.random((runs, rows)) < rng.uniform(0.2, 0.9, rows)
    second = rng.random((runs, rows)) < rng.uniform(0.2, 0.9, rows)
    margins = np.array([sum(bool(first[r, i]) for r in range(runs)) - sum(bool(second[r, i]) for r in range(runs))
                        for i in range(rows)])
    signs = np.array(list(itertools.product((-1, 1), repeat=rows)))
    totals = np.abs(signs @ margins)
    expected = np.mean(totals >= abs(margins.sum()))
    result = mcnemar_by_row(first, second)
    assert (result.only_first, result.only_second) == (int((margins > 0).sum()), int((margins < 0).sum()))
    assert result.p_value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_mcnemar_by_row_of_one_run_is_scipy_s_binomial_test(seed):
    rng = np.random.default_rng(seed)
    first, second = rng.random(300) < 0.8, rng.random(300) < 0.72
    result = mcnemar_by_row(first, second)
    wins, losses = int((first & ~second).sum()), int((second & ~first).sum())
    assert (result.only_first, result.only_second) == (wins, losses)
    assert result.p_value == pytest.approx(binomtest(wins, wins + losses).pvalue, rel=1e-9)


def test_mcnemar_by_row_counts_each_row_once_and_uses_how_many_seeds_won_it():
    rng = np.random.default_rng(7)
    first, second = rng.random(200) < 0.8, rng.random(200) < 0.7
    assert _same(mcnemar_by_row(first[None], second[None]), mcnemar_exact(first, second))
    # the same predictions three times: pooled, McNemar triples the evidence; by row it stays one run's
    assert _same(mcnemar_by_row(np.stack([first] * 3), np.stack([second] * 3)), mcnemar_exact(first, second))
    assert mcnemar_exact(np.tile(first, 3), np.tile(second, 3)).p_value < mcnemar_exact(first, second).p_value
    # 30 rows won 3-0 by the first method, 30 won 1-0 by the second: a sign test would see a tie, the margins do not
    won = np.zeros((3, 60), dtype=bool)
    won[:, :30] = True
    lost = np.zeros((3, 60), dtype=bool)
    lost[0, 30:] = True
    result = mcnemar_by_row(won, lost)
    assert (result.only_first, result.only_second) == (30, 30) and result.p_value < 1e-3


@pytest.mark.parametrize("seed", range(4))
def test_mcnemar_by_row_with_row_ids_adds_the_entries_of_one_row_and_keeps_other_rows_apart(seed):
    # three runs: two on the same 6 rows (one split's), one on 5 other rows (another split's); the oracle enumerates
    # every sign flip of the 11 rows' margins, each margin summed by hand
    rng = np.random.default_rng(seed)
    first = [rng.random(6) < 0.7, rng.random(6) < 0.7, rng.random(5) < 0.6]
    second = [rng.random(6) < 0.5, rng.random(6) < 0.5, rng.random(5) < 0.4]
    margins = np.array([int(first[0][i]) + int(first[1][i]) - int(second[0][i]) - int(second[1][i]) for i in range(6)]
                       + [int(first[2][i]) - int(second[2][i]) for i in range(5)])
    signs = np.array(list(itertools.product((-1, 1), repeat=11)))
    expected = np.mean(np.abs(signs @ margins) >= abs(margins.sum()))
    rows = np.array([10, 11, 12, 13, 14, 15] * 2 + [-5, -4, -3, -2, -1])  # any integer ids
    result = mcnemar_by_row(np.concatenate(first), np.concatenate(second), rows=rows)
    assert (result.only_first, result.only_second) == (int((margins > 0).sum()), int((margins < 0).sum()))
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def test_mcnemar_by_row_with_row_ids_spans_pooled_mcnemar_and_the_two_d_form():
    rng = np.random.default_rng(3)
    first, second = rng.random((3, 120)) < 0.8, rng.random((3, 120)) < 0.7
    # every entry its own row: McNemar's test of the pooled entries
    assert _same(mcnemar_by_row(first.ravel(), second.ravel(), rows=np.arange(360)),
                 mcnemar_exact(first.ravel(), second.ravel()))
    # every run on the same rows: the 2-D form, whatever order the ids come in
    ids = np.tile(rng.permutation(120), 3)
    order = np.argsort(ids[:120], kind="stable")
    same = mcnemar_by_row(first.ravel(), second.ravel(), rows=ids)
    assert _same(same, mcnemar_by_row(first[:, order], second[:, order]))


@pytest.mark.parametrize(
    ("first", "rows", "message"),
    [
        (np.ones(4, dtype=bool), np.arange(3), "`rows` must be a 1-D integer array as long as a 1-D `first_correct` "
                                                "(4 entries), got 1-D int64 of 3 for 1-D entries"),
        (np.ones(4, dtype=bool), np.zeros(4), "`rows` must be a 1-D integer array as long as a 1-D `first_correct` "
                                               "(4 entries), got 1-D float64 of 4 for 1-D entries"),
        (np.ones((2, 2), dtype=bool), np.arange(4), "`rows` must be a 1-D integer array as long as a 1-D "
                                                     "`first_correct` (4 entries), got 1-D int64 of 4 for 2-D entries"),
    ],
)
def test_mcnemar_by_row_refuses_row_ids_that_do_not_fit_in_one_line(first, rows, message):
    with pytest.raises(ValueError) as raised:
        mcnemar_by_row(first, first.copy(), rows=rows)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (np.ones((2, 3)), np.ones((2, 3), dtype=bool), "`first_correct` must be a 1-D or 2-D (runs, rows) boolean "
                                                        "array, got 2-D float64"),
        (np.ones((2, 3, 1), dtype=bool), np.ones((2, 3, 1), dtype=bool),
         "`first_correct` must be a 1-D or 2-D (runs, rows) boolean array, got 3-D bool"),
        (np.ones((2, 3), dtype=bool), np.ones((3, 3), dtype=bool),
         "`first_correct` and `second_correct` must have the same shape, got (2, 3) and (3, 3)"),
    ],
)
def test_mcnemar_by_row_rejects_bad_arrays_in_one_line(first, second, message):
    with pytest.raises(ValueError) as raised:
        mcnemar_by_row(first, second)
    assert str(raised.value) == message


def test_a_paired_bootstrap_p_value_is_never_zero():
    # every resample on one side: the least p-value 2000 rounds can give, 2 / 2001, not 0
    first = np.linspace(0.0, 1.0, 300)
    result = paired_bootstrap(first, first + 1.0)
    assert result.p_value == 2 / 2001 and result.low == result.high == pytest.approx(1.0)
