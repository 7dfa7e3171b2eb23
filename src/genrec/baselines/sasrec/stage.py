"""The SASRec baseline stage (rule ``baseline_sasrec``): read the splits, train, evaluate
on test, write the stage outputs.

Evaluation scores all items and excludes nothing (as for the generative model, which can
predict any item, history items included).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from genrec.baselines.common import count_items, read_split, write_predictions_and_metrics
from genrec.baselines.sasrec.model import resolve_device
from genrec.baselines.sasrec.plot import plot_curve
from genrec.baselines.sasrec.score import predict_top_k
from genrec.baselines.sasrec.train import train_sasrec
from genrec.io import atomic_path, write_json

log = logging.getLogger(__name__)


def train_and_evaluate(
    train_path: str | Path,
    valid_path: str | Path,
    test_path: str | Path,
    items_path: str | Path,
    outdir: str | Path,
    params: dict[str, Any],
    ks: Sequence[int],
    threads: int | None = None,
) -> dict:
    """Train SASRec, evaluate on test over all items, and write into ``outdir``:
    ``model.pt`` (state dict), ``sasrec_config.json``, ``training_curve.json``,
    ``training_curve.png``, ``predictions.parquet``, ``metrics.json``. Returns the metrics.

    ``params``: the resolved ``baselines.sasrec`` section
    (:func:`genrec.baselines.params.sasrec_params`): ``hidden_size, num_blocks,
    num_heads, dropout, max_len, lr, weight_decay, batch_size, max_epochs, patience,
    eval_k, seed, device``.
    """
    if threads:
        torch.set_num_threads(int(threads))
    outdir = Path(outdir)
    n_items = count_items(items_path)
    train = read_split(train_path, n_items)
    valid = read_split(valid_path, n_items)
    test = read_split(test_path, n_items)
    if len(train) == 0 or len(valid) == 0:
        raise ValueError(f"{train_path} / {valid_path}: SASRec needs non-empty train and valid")
    device = resolve_device(params["device"])
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
    with atomic_path(outdir / "model.pt") as tmp:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)
    write_json(dataclasses.asdict(model.config), outdir / "sasrec_config.json")
    write_json(curve, outdir / "training_curve.json")
    plot_curve(curve, outdir / "training_curve.png")
    metrics = write_predictions_and_metrics(
        test, preds, "sasrec", ks, outdir / "predictions.parquet", outdir / "metrics.json"
    )
    log.info("sasrec on %d test samples: %s", len(test), metrics)
    return metrics
