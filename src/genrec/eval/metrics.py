"""Ranking metrics for next-item recommendation with one relevant item per sample.

For a sample with target item ``t`` and a ranked list of predictions
``p_0, p_1, ...`` (best first), let ``r`` be the 0-based rank of ``t`` in the
list (``r = inf`` when absent). Then, averaged over the ``n`` samples,

    HR@K   = (1/n) * sum_i [r_i < K]
    NDCG@K = (1/n) * sum_i [r_i < K] / log2(r_i + 2)

NDCG needs no normalisation term here: with a single relevant item the ideal
DCG is 1/log2(2) = 1. These match RecBole's ``Hit`` and ``NDCG`` for one
ground-truth item. Predictions equal to ``-1`` (an invalid generated SID)
never match a target.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def drop_repeats(predictions: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Ranked lists with every repeated item turned into an invalid slot.

    Returns ``(clean, invalid, repeats)``: ``clean`` is a copy of ``predictions``
    (``[n, L]`` item ids, best first) in which each occurrence of an item after its
    first in the same row is ``-1``; ``repeats`` counts those; ``invalid`` counts
    the ``-1`` slots of ``clean`` (invalid SIDs plus repeats). This is the one
    definition of ``invalid`` in every ``metrics.json``: slots of the top-max(K)
    lists that hold no new item, never rows. A repeat is never scored twice.
    """
    clean = np.array(predictions, dtype=np.int64, copy=True)
    if clean.ndim != 2:
        raise ValueError(f"predictions must be [n, L], got shape {clean.shape}")
    repeats = 0
    for row in clean:
        seen: set[int] = set()
        for j, item in enumerate(row.tolist()):
            if item < 0:
                continue
            if item in seen:
                row[j] = -1
                repeats += 1
            else:
                seen.add(item)
    return clean, int((clean < 0).sum()), repeats


def target_ranks(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in its prediction row; ``np.inf`` when absent.

    ``predictions``: int array ``[n, L]`` (ranked item ids, best first; pad with -1).
    ``targets``: int array ``[n]``. If a target occurs more than once in a row,
    its first (best) position counts.
    """
    predictions = np.asarray(predictions)
    targets = np.asarray(targets)
    if predictions.ndim != 2 or targets.ndim != 1 or len(predictions) != len(targets):
        raise ValueError(
            f"predictions must be [n, L] and targets [n]; got {predictions.shape} and {targets.shape}"
        )
    hits = (predictions == targets[:, None]) & (targets[:, None] >= 0)
    ranks = np.where(hits.any(axis=1), hits.argmax(axis=1), np.inf)
    return ranks.astype(float)


def rank_column(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-sample 0-based rank of the target as ``int64``, ``-1`` when it is not in the
    list: the ``rank`` column of every ``predictions.parquet`` (HR@K and NDCG@K of a
    sample follow from it, :mod:`genrec.eval.bootstrap`)."""
    ranks = target_ranks(predictions, targets)
    return np.where(np.isfinite(ranks), ranks, -1).astype(np.int64)


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """HR@K = mean over samples of [rank < K]."""
    ranks = np.asarray(ranks, dtype=float)
    if ranks.size == 0:
        raise ValueError("no samples to score")
    return float(np.mean(ranks < k))


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """NDCG@K = mean over samples of [rank < K] / log2(rank + 2)."""
    ranks = np.asarray(ranks, dtype=float)
    if ranks.size == 0:
        raise ValueError("no samples to score")
    gains = np.zeros_like(ranks)
    inside = ranks < k
    gains[inside] = 1.0 / np.log2(ranks[inside] + 2.0)
    return float(np.mean(gains))


def ranking_metrics(
    predictions: Sequence[Sequence[int]] | np.ndarray,
    targets: Sequence[int] | np.ndarray,
    ks: Iterable[int],
) -> dict[str, float]:
    """``{"HR@K": ..., "NDCG@K": ...}`` for every K, from ranked predictions and targets.

    Rows shorter than the longest are padded with -1 (never a hit). A K larger
    than a row's length counts only the predictions the row has.
    """
    preds = _pad(predictions)
    ranks = target_ranks(preds, np.asarray(targets, dtype=np.int64))
    out: dict[str, float] = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"K must be >= 1, got {k}")
        out[f"HR@{k}"] = hit_rate_at_k(ranks, k)
        out[f"NDCG@{k}"] = ndcg_at_k(ranks, k)
    return out


def top1_concentration(predictions: Sequence[Sequence[int]] | np.ndarray) -> dict[str, float]:
    """How much the best-ranked prediction varies across samples (a collapse check).

    With ``p_i`` the top-1 prediction of sample ``i``, ``V`` the valid ones
    (``p_i >= 0``; an invalid ``-1`` is no item) and ``c(v) = #{i : p_i = v}``:

        top1_distinct = #{distinct p_i in V}
        top1_share    = max_{v in V} c(v) / n      (0 when no top-1 is valid)

    A recommender that reads the history gives different samples different
    top-1 items; ``top1_share`` near 1 means nearly every sample got the same
    item, i.e. the model ignores its input (popularity gives exactly 1.0).
    """
    preds = _pad(predictions)
    if len(preds) == 0:
        raise ValueError("no samples to score")
    top1 = preds[:, 0]
    _, counts = np.unique(top1[top1 >= 0], return_counts=True)
    share = float(counts.max() / len(preds)) if len(counts) else 0.0
    return {"top1_distinct": int(len(counts)), "top1_share": share}


def _pad(predictions) -> np.ndarray:
    if isinstance(predictions, np.ndarray) and predictions.ndim == 2:
        return predictions.astype(np.int64, copy=False)
    rows = [list(r) for r in predictions]
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), max(width, 1)), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out
