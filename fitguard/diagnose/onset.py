"""Where overfitting begins: the epoch after which validation loss rises while training loss keeps falling.

The rule, on the monitored validation curve ``v`` and the training curve ``t`` (one value per epoch):

1. Smooth ``v`` with a centred running median of ``window`` epochs (robust to single-epoch spikes, no lag).
2. The candidate onset ``m`` is the epoch of the raw minimum within half a window of the smoothed minimum
   (the smoothed curve locates the bottom robustly; the raw values pin it to the epoch).
3. Evidence that ``v`` rises after ``m``, all required:
   - at least ``min_epochs_after`` epochs follow ``m``;
   - a one-sided Mann–Kendall test on the raw ``v[m:]`` says "increasing" with p-value < ``alpha``;
   - the smoothed rise ``v_s[-1] - v_s[m]`` exceeds ``min_rise`` (relative to ``|v_s[m]|``) and twice the
     noise level (the robust standard deviation, 1.4826 x MAD, of ``v - v_s``);
   - the smoothed training curve ends lower than at ``m`` (if it rose too, the run is unstable, not overfitting).
4. ``confidence = (1 - p) * min(1, rise / (4 * noise))``: near 1 for a clear, steady rise; lower when the rise
   is only a few noise widths.

Returns ``None`` when any requirement fails.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from fitguard.train.history import History


@dataclass(frozen=True)
class Onset:
    """The detected onset and the numbers behind it.

    ``epoch`` is the last good epoch (the smoothed minimum of the validation loss, ``min_epoch``): overfitting
    begins right after it, and restoring the weights of that epoch undoes it.

    Args:
        epoch: The last good epoch (equal to ``min_epoch``).
        confidence: In [0, 1]: ``1 - p_value``, scaled down while the rise is under 4 noise levels.
        min_val_loss: The raw monitored loss at ``min_epoch``.
        min_epoch: The epoch of the minimum (the raw minimum near the smoothed one).
        rise: How far the smoothed loss rose from the minimum to the last epoch, in the loss's units.
        slope: Sen's slope of the loss after the minimum, per epoch.
        p_value: One-sided Mann-Kendall p-value of an increasing trend after the minimum.
        train_change: Change of the smoothed training loss over the same epochs (< 0: still falling; 0
            without a training loss).
        noise: Robust noise level of the monitored loss (1.4826 x median absolute residual from its running
            median).
    """

    epoch: int
    confidence: float
    min_val_loss: float
    min_epoch: int
    rise: float
    slope: float
    p_value: float
    train_change: float
    noise: float

    def reason(self) -> str:
        """One sentence for reports: where validation loss bottomed, how much it rose, and the trend test's numbers."""
        return (
            f"validation loss bottomed at {self.min_val_loss:.4g} in epoch {self.min_epoch} and rose by "
            f"{self.rise:.3g} after it (Sen slope {self.slope:+.3g}/epoch, Mann-Kendall p={self.p_value:.2g}) "
            f"while training loss changed by {self.train_change:+.3g}"
        )


