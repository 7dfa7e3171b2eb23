"""SASRec (Kang & McAuley, 2018) in PyTorch: baseline and collaborative-filtering scorer.

Model: item embeddings (id 0 = padding, item ``i`` -> index ``i + 1``) plus learned
absolute positional embeddings, dropout, ``num_blocks`` pre-LayerNorm causal
self-attention blocks (``torch.nn.TransformerEncoderLayer``, GELU feed-forward), a final
LayerNorm; the score of item ``i`` is the dot product of the last hidden state with the
(shared) embedding of ``i``. Histories are left-padded to ``max_len`` (the most recent
``max_len`` items are kept), so the newest item is always at position ``max_len - 1``;
padded positions are masked out as attention keys.

Objective: next-item cross-entropy over *all* items (a full softmax), which is stronger
than the original binary cross-entropy with one sampled negative. It is applied at the
last position of each train sample; since the data stage emits one sample per prefix of
a user's sequence, this covers every next-item step of the sequence.

Training uses the train split only, with early stopping on the valid split's
NDCG@``eval_k``; the best epoch's weights are kept. Evaluation scores all items and
excludes nothing (as for the generative model, which can predict any item, history
items included).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from genrec.baselines.common import count_items, read_split, write_predictions_and_metrics
from genrec.eval.metrics import ranking_metrics
from genrec.io import atomic_path, write_json

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SASRecConfig:
    """Architecture of a :class:`SASRec` model (saved as ``sasrec_config.json``)."""

    n_items: int
    max_len: int
    hidden_size: int = 64
    num_blocks: int = 2
    num_heads: int = 2
    dropout: float = 0.2

    def __post_init__(self):
        if self.n_items < 1 or self.max_len < 1:
            raise ValueError(f"n_items and max_len must be >= 1, got {self}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})"
            )

    @classmethod
    def from_json(cls, path: str | Path) -> SASRecConfig:
        with open(path) as fh:
            raw = json.load(fh)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - fields
        if unknown:
            raise ValueError(f"{path}: unknown SASRec config key(s) {sorted(unknown)}")
        return cls(**raw)


class SASRec(nn.Module):
    """Causal self-attention sequential recommender; ``forward`` returns scores over items."""

    def __init__(self, config: SASRecConfig):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.item_emb = nn.Embedding(config.n_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_len, d)
        self.emb_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=d,
            nhead=config.num_heads,
            dim_feedforward=d,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=config.num_blocks, enable_nested_tensor=False
        )
        self.final_norm = nn.LayerNorm(d)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def encode(self, seqs: torch.Tensor) -> torch.Tensor:
        """Last hidden state ``[B, d]`` of left-padded index sequences ``[B, max_len]``."""
        b, length = seqs.shape
        pad = seqs == 0
        positions = torch.arange(length, device=seqs.device)
        x = self.item_emb(seqs) * math.sqrt(self.config.hidden_size) + self.pos_emb(positions)
        x = self.emb_dropout(x) * (~pad).unsqueeze(-1)
        # Float mask [B*heads, L, L]: causal, padded keys hidden; every position may see itself
        # (a fully masked row would give NaN in padded positions).
        causal = torch.ones(length, length, dtype=torch.bool, device=seqs.device).triu(1)
        blocked = causal.unsqueeze(0) | pad.unsqueeze(1)
        blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=seqs.device)
        mask = torch.zeros(blocked.shape, dtype=x.dtype, device=seqs.device)
        mask = mask.masked_fill(blocked, float("-inf"))
        mask = mask.repeat_interleave(self.config.num_heads, dim=0)
        h = self.encoder(x, mask=mask)
        return self.final_norm(h[:, -1])

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, n_items]`` (column ``i`` = item id ``i``) for the next item."""
        return self.encode(seqs) @ self.item_emb.weight[1:].T


def pad_histories(histories: Sequence[Sequence[int]], max_len: int) -> torch.Tensor:
    """Left-pad item-id histories to ``[B, max_len]`` indices (item ``i`` -> ``i + 1``, pad 0),
    keeping the ``max_len`` most recent items."""
    out = np.zeros((len(histories), max_len), dtype=np.int64)
    for row, hist in enumerate(histories):
        h = np.asarray(hist, dtype=np.int64)[-max_len:]
        if h.size == 0:
            raise ValueError(f"history {row} is empty; SASRec needs at least one item")
        out[row, max_len - h.size :] = h + 1
    return torch.from_numpy(out)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None -> ``cuda`` when available, else ``cpu``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "SASRec was asked to run on CUDA (resources.gpu.sasrec > 0 or "
            "baselines.sasrec.device) but torch sees no GPU"
        )
    return device


