"""GRPO rewards for next-SID generation.

Pure functions over one *group* (the G candidates generated for one prompt,
in beam-rank order) plus thin adapters with the signature trl's
``GRPOTrainer`` calls reward functions with.

A candidate is an item id; ``-1`` marks a completion that is not a valid SID
(never a hit, and the lowest value of every reward).

- ``rule``: 1 for the exact target, else 0.
- ``ranking`` (MiniOneRec): when some candidate in the group hits, each miss at
  rank ``i`` gets ``-(1/log2(i+2)) / sum_{j<G} 1/log2(j+2)`` and a hit gets 0;
  a group without a hit gets 0 everywhere.
- ``semantic``: cosine similarity of the candidate's and the target's item
  embeddings; an invalid candidate gets -1 (the minimum).
- ``cf``: the SASRec score of the candidate given the user's history, min-max
  normalised within the group to [0, 1]; invalid candidates get 0 (the
  minimum); a group of equal scores gets 0 everywhere; prompts without a
  history (title -> SID) get ``None`` (no signal; trl counts it as missing).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

REWARD_NAMES = ("rule", "ranking", "semantic", "cf")
INVALID = -1


def rule_rewards(candidates: Sequence[int], target: int) -> list[float]:
    """1.0 where the candidate is the target item, else 0.0."""
    return [1.0 if int(c) == int(target) and int(c) != INVALID else 0.0 for c in candidates]


def ranking_penalties(group_size: int) -> list[float]:
    """The miss penalty at each rank ``i < group_size``: ``-(1/log2(i+2)) / sum_j 1/log2(j+2)``."""
    if group_size < 1:
        raise ValueError(f"group size must be >= 1, got {group_size}")
    discounts = [1.0 / math.log2(i + 2) for i in range(group_size)]
    total = sum(discounts)
    return [-d / total for d in discounts]


def ranking_rewards(
    candidates: Sequence[int], target: int, ranks: Sequence[int] | None = None
) -> list[float]:
    """MiniOneRec's ranking reward for one group.

    ``ranks[k]`` is the beam rank of ``candidates[k]`` (default: its position).
    Misses are penalised by rank only when the group contains a hit.
    """
    n = len(candidates)
    ranks = list(range(n)) if ranks is None else [int(r) for r in ranks]
    if len(ranks) != n:
        raise ValueError(f"{len(ranks)} ranks for {n} candidates")
    if any(r < 0 or r >= n for r in ranks):
        raise ValueError(f"ranks must lie in [0, {n}), got {ranks}")
    hits = rule_rewards(candidates, target)
    if not any(hits):
        return [0.0] * n
    penalty = ranking_penalties(n)
    return [0.0 if h else penalty[r] for h, r in zip(hits, ranks, strict=True)]


def semantic_rewards(candidates: Sequence[int], target: int, embeddings: np.ndarray) -> list[float]:
    """Cosine similarity between each candidate's and the target's embedding (-1 if invalid)."""
    n_items = len(embeddings)
    target = int(target)
    if not 0 <= target < n_items:
        raise ValueError(f"target item {target} outside the {n_items} embedded items")
    t = np.asarray(embeddings[target], dtype=np.float64)
    t_norm = np.linalg.norm(t)
    out = []
    for c in candidates:
        c = int(c)
        if c < 0 or c >= n_items:
            out.append(-1.0)
            continue
        v = np.asarray(embeddings[c], dtype=np.float64)
        denom = np.linalg.norm(v) * t_norm
        out.append(float(np.dot(v, t) / denom) if denom > 0 else 0.0)
    return out


def cf_rewards(scores: Sequence[float], candidates: Sequence[int]) -> list[float]:
    """Min-max normalise SASRec ``scores`` of the valid candidates within the group.

    The best valid candidate gets 1, the worst 0; invalid candidates get 0; a
    group whose valid scores are all equal (or that has < 2 valid) gets 0.
    """
    if len(scores) != len(candidates):
        raise ValueError(f"{len(scores)} scores for {len(candidates)} candidates")
    valid = [
        int(c) != INVALID and math.isfinite(float(s))
        for s, c in zip(scores, candidates, strict=True)
    ]
    vals = [float(s) for s, v in zip(scores, valid, strict=True) if v]
    if len(vals) < 2 or max(vals) == min(vals):
        return [0.0] * len(scores)
    lo, hi = min(vals), max(vals)
    return [(float(s) - lo) / (hi - lo) if v else 0.0 for s, v in zip(scores, valid, strict=True)]


# --------------------------------------------------------------------------- trl adapters
#
# trl calls ``f(prompts=..., completions=..., completion_ids=..., **columns)`` with one
# entry per completion. ``columns`` holds the dataset columns (``target``, ``history``)
# and the rollout's extra fields (``item_id``: the completion's item, ``rank``: its beam
# rank within the group, ``group``: an id shared by the completions of one prompt).


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _groups(group: Sequence[int]) -> list[list[int]]:
    """Indices of each group, in first-seen order (groups need not be contiguous)."""
    order: dict[int, list[int]] = {}
    for i, g in enumerate(group):
        order.setdefault(int(g), []).append(i)
    return list(order.values())


def _per_group(fn: Callable[[list[int]], list[float | None]], n: int, group) -> list[float | None]:
    out: list[float | None] = [0.0] * n
    for idx in _groups(group):
        for i, r in zip(idx, fn(idx), strict=True):
            out[i] = r
    return out


def make_reward_funcs(
    weights: Mapping[str, float],
    embeddings: np.ndarray | None = None,
    cf_scorer=None,
) -> tuple[list[Callable], list[float]]:
    """trl reward functions and weights for every reward with a non-zero weight.

    ``embeddings`` is needed when ``semantic`` has weight > 0; ``cf_scorer`` (an
    object with ``score(histories, candidates[B, G]) -> [B, G]``) when ``cf`` has.
    """
    unknown = set(weights) - set(REWARD_NAMES)
    if unknown:
        raise ValueError(f"unknown reward(s) {sorted(unknown)}; known: {list(REWARD_NAMES)}")
    funcs, ws = [], []

    def rule(item_id, target, **_):
        return [
            float(int(c) == int(t) and int(c) != INVALID)
            for c, t in zip(item_id, target, strict=True)
        ]

    def ranking(item_id, target, rank, group, **_):
        def one(idx):
            return ranking_rewards(
                [item_id[i] for i in idx], target[idx[0]], [rank[i] for i in idx]
            )

        return _per_group(one, len(item_id), group)

    def semantic(item_id, target, **_):
        return [
            semantic_rewards([c], t, embeddings)[0] for c, t in zip(item_id, target, strict=True)
        ]

    def cf(item_id, target, history, group, **_):
        out: list[float | None] = [None] * len(item_id)
        groups = [idx for idx in _groups(group) if len(history[idx[0]]) > 0]
        by_size: dict[int, list[list[int]]] = {}
        for idx in groups:  # one batched SASRec call per group size
            by_size.setdefault(len(idx), []).append(idx)
        for batch in by_size.values():
            hists = [list(history[idx[0]]) for idx in batch]
            cands = np.asarray([[int(item_id[i]) for i in idx] for idx in batch], dtype=np.int64)
            scores = _to_numpy(cf_scorer.score(hists, cands))
            for idx, s, c in zip(batch, scores, cands, strict=True):
                for i, r in zip(idx, cf_rewards(s.tolist(), c.tolist()), strict=True):
                    out[i] = r
        return out

    available = {"rule": rule, "ranking": ranking, "semantic": semantic, "cf": cf}
    for name in REWARD_NAMES:
        w = float(weights.get(name, 0.0))
        if w == 0.0:
            continue
        if name == "semantic" and embeddings is None:
            raise ValueError("the semantic reward has weight > 0 but no item embeddings were given")
        if name == "cf" and cf_scorer is None:
            raise ValueError("the cf reward has weight > 0 but no SASRec scorer was given")
        fn = available[name]
        fn.__name__ = name  # trl logs rewards/<__name__>/mean
        funcs.append(fn)
        ws.append(w)
    if not funcs:
        raise ValueError("every reward weight is 0: give at least one of rl.rewards a weight > 0")
    return funcs, ws
