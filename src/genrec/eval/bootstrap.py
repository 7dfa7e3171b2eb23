"""Bootstrap confidence intervals for HR@K / NDCG@K and for paired model comparisons.

Every metric here is a mean of per-sample gains. With ``r_i`` the 0-based rank of
sample ``i``'s target in the model's ranked list (``r_i = -1`` when absent), over the
``n`` samples of a split

    HR@K   = (1/n) sum_i g_i,   g_i = [0 <= r_i < K]
    NDCG@K = (1/n) sum_i g_i,   g_i = [0 <= r_i < K] / log2(r_i + 2)

(:mod:`genrec.eval.metrics`, the same definitions). The percentile bootstrap draws
``B`` resamples ``I_b`` of ``n`` sample indices, uniformly with replacement from a
seeded generator, and recomputes the statistic on each:

    M_b = (1/n) sum_{i in I_b} g_i

The ``level`` interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles
of ``{M_b}``. Two models scored on the *same* samples are compared **paired**: one
``I_b`` resamples both, so a sample both models get right moves both means together,
and

    difference:  D_b = mean_{I_b} a_i - mean_{I_b} b_i
    ratio:       R_b = mean_{I_b} a_i / mean_{I_b} b_i   (resamples with mean b = 0 dropped)

A paired difference whose interval excludes 0 is a result; one that contains 0 is
not. For HR (``g_i`` in {0, 1}) the bootstrap variance of ``M_b`` is ``p (1 - p) / n``
with ``p`` the observed HR, so the interval is close to ``p +- z sqrt(p (1 - p) / n)``
for large ``n`` (the closed form the tests check against).

Everything is a pure function of its inputs and the seed: same inputs and seed, same
interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMPARISONS = ("difference", "ratio")


@dataclass(frozen=True)
class Interval:
    """A point estimate (on the original samples) and its bootstrap interval."""

    estimate: float
    lo: float
    hi: float

    def excludes(self, value: float) -> bool:
        """True when ``value`` lies outside ``[lo, hi]``."""
        return value < self.lo or value > self.hi


def gains(ranks: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Per-sample gains ``g_i`` of ``HR@k`` or ``NDCG@k`` from 0-based ranks (-1 = absent)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if k < 1:
        raise ValueError(f"K must be >= 1, got {k}")
    inside = (ranks >= 0) & (ranks < k)
    if metric == "HR":
        return inside.astype(np.float64)
    if metric == "NDCG":
        out = np.zeros_like(ranks)
        out[inside] = 1.0 / np.log2(ranks[inside] + 2.0)
        return out
    raise ValueError(f"metric must be 'HR' or 'NDCG', got {metric!r}")


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n]`` sample indices, uniform with replacement (``numpy`` PCG64, ``seed``)."""
    if n < 1:
        raise ValueError("cannot bootstrap zero samples")
    if n_boot < 1:
        raise ValueError(f"the number of bootstrap resamples must be >= 1, got {n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _quantiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mean_interval(
    values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> Interval:
    """The mean of ``values`` (one per sample) with its percentile bootstrap interval."""
    values = np.asarray(values, dtype=np.float64)
    idx = resample_indices(len(values), n_boot, seed)
    lo, hi = _quantiles(values[idx].mean(axis=1), level)
    return Interval(float(values.mean()), lo, hi)


def paired_interval(
    a: np.ndarray,
    b: np.ndarray,
    comparison: str = "difference",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """``mean(a) - mean(b)`` or ``mean(a) / mean(b)`` with a paired bootstrap interval.

    ``a[i]`` and ``b[i]`` are two models' gains on the same sample ``i``; each resample
    takes the same indices from both. A ratio whose denominator is 0 on the original
    samples is NaN (and so are its bounds).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"paired samples must be two vectors of one length, got {a.shape} and {b.shape}"
        )
    if comparison not in COMPARISONS:
        raise ValueError(f"comparison must be one of {COMPARISONS}, got {comparison!r}")
    idx = resample_indices(len(a), n_boot, seed)
    ma, mb = a[idx].mean(axis=1), b[idx].mean(axis=1)
    if comparison == "difference":
        lo, hi = _quantiles(ma - mb, level)
        return Interval(float(a.mean() - b.mean()), lo, hi)
    if b.mean() == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mb > 0, ma / np.where(mb > 0, mb, 1.0), np.nan)
    lo, hi = _quantiles(ratio, level)
    return Interval(float(a.mean() / b.mean()), lo, hi)
