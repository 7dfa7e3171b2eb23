"""Per-level code statistics of a SID assignment, and the code-usage plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genrec.io import atomic_path
from genrec.sid.tokens import LEVEL_LETTERS


def _level_counts(rows: Sequence[Sequence[int]], level: int) -> np.ndarray:
    codes = np.array([r[level] for r in rows if len(r) > level], dtype=np.int64)
    return np.bincount(codes) if codes.size else np.zeros(0, dtype=np.int64)


def level_stats(rows: Sequence[Sequence[int]], sizes: Sequence[int] | None) -> list[dict]:
    """Usage and perplexity of every level present in ``rows``.

    ``size`` is the configured codebook size (the largest code + 1 for a
    disambiguation level or an imported SID); ``usage`` = used codes / size;
    ``perplexity`` = exp(entropy of the code distribution).
    """
    depth = max((len(r) for r in rows), default=0)
    out = []
    for level in range(depth):
        counts = _level_counts(rows, level)
        size = int(sizes[level]) if sizes is not None and level < len(sizes) else len(counts)
        p = counts[counts > 0] / counts.sum()
        out.append(
            {
                "level": LEVEL_LETTERS[level],
                "size": size,
                "n_items": int(counts.sum()),
                "used": int((counts > 0).sum()),
                "usage": float((counts > 0).sum() / max(size, 1)),
                "perplexity": float(np.exp(-(p * np.log(p)).sum())),
            }
        )
    return out


def plot_code_usage(
    rows: Sequence[Sequence[int]], sizes: Sequence[int] | None, path: str | Path, title: str
) -> None:
    """Bar plot per level of how many items use each code (codes sorted by frequency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = level_stats(rows, sizes)
    fig, axes = plt.subplots(1, max(len(stats), 1), figsize=(4 * max(len(stats), 1), 3.2))
    axes = np.atleast_1d(axes)
    for ax, st in zip(axes, stats, strict=False):
        level = LEVEL_LETTERS.index(st["level"])
        counts = np.sort(_level_counts(rows, level))[::-1]
        counts = np.concatenate([counts, np.zeros(max(st["size"] - len(counts), 0), int)])
        ax.bar(np.arange(len(counts)), counts, width=1.0, color="tab:blue")
        ax.set_title(
            f"level {st['level']}: {st['used']}/{st['size']} used, ppl {st['perplexity']:.1f}",
            fontsize=9,
        )
        ax.set_xlabel("code (sorted by frequency)")
        ax.set_ylabel("items")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
