"""The SASRec baseline stage (rule ``baseline_sasrec``): read the splits, train, evaluate
on test, write the stage outputs.

Evaluation scores all items and excludes nothing (as for the generative model, which can
predict any item, history items included).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from genrec.baselines.common import count_items, read_split, write_predictions_and_metrics
from genrec.baselines.params import SasrecParams
from genrec.baselines.sasrec.model import resolve_device
from genrec.baselines.sasrec.plot import plot_curve
from genrec.baselines.sasrec.score import predict_top_k
from genrec.baselines.sasrec.train import train_sasrec
from genrec.io import atomic_path, require_outputs, write_json

log = logging.getLogger(__name__)

OUTPUTS = ("model", "config", "curve", "curve_png", "predictions", "metrics")


def train_and_evaluate(
    train_path: str | Path,
    valid_path: str | Path,
    test_path: str | Path,
    items_path: str | Path,
    outputs: Mapping[str, str | Path],
    params: SasrecParams,
    ks: Sequence[int],
    threads: int | None = None,
) -> dict:
    """Train SASRec, evaluate on test over all items, and write ``outputs`` (a path for
    each name in ``OUTPUTS``): ``model`` (state dict), ``config`` (architecture JSON),
    ``curve`` (per-epoch JSON) and ``curve_png``, ``predictions`` (parquet), ``metrics``
    (JSON); the rule declares the file names. Returns the metrics.

    ``params``: :class:`~genrec.baselines.params.SasrecParams` (``baselines.sasrec``
    resolved for the dataset).
    """
    if threads:
        torch.set_num_threads(int(threads))
    out = require_outputs(outputs, OUTPUTS, "SASRec")
    n_items = count_items(items_path)
    train = read_split(train_path, n_items)
    valid = read_split(valid_path, n_items)
    test = read_split(test_path, n_items)
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(f"{train_path} / {valid_path}: SASRec needs non-empty train and valid")
    device = resolve_device(params.device)
    log.info(
        "SASRec on %s: %d items, %d train / %d valid / %d test samples",
        device,
        n_items,
        len(train),
        len(valid),
        len(test),
    )
    model, curve = train_sasrec(train, valid, n_items, params, device)
    preds = predict_top_k(model, list(test["history"]), max(ks), device, 1024)
    with atomic_path(out["model"]) as tmp:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)
    write_json(dataclasses.asdict(model.config), out["config"])
    write_json(curve, out["curve"])
    plot_curve(curve, out["curve_png"])
    metrics = write_predictions_and_metrics(
        test, preds, "sasrec", ks, out["predictions"], out["metrics"]
    )
    log.info("sasrec on %d test samples: %s", len(test), metrics)
    return metrics
