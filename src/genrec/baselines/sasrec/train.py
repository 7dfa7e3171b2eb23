"""Training SASRec: next-item cross-entropy over *all* items, early-stopped on valid NDCG.

The full softmax is stronger than the original binary cross-entropy with one sampled
negative. It is applied at the last position of each train sample; since the data stage
emits one sample per prefix of a user's sequence, this covers every next-item step of
the sequence. Training uses the train split only, with early stopping on the valid
split's NDCG@``eval_k``; the best epoch's weights are kept.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from genrec.baselines.params import SasrecParams
from genrec.baselines.sasrec.model import SASRec, SASRecConfig, pad_histories, resolve_device
from genrec.baselines.sasrec.score import predict_top_k
from genrec.eval.metrics import ranking_metrics

log = logging.getLogger(__name__)


def train_sasrec(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    n_items: int,
    params: SasrecParams,
    device: str | torch.device | None = "cpu",
) -> tuple[SASRec, list[dict]]:
    """Train SASRec on ``train`` with early stopping on ``valid`` NDCG@``eval_k``.

    Returns the model with the best epoch's weights and the per-epoch curve
    (``epoch, train_loss, valid_HR@k, valid_NDCG@k, seconds``).
    """
    device = resolve_device(device)
    seed = params.seed
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # SASRecConfig's architecture fields come from the params of the same names
    shape = [f.name for f in dataclasses.fields(SASRecConfig) if f.name != "n_items"]
    config = SASRecConfig(n_items=n_items, **{k: getattr(params, k) for k in shape})
    model = SASRec(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    seqs = pad_histories(list(train["history"]), config.max_len)
    targets = torch.from_numpy(train["target"].to_numpy(dtype=np.int64, copy=True))
    valid_hist = list(valid["history"])
    valid_targets = valid["target"].to_numpy(dtype=np.int64)
    k = params.eval_k
    batch_size = params.batch_size
    patience = params.patience
    best, best_state, best_epoch, curve = -1.0, None, 0, []
    for epoch in range(1, params.max_epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(len(seqs)))
        total, steps = 0.0, 0
        for idx in tqdm(order.split(batch_size), desc=f"sasrec epoch {epoch}", leave=False):
            logits = model(seqs[idx].to(device))
            loss = nn.functional.cross_entropy(logits, targets[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            steps += 1
        preds = predict_top_k(model, valid_hist, k, device, 1024)
        m = ranking_metrics(preds, valid_targets, ks=(k,))
        row = {
            "epoch": epoch,
            "train_loss": total / max(steps, 1),
            f"valid_HR@{k}": m[f"HR@{k}"],
            f"valid_NDCG@{k}": m[f"NDCG@{k}"],
            "seconds": time.perf_counter() - start,
        }
        curve.append(row)
        log.info("sasrec %s", row)
        if m[f"NDCG@{k}"] > best:
            best, best_epoch = m[f"NDCG@{k}"], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= patience:
            log.info(
                "early stop at epoch %d (best epoch %d, NDCG@%d %.4f)", epoch, best_epoch, k, best
            )
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, curve
