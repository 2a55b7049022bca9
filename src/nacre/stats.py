"""Rates with confidence intervals: Wilson score intervals and percentile bootstrap.

Pure functions over plain numbers, shared by red-team campaigns and benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    Attributes:
        value: The estimate (``nan`` when there is no data).
        low: Lower bound.
        high: Upper bound.
        n: How many observations it rests on.
    """

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-friendly form (``None`` instead of NaN)."""

        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 6)

        return {"value": clean(self.value), "low": clean(self.low), "high": clean(self.high), "n": self.n}

    def percent(self) -> str:
        """``"42.0 % [35.1, 49.2]"``, or ``"–"`` without data."""
        if self.n == 0:
            return "–"
        return f"{100 * self.value:.1f} % [{100 * self.low:.1f}, {100 * self.high:.1f}]"


_EMPTY = Interval(math.nan, math.nan, math.nan, 0)


def wilson(successes: int, n: int, *, z: float = 1.959964) -> Interval:
    """The Wilson score interval of a binomial proportion (95 % by default).

    Args:
        successes: Number of successes.
        n: Number of trials.
        z: Normal quantile of the confidence level.

    Returns:
        The proportion and its interval; an empty interval when ``n`` is 0.
    """
    if n <= 0:
        return _EMPTY
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def bootstrap_mean(values: Sequence[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Interval:
    """The mean of ``values`` with a percentile-bootstrap interval.

    Resampling is seeded, so the same data always gives the same interval.

    Args:
        values: The observations (e.g. 1.0 for a successful attack, 0.0 otherwise).
        resamples: Bootstrap resamples.
        level: Confidence level.
        seed: Seed of the resampling.

    Returns:
        The mean and its interval; an empty interval without data.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return _EMPTY
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    means = data[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(data.mean()), float(low), float(high), int(data.size))