class SASRecScorer:
    """A trained SASRec checkpoint as a scorer (the collaborative reward for RL).

    >>> scorer = SASRecScorer.load("model.pt", "sasrec_config.json", "cpu")
    >>> scorer.score([[3, 7, 1]], torch.tensor([[5, 2, -1]]))  # FloatTensor[1, 3]
    >>> scores, items = scorer.topk([[3, 7, 1]], k=10)          # [1, 10] each
    """

    def __init__(self, model: SASRec, device: str | torch.device | None = "cpu"):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config

    @classmethod
    def load(
        cls,
        model_path: str | Path,
        config_path: str | Path,
        device: str | torch.device | None = "cpu",
    ) -> SASRecScorer:
        config = SASRecConfig.from_json(config_path)
        model = SASRec(config)
        state = torch.load(model_path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise ValueError(f"{model_path} does not match {config_path}: {err}") from err
        return cls(model, device)

    @torch.no_grad()
    def all_scores(
        self, histories: Sequence[Sequence[int]], batch_size: int = 1024
    ) -> torch.Tensor:
        """Scores ``FloatTensor[B, n_items]`` (on CPU) of every item after each history."""
        out = []
        for start in range(0, len(histories), batch_size):
            seqs = pad_histories(histories[start : start + batch_size], self.config.max_len)
            out.append(self.model(seqs.to(self.device)).float().cpu())
        if not out:
            return torch.empty(0, self.config.n_items)
        return torch.cat(out)

    @torch.no_grad()
    def score(
        self,
        histories: Sequence[Sequence[int]],
        candidates: torch.Tensor,
        kind: str = "logit",
        invalid_score: float = float("-inf"),
    ) -> torch.Tensor:
        """Scores ``FloatTensor[B, G]`` of candidate items ``LongTensor[B, G]`` (on the
        candidates' device).

        ``kind="logit"`` gives the raw dot-product score, ``"logprob"`` the log-softmax
        over all items (comparable across histories). Candidates outside
        ``0..n_items-1`` (e.g. ``-1`` for an invalid generated SID) get ``invalid_score``.
        """
        if kind not in ("logit", "logprob"):
            raise ValueError(f"kind must be 'logit' or 'logprob', got {kind!r}")
        candidates = torch.as_tensor(candidates)
        if candidates.ndim != 2 or candidates.shape[0] != len(histories):
            raise ValueError(
                f"candidates must be [B, G] with B = len(histories) = {len(histories)}; "
                f"got {tuple(candidates.shape)}"
            )
        scores = self.all_scores(histories)
        if kind == "logprob":
            scores = torch.log_softmax(scores, dim=-1)
        cand = candidates.to("cpu", torch.long)
        valid = (cand >= 0) & (cand < self.config.n_items)
        picked = scores.gather(1, cand.clamp(0, self.config.n_items - 1))
        picked = picked.masked_fill(~valid, invalid_score)
        return picked.to(candidates.device)

    @torch.no_grad()
    def topk(self, histories: Sequence[Sequence[int]], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores FloatTensor[B, k], item_ids LongTensor[B, k])``, best first, over all
        items (``k`` is capped at ``n_items``)."""
        return _topk(self.all_scores(histories), k)


def _topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    k = min(k, scores.shape[1])
    values, idx = torch.topk(scores, k, dim=1, sorted=True)
    return values, idx


def _predict(model: SASRec, histories, k: int, device, batch_size: int) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(histories), batch_size):
            seqs = pad_histories(histories[start : start + batch_size], model.config.max_len)
            out.append(_topk(model(seqs.to(device)).float(), k)[1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def train_sasrec(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    n_items: int,
    params: dict[str, Any],
    device: str | torch.device | None = "cpu",
) -> tuple[SASRec, list[dict]]:
    """Train SASRec on ``train`` with early stopping on ``valid`` NDCG@``eval_k``.

    Returns the model with the best epoch's weights and the per-epoch curve
    (``epoch, train_loss, valid_HR@k, valid_NDCG@k, seconds``).
    """
    device = resolve_device(device)
    seed = int(params["seed"])
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    config = SASRecConfig(
        n_items=n_items,
        max_len=int(params["max_len"]),
        hidden_size=int(params["hidden_size"]),
        num_blocks=int(params["num_blocks"]),
        num_heads=int(params["num_heads"]),
        dropout=float(params["dropout"]),
    )
    model = SASRec(config).to(device)
    opt = torch.optim.AdamW(
        model.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"])
    )
    seqs = pad_histories(list(train["history"]), config.max_len)
    targets = torch.from_numpy(train["target"].to_numpy(dtype=np.int64, copy=True))
    valid_hist = list(valid["history"])
    valid_targets = valid["target"].to_numpy(dtype=np.int64)
    k = int(params["eval_k"])
    batch_size = int(params["batch_size"])
    patience = int(params["patience"])
    best, best_state, best_epoch, curve = -1.0, None, 0, []
    for epoch in range(1, int(params["max_epochs"]) + 1):
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
        preds = _predict(model, valid_hist, k, device, 1024)
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


def plot_curve(curve: list[dict], out_png: str | Path) -> None:
    """Plot train loss and valid NDCG per epoch (two panels) to ``out_png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in curve]
    ndcg_key = next(key for key in curve[0] if key.startswith("valid_NDCG@"))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [r["train_loss"] for r in curve], marker="o")
    ax1.set(xlabel="epoch", ylabel="train cross-entropy", title="SASRec train loss")
    ax2.plot(epochs, [r[ndcg_key] for r in curve], marker="o", color="C1")
    ax2.set(xlabel="epoch", ylabel=ndcg_key, title="SASRec validation")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


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

    ``params``: ``hidden_size, num_blocks, num_heads, dropout, max_len, lr, weight_decay,
    batch_size, max_epochs, patience, eval_k, seed, device`` (``max_len`` already
    resolved, see rules/baselines.smk).
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
    device = resolve_device(params.get("device", "auto"))
    log.info(
        "SASRec on %s: %d items, %d train / %d valid / %d test samples",
        device,
        n_items,
        len(train),
        len(valid),
        len(test),
    )
    model, curve = train_sasrec(train, valid, n_items, params, device)
    preds = _predict(model, list(test["history"]), max(ks), device, 1024)
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
