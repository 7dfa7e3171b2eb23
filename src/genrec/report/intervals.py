"""Bootstrap intervals for the summary table and paired model comparisons.

Reads the per-sample ``rank`` column of each model's ``predictions.parquet`` (rows in
the split's sample order) and the model's identity from the ``metrics.json`` beside
it; the statistics are :mod:`genrec.eval.bootstrap`'s.

- :func:`interval_columns`: ``HR@K_lo``, ``HR@K_hi``, ``NDCG@K_lo``, ``NDCG@K_hi`` of
  one model (the ``metrics.csv`` columns).
- :func:`comparisons`: paired intervals, one row per (comparison, split, metric, K):
  ``SFT+RL - SFT`` per SID method on every split that has both models, and every
  generative model ``/ SASRec`` on the test split (``comparisons.csv``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.eval.bootstrap import gains, mean_interval, paired_interval
from genrec.io import atomic_path
from genrec.report.params import BootstrapParams

METRICS = ("HR", "NDCG")
COMPARISON_COLUMNS = [
    "split", "sid_method", "comparison", "kind", "metric", "k", "a", "b",
    "estimate", "lo", "hi", "excludes", "n", "resamples", "level",
]  # fmt: skip


def read_ranks(path: str | Path) -> pd.DataFrame:
    """``user_id``, ``target``, ``rank`` of a ``predictions.parquet`` (clear error if absent)."""
    df = pd.read_parquet(path)
    missing = [c for c in ("user_id", "target", "rank") if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; predictions written before per-sample "
            "ranks existed: rerun the evaluation that wrote it"
        )
    if len(df) == 0:
        raise ValueError(f"{path}: no samples")
    return df[["user_id", "target", "rank"]]


def interval_columns(ranks: np.ndarray, ks: Sequence[int], boot: BootstrapParams) -> dict:
    """``{"HR@K_lo": .., "HR@K_hi": .., "NDCG@K_lo": .., ...}`` for every K."""
    out = {}
    for metric in METRICS:
        for k in ks:
            iv = mean_interval(gains(ranks, k, metric), boot.samples, boot.seed, boot.level)
            out[f"{metric}@{k}_lo"] = iv.lo
            out[f"{metric}@{k}_hi"] = iv.hi
    return out


def _model(metrics_path: str | Path) -> tuple[str, str | None]:
    with open(metrics_path) as fh:
        m = json.load(fh)
    return m["model"], m.get("sid_method")


def _paired(a: pd.DataFrame, b: pd.DataFrame, a_path, b_path) -> None:
    same = len(a) == len(b) and all(
        np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in ("user_id", "target")
    )
    if not same:
        raise ValueError(
            f"{a_path} and {b_path} do not list the same samples in the same order "
            f"({len(a)} vs {len(b)} rows): they cannot be compared sample by sample"
        )


def _rows(split, sid, name, kind, a, b, ranks_a, ranks_b, ks, boot) -> list[dict]:
    rows = []
    for metric in METRICS:
        for k in ks:
            iv = paired_interval(
                gains(ranks_a, k, metric), gains(ranks_b, k, metric), kind,
                boot.samples, boot.seed, boot.level,
            )  # fmt: skip
            null = 0.0 if kind == "difference" else 1.0
            rows.append(
                {
                    "split": split, "sid_method": sid, "comparison": name, "kind": kind,
                    "metric": metric, "k": int(k), "a": a, "b": b,
                    "estimate": iv.estimate, "lo": iv.lo, "hi": iv.hi,
                    "excludes": bool(iv.excludes(null)), "n": len(ranks_a),
                    "resamples": boot.samples, "level": boot.level,
                }
            )  # fmt: skip
    return rows


def comparisons(
    splits: Mapping[str, Sequence[tuple[str | Path, str | Path]]],
    ks: Sequence[int],
    boot: BootstrapParams,
) -> pd.DataFrame:
    """Paired comparisons (columns :data:`COMPARISON_COLUMNS`).

    ``splits`` maps a split name to ``(metrics.json, predictions.parquet)`` pairs of
    the models evaluated on it. ``excludes``: the interval leaves out the null value
    (0 for a difference, 1 for a ratio), i.e. the difference is a result.
    """
    rows: list[dict] = []
    for split, files in splits.items():
        models = {}
        for metrics_path, pred_path in files:
            models[_model(metrics_path)] = (read_ranks(pred_path), pred_path)
        sasrec = models.get(("sasrec", None))
        for (model, sid), (df, path) in models.items():
            if model == "rl" and ("sft", sid) in models:
                base, base_path = models["sft", sid]
                _paired(df, base, path, base_path)
                rows += _rows(
                    split, sid, "SFT+RL - SFT", "difference", "rl", "sft",
                    df["rank"].to_numpy(), base["rank"].to_numpy(), ks, boot,
                )  # fmt: skip
            if model in ("sft", "rl") and sasrec is not None:
                _paired(df, sasrec[0], path, sasrec[1])
                name = f"{'SFT+RL' if model == 'rl' else 'SFT'} / SASRec"
                rows += _rows(
                    split, sid, name, "ratio", model, "sasrec",
                    df["rank"].to_numpy(), sasrec[0]["rank"].to_numpy(), ks, boot,
                )  # fmt: skip
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def write_comparisons(
    splits: Mapping[str, Sequence[tuple[str | Path, str | Path]]],
    out_csv: str | Path,
    ks: Sequence[int],
    boot: BootstrapParams,
) -> pd.DataFrame:
    """Write :func:`comparisons` to ``out_csv`` (atomically); return the table."""
    table = comparisons(splits, sorted({int(k) for k in ks}), boot)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table
