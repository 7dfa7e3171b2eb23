import math

import numpy as np
import pytest

from genrec.eval.bootstrap import gains, mean_interval, paired_interval, resample_indices
from genrec.eval.metrics import rank_column, ranking_metrics

Z = 1.959964  # standard normal 97.5% quantile


def _bernoulli(n, hits):
    v = np.zeros(n)
    v[:hits] = 1.0
    return v


def test_hr_interval_matches_the_binomial_closed_form():
    # g_i in {0, 1}: the bootstrap mean has variance p (1 - p) / n
    n, p = 2000, 0.15
    iv = mean_interval(_bernoulli(n, int(p * n)), n_boot=8000, seed=3)
    half = Z * math.sqrt(p * (1 - p) / n)
    assert iv.estimate == pytest.approx(p)
    assert iv.lo == pytest.approx(p - half, abs=0.0025)
    assert iv.hi == pytest.approx(p + half, abs=0.0025)
    assert not iv.excludes(p) and iv.excludes(p + 2 * half)


def test_paired_difference_is_the_interval_of_the_per_sample_differences():
    # b hits the first 200 samples; a hits those and 40 more: D_i = 1 on 40 samples
    n = 2000
    b = _bernoulli(n, 200)
    a = _bernoulli(n, 240)
    iv = paired_interval(a, b, "difference", n_boot=8000, seed=1)
    d = 40 / n
    half = Z * math.sqrt(d * (1 - d) / n)
    assert iv.estimate == pytest.approx(d)
    assert iv.lo == pytest.approx(d - half, abs=0.002)
    assert iv.hi == pytest.approx(d + half, abs=0.002)
    assert iv.excludes(0.0)
    # unpaired (independent resamples) the same difference is far less certain
    ua = mean_interval(a, 8000, seed=1)
    ub = mean_interval(b, 8000, seed=2)
    assert (ua.hi - ua.lo) + (ub.hi - ub.lo) > 3 * (iv.hi - iv.lo)


def test_identical_models_differ_by_exactly_zero_and_ratio_by_one():
    g = gains(np.array([0, 3, -1, 7, 12, 1] * 50), 10, "NDCG")
    diff = paired_interval(g, g, "difference", 500, seed=0)
    assert (diff.estimate, diff.lo, diff.hi) == (0.0, 0.0, 0.0)
    assert not diff.excludes(0.0)
    ratio = paired_interval(2 * g, g, "ratio", 500, seed=0)
    assert ratio.estimate == pytest.approx(2.0)
    assert ratio.lo == pytest.approx(2.0) and ratio.hi == pytest.approx(2.0)
    nan = paired_interval(g, np.zeros_like(g), "ratio", 100, seed=0)
    assert math.isnan(nan.estimate) and math.isnan(nan.lo)


def test_seeded_and_deterministic():
    v = gains(np.arange(-1, 40) % 25, 10, "HR")
    assert mean_interval(v, 300, seed=5) == mean_interval(v, 300, seed=5)
    assert mean_interval(v, 300, seed=5) != mean_interval(v, 300, seed=6)
    idx = resample_indices(7, 4, seed=9)
    assert idx.shape == (4, 7) and idx.min() >= 0 and idx.max() < 7


def test_gains_average_to_the_reported_metrics():
    rng = np.random.default_rng(0)
    preds = np.stack([rng.permutation(30)[:20] for _ in range(300)])
    targets = rng.integers(0, 30, size=300)
    ranks = rank_column(preds, targets)
    assert set(ranks.tolist()) <= set(range(-1, 20)) and (ranks == -1).any()
    m = ranking_metrics(preds, targets, ks=(1, 5, 10))
    for k in (1, 5, 10):
        assert gains(ranks, k, "HR").mean() == pytest.approx(m[f"HR@{k}"])
        assert gains(ranks, k, "NDCG").mean() == pytest.approx(m[f"NDCG@{k}"])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="one length"):
        paired_interval(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="comparison"):
        paired_interval(np.ones(3), np.ones(3), "quotient")
    with pytest.raises(ValueError, match="zero samples"):
        mean_interval(np.array([]))
    with pytest.raises(ValueError, match="metric"):
        gains(np.zeros(3), 5, "MRR")
    with pytest.raises(ValueError, match="level"):
        mean_interval(np.ones(5), 100, level=1.5)
