"""Popularity baseline: recommend the most frequent train items to every user.

Counting (``params.count``, ``baselines.popularity.count``):

- ``"target"``: how often an item is the *target* of a train sample, i.e. one
  count per train interaction that has a preceding history. Histories are not added on
  top: the data stage emits one sample per prefix, so every history item would be
  counted once per later sample of the same user.
- ``"interactions"``: every distinct train interaction counts once: the targets plus the
  history items, de-duplicated per ``(user_id, item, timestamp)`` (uses ``history_ts``),
  so a user's first items, which are never a target, are counted too.

Ties are broken by the smaller item id, so the ranking is deterministic. Scoring is over
all items, excluding nothing (the same protocol as the generative model).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.baselines.common import count_items, read_split, write_predictions_and_metrics
from genrec.baselines.params import PopularityParams

log = logging.getLogger(__name__)

COUNT_MODES = ("target", "interactions")


def item_counts(train: pd.DataFrame, n_items: int, count: str) -> np.ndarray:
    """Popularity count per item id (``int64[n_items]``) from the train split."""
    if count not in COUNT_MODES:
        raise ValueError(f"baselines.popularity.count must be one of {COUNT_MODES}, got {count!r}")
    targets = train["target"].to_numpy(dtype=np.int64)
    if count == "target":
        return np.bincount(targets, minlength=n_items).astype(np.int64)
    if "history_ts" not in train.columns or "target_ts" not in train.columns:
        raise ValueError("count='interactions' needs the history_ts and target_ts columns")
    lengths = train["history"].map(len).to_numpy()
    events = pd.DataFrame(
        {
            "user_id": np.concatenate(
                [np.repeat(train["user_id"].to_numpy(dtype=np.int64), lengths), train["user_id"]]
            ),
            "item": np.concatenate(
                [np.concatenate([np.asarray(h, dtype=np.int64) for h in train["history"]]), targets]
            ),
            "ts": np.concatenate(
                [
                    np.concatenate([np.asarray(t, dtype=np.int64) for t in train["history_ts"]]),
                    train["target_ts"].to_numpy(dtype=np.int64),
                ]
            ),
        }
    ).drop_duplicates()
    return np.bincount(events["item"].to_numpy(), minlength=n_items).astype(np.int64)


def popularity_ranking(counts: np.ndarray, k: int | None = None) -> np.ndarray:
    """Item ids sorted by count (descending), ties by smaller item id; first ``k`` only."""
    counts = np.asarray(counts)
    order = np.lexsort((np.arange(len(counts)), -counts))
    return order if k is None else order[:k]


def run(
    train_path: str | Path,
    test_path: str | Path,
    items_path: str | Path,
    out_predictions: str | Path,
    out_metrics: str | Path,
    params: PopularityParams,
    ks: Sequence[int],
) -> dict:
    """Rank items by train popularity, predict the same top-max(K) list for every test
    sample, and write ``predictions.parquet`` + ``metrics.json``. Returns the metrics.

    ``params``: :class:`~genrec.baselines.params.PopularityParams`.
    """
    n_items = count_items(items_path)
    train = read_split(train_path, n_items)
    test = read_split(test_path, n_items)
    count = params.count
    counts = item_counts(train, n_items, count)
    k = max(ks)
    top = popularity_ranking(counts, k)
    log.info(
        "popularity (%s counts): top-5 items %s with counts %s", count, top[:5], counts[top[:5]]
    )
    predictions = np.tile(top, (len(test), 1))
    metrics = write_predictions_and_metrics(
        test, predictions, "popularity", ks, out_predictions, out_metrics
    )
    log.info("popularity on %d test samples: %s", len(test), metrics)
    return metrics
