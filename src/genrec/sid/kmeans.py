"""Residual k-means quantisers: plain (faiss) and balanced (equal-size clusters)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


def sq_dists(x: np.ndarray, c: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Squared Euclidean distances ``(len(x), len(c))`` in float32, computed in chunks."""
    x = np.asarray(x, dtype=np.float32)
    c = np.asarray(c, dtype=np.float32)
    cn = (c * c).sum(1)
    out = np.empty((len(x), len(c)), dtype=np.float32)
    for s in range(0, len(x), chunk):
        xs = x[s : s + chunk]
        d = (xs * xs).sum(1, keepdims=True) - 2.0 * xs @ c.T + cn
        out[s : s + chunk] = np.maximum(d, 0.0)
    return out


def nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``c`` for each row of ``x`` (ties: lowest index)."""
    out = np.empty(len(x), dtype=np.int64)
    for s in range(0, len(x), 16384):
        out[s : s + 16384] = sq_dists(x[s : s + 16384], c).argmin(1)
    return out


def _pad_codebook(cent: np.ndarray, k: int) -> np.ndarray:
    """Grow a codebook with fewer than ``k`` centroids (fewer points than codes) to ``k`` rows.

    Extra rows repeat existing centroids; ``argmin`` never picks them (ties go
    to the lower index), so they stay unused.
    """
    if len(cent) >= k:
        return cent
    reps = np.resize(np.arange(len(cent)), k - len(cent))
    return np.concatenate([cent, cent[reps]], axis=0)


def faiss_kmeans(x: np.ndarray, k: int, niter: int = 20, seed: int = 0) -> np.ndarray:
    """k-means centroids ``(k, d)`` with faiss (seeded; uses every point)."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    k_eff = min(k, len(x))
    km = faiss.Kmeans(
        x.shape[1],
        k_eff,
        niter=niter,
        seed=int(seed),
        max_points_per_centroid=max(256, math.ceil(len(x) / max(k_eff, 1))),
        min_points_per_centroid=1,
        verbose=False,
    )
    km.train(x)
    return _pad_codebook(np.asarray(km.centroids, dtype=np.float32), k)


def balanced_assign(dist: np.ndarray, capacity: int | np.ndarray) -> np.ndarray:
    """Capacity-constrained assignment: every point to a cluster, no cluster above capacity.

    Rounds of proposals: each unassigned point proposes its nearest non-full
    cluster; a cluster accepts its closest proposers up to its remaining
    capacity (ties by point index). Each round fills a cluster or settles every
    proposer, so it ends within ``k + 1`` rounds.
    """
    n, k = dist.shape
    remaining = np.broadcast_to(np.asarray(capacity, dtype=np.int64), (k,)).copy()
    if remaining.sum() < n:
        raise ValueError(f"total capacity {remaining.sum()} is below the {n} points to assign")
    assign = np.full(n, -1, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        d = dist[todo].astype(np.float32, copy=True)
        d[:, remaining <= 0] = np.inf
        choice = d.argmin(1)
        cd = d[np.arange(len(todo)), choice]
        order = np.lexsort((todo, cd, choice))
        ch = choice[order]
        first = np.searchsorted(ch, ch, side="left")
        rank = np.arange(len(order)) - first
        ok = rank < remaining[ch]
        assign[todo[order[ok]]] = ch[ok]
        remaining -= np.bincount(ch[ok], minlength=k)
        todo = np.sort(todo[order[~ok]])
    return assign


def exact_capacities(dist: np.ndarray) -> np.ndarray:
    """Cluster capacities summing to exactly ``n``: ``n // k`` each, plus one for the
    ``n % k`` clusters that the most points have nearest (ties: lower index).

    With capacities that add up to ``n``, :func:`balanced_assign` fills every
    cluster to its capacity, so each ends with ``floor(n/k)`` or ``ceil(n/k)``
    points: both bounds hold, not just the upper one.
    """
    n, k = dist.shape
    base, extra = divmod(n, k)
    cap = np.full(k, base, dtype=np.int64)
    if extra:
        demand = np.bincount(dist.argmin(1), minlength=k)
        cap[np.lexsort((np.arange(k), -demand))[:extra]] += 1
    return cap


def balanced_kmeans(
    x: np.ndarray,
    k: int,
    niter: int = 20,
    seed: int = 0,
    backend: str = "greedy",
    tol: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced k-means: clusters of size ``floor(n/k)`` or ``ceil(n/k)``.

    ``backend="greedy"`` alternates :func:`balanced_assign` with centroid
    updates from a faiss k-means start (scales to 100k x 256), stopping early
    once at most ``tol`` of the labels change;
    ``backend="k_means_constrained"`` solves each assignment exactly as a
    min-cost flow with the k-means-constrained package (small data only).
    Returns ``(labels, centroids)`` with ``k`` centroid rows.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    k_eff = min(k, n)
    if backend == "k_means_constrained":
        from k_means_constrained import KMeansConstrained

        km = KMeansConstrained(
            n_clusters=k_eff,
            size_min=n // k_eff,
            size_max=math.ceil(n / k_eff),
            random_state=int(seed),
            n_init=1,
            max_iter=niter,
        )
        labels = km.fit_predict(x.astype(np.float64)).astype(np.int64)
        cent = np.asarray(km.cluster_centers_, dtype=np.float32)
        return labels, _pad_codebook(cent, k)
    if backend != "greedy":
        raise ValueError(f"sid.rqkmeans_balanced.backend: unknown backend {backend!r}")
    cent = faiss_kmeans(x, k_eff, niter=niter, seed=seed)
    labels = None
    for _ in range(max(1, niter)):
        dist = sq_dists(x, cent)
        new = balanced_assign(dist, exact_capacities(dist))
        counts = np.bincount(new, minlength=k_eff).astype(np.float32)
        sums = np.zeros_like(cent)
        np.add.at(sums, new, x)
        filled = counts > 0
        cent[filled] = sums[filled] / counts[filled, None]
        changed = 1.0 if labels is None else float((new != labels).mean())
        labels = new
        if changed <= tol:
            break
    return labels, _pad_codebook(cent, k)


def residual_kmeans(
    x: np.ndarray,
    sizes: Sequence[int],
    *,
    balanced: bool = False,
    niter: int = 20,
    seed: int = 0,
    backend: str = "greedy",
) -> dict:
    """Residual (multi-level) k-means.

    Level ``l`` clusters the residual left by levels ``< l`` into ``sizes[l]``
    codes. Returns ``codes (n, L)``, ``codebooks`` (list of ``(K_l, d)``),
    ``last_residual`` (the input of the last level, for collision resolution),
    and ``reconstruction`` (the sum of the chosen centroids).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    residual = x.copy()
    codes, books = [], []
    last_residual = residual
    for level, k in enumerate(tqdm(list(sizes), desc="residual k-means", unit="level")):
        last_residual = residual.copy()
        if balanced:
            labels, cent = balanced_kmeans(residual, k, niter, seed + level, backend)
        else:
            cent = faiss_kmeans(residual, k, niter, seed + level)
            labels = nearest(residual, cent)
        codes.append(labels)
        books.append(cent)
        residual = residual - cent[labels]
    return {
        "codes": np.stack(codes, axis=1).astype(np.int64),
        "codebooks": books,
        "last_residual": last_residual,
        "reconstruction": x - residual,
    }
