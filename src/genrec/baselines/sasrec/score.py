"""Scoring with a SASRec model: top-k over all items, and a trained checkpoint as a scorer
(the collaborative reward for RL)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from genrec.baselines.sasrec.model import SASRec, SASRecConfig, pad_histories, resolve_device


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, item_ids)`` of the ``k`` best scores per row, best first (``k`` capped at
    the number of items)."""
    k = min(k, scores.shape[1])
    values, idx = torch.topk(scores, k, dim=1, sorted=True)
    return values, idx


def predict_top_k(model: SASRec, histories, k: int, device, batch_size: int) -> np.ndarray:
    """Ranked item ids ``int64[B, k]`` after each history (``model`` is put in eval mode)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(histories), batch_size):
            seqs = pad_histories(histories[start : start + batch_size], model.config.max_len)
            out.append(top_k(model(seqs.to(device)).float(), k)[1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


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
        return top_k(self.all_scores(histories), k)