def running_median(values: list[float], window: int) -> list[float]:
    """Centred running median; the window shrinks symmetrically at the ends.

    Args:
        values: The series.
        window: Points per median, an odd integer >= 1.

    Raises:
        ValueError: an even or non-positive ``window``.

    Example:
        >>> running_median([1.0, 9.0, 2.0, 3.0, 4.0], 3)
        [1.0, 2.0, 3.0, 3.0, 4.0]
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"`window` must be an odd integer >= 1, got {window}")
    half = window // 2
    out = []
    for i in range(len(values)):
        reach = min(half, i, len(values) - 1 - i)
        chunk = sorted(values[i - reach : i + reach + 1])
        out.append(chunk[len(chunk) // 2])
    return out


def mann_kendall(values: list[float]) -> tuple[float, float]:
    """One-sided Mann–Kendall test for an increasing trend: returns (Sen slope, p-value).

    S counts increasing minus decreasing pairs; its variance has the tie correction; p comes from the normal
    approximation (no continuity correction, as scipy's asymptotic Kendall tau test).

    Args:
        values: The series, at least 3 points, in time order. A constant series returns ``(0.0, 1.0)``.

    Raises:
        ValueError: fewer than 3 points.

    Example:
        >>> slope, p = mann_kendall([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        >>> slope, round(p, 4)
        (1.0, 0.0024)
    """
    n = len(values)
    if n < 3:
        raise ValueError(f"`values` must hold at least 3 points for a trend test, got {n}")
    s = 0
    slopes = []
    for i in range(n - 1):
        for j in range(i + 1, n):
            diff = values[j] - values[i]
            s += (diff > 0) - (diff < 0)
            slopes.append(diff / (j - i))
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    ties = sum(c * (c - 1) * (2 * c + 5) for c in counts.values())
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    if var_s <= 0:
        return 0.0, 1.0
    z = s / math.sqrt(var_s)
    p_value = 0.5 * math.erfc(z / math.sqrt(2.0))
    slopes.sort()
    mid = len(slopes) // 2
    slope = slopes[mid] if len(slopes) % 2 else 0.5 * (slopes[mid - 1] + slopes[mid])
    return slope, p_value


def _robust_noise(raw: list[float], smooth: list[float]) -> float:
    """1.4826 x the median absolute residual: the noise standard deviation, unmoved by a few spikes."""
    return 1.4826 * statistics.median(abs(a - b) for a, b in zip(raw, smooth))


def overfitting_onset(
    history: History,
    monitor: str = "val_loss",
    train_key: str = "loss",
    *,
    window: int = 5,
    alpha: float = 0.05,
    min_epochs_after: int = 5,
    min_rise: float = 0.01,
) -> Onset | None:
    """Detect where ``monitor`` (a loss, lower is better) turns up while ``train_key`` keeps falling.

    An onset is reported only when, after the minimum, at least ``min_epochs_after`` epochs follow, the rise
    is significant (Mann-Kendall p < ``alpha``), larger than ``min_rise`` of the minimum and than twice the
    noise, and the training loss kept falling; otherwise None.

    Args:
        history: The training :class:`~fitguard.train.History`.
        monitor: The validation loss to watch (lower is better). Default ``"val_loss"``.
        train_key: The training loss that must keep falling; when the history lacks it, that check is
            skipped. Default ``"loss"``.
        window: Running-median window, an odd integer >= 1. Default 5.
        alpha: Significance level of the trend test, in (0, 1). Default 0.05.
        min_epochs_after: Epochs after the minimum needed, >= 2. Default 5.
        min_rise: Least rise, as a fraction (>= 0) of the minimum's absolute value. Default 0.01.

    Raises:
        ValueError: an argument out of range, or a ``monitor`` the history does not log.

    Example:
        >>> losses = [1 / e for e in range(1, 31)]
        >>> val = [1 / e + 0.01 * max(0, e - 10) for e in range(1, 31)]
        >>> h = History([{"epoch": e, "loss": l, "val_loss": v} for e, l, v in zip(range(1, 31), losses, val)])
        >>> overfitting_onset(h).min_epoch
        10
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"`window` must be an odd integer >= 1, got {window}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha}")
    if min_epochs_after < 2:
        raise ValueError(f"`min_epochs_after` must be >= 2, got {min_epochs_after}")
    if min_rise < 0.0:
        raise ValueError(f"`min_rise` must be >= 0, got {min_rise}")
    if monitor not in history.keys():
        raise ValueError(f"`monitor` {monitor!r} is not in the history; available: {', '.join(history.keys())}")
    pairs = [(i, v) for i, v in enumerate(history[monitor]) if math.isfinite(v)]
    if len(pairs) < min_epochs_after + 1:
        return None
    index = [i for i, _ in pairs]
    raw = [v for _, v in pairs]
    smooth = running_median(raw, window)
    smooth_min = min(range(len(smooth)), key=smooth.__getitem__)
    # a median shifts the bottom of a V by up to half a window; the raw minimum near it is the real one
    near = range(max(0, smooth_min - window // 2), min(len(raw), smooth_min + window // 2 + 1))
    m = min(near, key=raw.__getitem__)
    if len(raw) - 1 - m < min_epochs_after:
        return None
    slope, p_value = mann_kendall(raw[m:])
    noise = _robust_noise(raw, smooth)
    rise = smooth[-1] - smooth[m]
    if p_value >= alpha or rise <= min_rise * abs(smooth[m]) or rise <= 2.0 * noise:
        return None
    train_change = 0.0
    if train_key in history.keys():
        train = [history[train_key][i] for i in index]
        train_smooth = running_median(train, window)
        train_change = train_smooth[-1] - train_smooth[m]
        if not train_change < 0.0:
            return None
    epochs = history["epoch"] if "epoch" in history.keys() else [float(i + 1) for i in range(len(history))]
    min_epoch = int(epochs[index[m]])
    confidence = (1.0 - p_value) * min(1.0, rise / (4.0 * noise)) if noise > 0 else 1.0 - p_value
    return Onset(
        epoch=min_epoch,
        confidence=confidence,
        min_val_loss=raw[m],
        min_epoch=min_epoch,
        rise=rise,
        slope=slope,
        p_value=p_value,
        train_change=train_change,
        noise=noise,
    )
