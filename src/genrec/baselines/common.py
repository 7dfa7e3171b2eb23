"""Helpers shared by the baselines: reading split tables, writing predictions and metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.distributed import peak_gpu_memory_mb
from genrec.eval.metrics import drop_repeats, rank_column, ranking_metrics, top1_concentration
from genrec.io import write_json, write_parquet

SPLIT_COLUMNS = ("user_id", "history", "target")


def read_split(path: str | Path, n_items: int | None = None) -> pd.DataFrame:
    """Read a ``train/valid/test.parquet`` table and check the columns baselines use.

    Raises ``ValueError`` naming the file when a column is missing, a history is empty,
    or (with ``n_items``) an item id lies outside ``0..n_items-1``.
    """
    df = pd.read_parquet(path)
    missing = [c for c in SPLIT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(SPLIT_COLUMNS)}")
    lengths = df["history"].map(len)
    if len(df) and int(lengths.min()) == 0:
        row = int(np.argmin(lengths.to_numpy()))
        raise ValueError(f"{path}: row {row} has an empty history")
    if n_items is not None and len(df):
        flat = np.concatenate([np.asarray(h, dtype=np.int64) for h in df["history"]])
        targets = df["target"].to_numpy(dtype=np.int64)
        for name, ids in (("history", flat), ("target", targets)):
            bad = (ids < 0) | (ids >= n_items)
            if bad.any():
                raise ValueError(
                    f"{path}: {name} item id {int(ids[bad][0])} outside 0..{n_items - 1} "
                    f"(items.parquet has {n_items} items)"
                )
    return df


def count_items(items_path: str | Path) -> int:
    """Number of items in ``items.parquet`` (item ids are the row indices 0..N-1)."""
    items = pd.read_parquet(items_path, columns=["item_id"])
    ids = items["item_id"].to_numpy()
    if not np.array_equal(ids, np.arange(len(ids))):
        raise ValueError(f"{items_path}: item_id must equal the row index 0..N-1")
    return len(ids)


def write_predictions_and_metrics(
    split: pd.DataFrame,
    predictions: np.ndarray,
    model: str,
    ks: Sequence[int],
    out_predictions: str | Path,
    out_metrics: str | Path,
) -> dict:
    """Write ``predictions.parquet`` and ``metrics.json`` (docs/design.md schemas).

    ``predictions`` is an int array ``[n, max(ks)]`` of ranked item ids, best first.
    Returns the metrics dict.
    """
    targets = split["target"].to_numpy(dtype=np.int64)
    predictions, invalid, repeats = drop_repeats(np.asarray(predictions))
    preds = pd.DataFrame(
        {
            "user_id": split["user_id"].to_numpy(dtype=np.int64),
            "target": targets,
            "predictions": [row.astype(np.int64) for row in np.asarray(predictions)],
            "rank": rank_column(predictions, targets),
        }
    )
    metrics = {
        "model": model,
        "sid_method": None,
        "n": int(len(split)),
        "invalid": invalid,
        "repeats": repeats,
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
    }
    metrics.update(top1_concentration(predictions))
    metrics.update(ranking_metrics(predictions, targets, ks=ks))
    write_parquet(preds, out_predictions)
    write_json(metrics, out_metrics)
    return metrics
