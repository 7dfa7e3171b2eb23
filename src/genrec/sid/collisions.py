"""Collision resolution: one unique SID per item.

1. Items sharing a full code keep the one closest to the shared last-level
   centroid; the others move, in order of distance, to the nearest last-level
   code not used by any item with the same prefix (when the last level's
   residuals and codebook are known).
2. Items that still share a code all get an extra disambiguation level
   (0, 1, ... by item id). Every other item keeps its ``L`` codes, so the SIDs
   stay prefix-free.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from genrec.sid.tokens import LEVEL_LETTERS

log = logging.getLogger(__name__)


def collision_rate(codes: np.ndarray | list) -> float:
    """Fraction of items whose SID is not unique-ified: ``1 - n_unique / n``."""
    n = len(codes)
    if n == 0:
        return 0.0
    return 1.0 - len({tuple(c) for c in codes}) / n


def _reassign_last_level(
    codes: np.ndarray, last_residual: np.ndarray, last_codebook: np.ndarray
) -> int:
    """Step 1 in place; returns the number of items moved."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    colliding = np.flatnonzero(counts[inverse] > 1)
    if colliding.size == 0:
        return 0
    if codes.shape[1] > 1:
        _, prefix = np.unique(codes[:, :-1], axis=0, return_inverse=True)
        prefix = prefix.reshape(-1)
    else:
        prefix = np.zeros(len(codes), dtype=np.int64)
    # last-level codes in use under each prefix that has a collision
    affected = np.isin(prefix, prefix[colliding])
    used: dict[int, set] = defaultdict(set)
    for p, c in zip(prefix[affected].tolist(), codes[affected, -1].tolist(), strict=True):
        used[p].add(c)
    res = last_residual[colliding].astype(np.float64)
    cb = np.asarray(last_codebook, dtype=np.float64)
    dist = (res * res).sum(1, keepdims=True) - 2 * res @ cb.T + (cb * cb).sum(1)
    pos = {int(i): j for j, i in enumerate(colliding)}
    groups: dict[int, list[int]] = defaultdict(list)
    for i in colliding:
        groups[int(inverse[i])].append(int(i))
    moved = 0
    for g in sorted(groups):
        members = groups[g]
        members.sort(key=lambda i: (dist[pos[i], codes[i, -1]], i))
        for i in members[1:]:
            free = used[int(prefix[i])]
            for c in np.argsort(dist[pos[i]], kind="stable").tolist():
                if c not in free:
                    codes[i, -1] = c
                    free.add(c)
                    moved += 1
                    break
    return moved


def add_disambiguation_level(rows: list[list[int]]) -> tuple[list[list[int]], int]:
    """Append 0, 1, ... (by item order) to every row shared by several items (step 2)."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[tuple(row)].append(i)
    out = [list(r) for r in rows]
    extra = 0
    for key, members in groups.items():
        if len(members) > 1:
            if len(key) + 1 > len(LEVEL_LETTERS):
                raise ValueError(
                    f"cannot add a disambiguation level: SIDs already have {len(key)} levels"
                )
            for j, i in enumerate(members):
                out[i].append(j)
            extra += len(members)
    if len({tuple(r) for r in out}) != len(out):
        raise RuntimeError("collision resolution failed to produce unique SIDs")
    return out, extra


def resolve_collisions(
    codes: np.ndarray,
    last_residual: np.ndarray | None = None,
    last_codebook: np.ndarray | None = None,
) -> tuple[list[list[int]], dict]:
    """Unique SIDs for ``codes (n, L)``; returns per-item code lists and counts of what changed."""
    codes = np.array(codes, dtype=np.int64, copy=True)
    n = len(codes)
    moved = 0
    if last_residual is not None and last_codebook is not None and n:
        moved = _reassign_last_level(codes, last_residual, last_codebook)
    out, extra = add_disambiguation_level(codes.tolist())
    log.info("collision resolution: %d items re-assigned, %d got an extra level", moved, extra)
    return out, {"n_reassigned": moved, "n_extra_level": extra}
