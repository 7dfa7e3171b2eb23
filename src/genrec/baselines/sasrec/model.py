"""The SASRec model (Kang & McAuley, 2018), its architecture config and its inputs.

Item embeddings (id 0 = padding, item ``i`` -> index ``i + 1``) plus learned absolute
positional embeddings, dropout, ``num_blocks`` pre-LayerNorm causal self-attention blocks
(``torch.nn.TransformerEncoderLayer``, GELU feed-forward), a final LayerNorm; the score
of item ``i`` is the dot product of the last hidden state with the (shared) embedding of
``i``. Histories are left-padded to ``max_len`` (the most recent ``max_len`` items are
kept), so the newest item is always at position ``max_len - 1``; padded positions are
masked out as attention keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn


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
