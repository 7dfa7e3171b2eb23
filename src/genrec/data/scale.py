"""Synthetic Amazon-2018 files at the size of the largest categories, written by streaming.

:func:`write_scale` writes ``n_reviews`` (approximately: whole users) reviews and the
metadata of their items, chunk by chunk, in memory independent of the size (a chunk
of users at a time; the item-popularity table is the only array of the catalogue's
size). Deterministic from ``seed``. For benchmarks of the data stage
(``benchmarks/data_stage.py``), not a recommender demo (that is
:mod:`genrec.data.synthetic`):

- item popularity is a power law (Zipf, exponent ``zipf``) over ``n_reviews /
  reviews_per_item`` items whose ids are not in popularity order;
- user sequence lengths are power-law too: ``min_len`` + a Pareto tail (exponent
  ``length_tail``), capped at ``max_len``;
- timestamps are at day resolution as in the real files (so time ties are common),
  each user starting anywhere in 2008..2018 with gaps of about a month;
- ``p_duplicate`` of the reviews are repeated as an identical line (same user, item
  and time, as in Amazon's dumps) and ``p_rereview`` of them re-review an earlier item
  of the user on a later day;
- ``p_no_meta`` of the items have no metadata record, ``p_bad_title`` an empty or
  over-long title, and ``p_meta_duplicate`` of the records appear twice.

Review lines carry the 2018 fields (``overall``, ``verified``, ``reviewTime``,
``reviewerID``, ``asin``, ``reviewerName``, ``reviewText``, ``summary``,
``unixReviewTime``), with short texts; files are grouped by user, not by item.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
from pathlib import Path

import numpy as np
import polars as pl

from genrec.io import atomic_path

log = logging.getLogger(__name__)

DAY = 86_400
START = 1_199_145_600  # 2008-01-01
SPAN_DAYS = 3_650
WORDS = (
    "great works fine quality price cheap sturdy broke returned recommend perfect size "
    "small large heavy light fast slow easy hard battery cable fits exactly described "
    "good bad excellent poor love hate again would buy gift product item value"
).split()
CATEGORIES = [f"Category {c}" for c in range(40)]


def _id_strings(prefix: str, values: np.ndarray, width: int) -> list[str]:
    """``prefix`` + ``values`` in base 36, zero-padded: Amazon-like opaque ids."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for v in values.tolist():
        s = []
        for _ in range(width):
            v, r = divmod(v, 36)
            s.append(digits[r])
        out.append(prefix + "".join(reversed(s)))
    return out


def _texts(rng: np.random.Generator, n_pool: int, lo: int, hi: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, rng.integers(lo, hi + 1))) for _ in range(n_pool)]


@contextlib.contextmanager
def _gzip(path: Path):
    """A gzip stream (level 1: fast) into ``path``; mtime 0, so the same bytes every run."""
    with open(path, "wb") as raw, gzip.GzipFile("", "wb", 1, raw, mtime=0) as fh:
        yield fh


def write_scale(
    out_reviews: str | Path,
    out_meta: str | Path,
    n_reviews: int,
    *,
    seed: int = 0,
    reviews_per_item: int = 20,
    zipf: float = 1.0,
    min_len: int = 5,
    max_len: int = 2_000,
    length_tail: float = 1.6,
    p_duplicate: float = 0.02,
    p_rereview: float = 0.02,
    p_no_meta: float = 0.05,
    p_bad_title: float = 0.02,
    p_meta_duplicate: float = 0.01,
    chunk_users: int = 50_000,
) -> dict:
    """Write gzipped reviews and metadata (Amazon 2018 layout); return a summary (users,
    items, reviews lines, metadata lines)."""
    rng = np.random.default_rng(seed)
    n_items = max(10, n_reviews // reviews_per_item)
    weights = np.arange(1, n_items + 1, dtype=np.float64) ** -zipf
    cum = np.cumsum(weights)
    cum /= cum[-1]
    item_key = rng.permutation(n_items).astype(np.int64) * 7_919 + 1_000  # id order != rank
    asins = pl.Series(_id_strings("B0", item_key, 8))
    texts = pl.Series(_texts(rng, 4_096, 3, 25))
    summaries = pl.Series(_texts(rng, 512, 1, 4))
    names = pl.Series([f"Reviewer {k}" for k in range(9_973)])
    n_users = n_lines = 0
    with atomic_path(out_reviews) as tmp, _gzip(tmp) as fh:
        while n_lines < n_reviews:
            lengths = min_len + np.floor(rng.pareto(length_tail, chunk_users) * 2).astype(np.int64)
            lengths = np.minimum(lengths, max_len)
            # the last chunk stops at the first user that reaches n_reviews
            stop = np.searchsorted(np.cumsum(lengths), n_reviews - n_lines) + 1
            lengths = lengths[: min(stop, chunk_users)]
            n = int(lengths.sum())
            user = np.repeat(np.arange(n_users, n_users + len(lengths)), lengths)
            item = np.searchsorted(cum, rng.random(n))
            first = np.repeat(np.cumsum(lengths) - lengths, lengths)
            # re-reviews: an earlier item of the same user
            back = rng.random(n) < p_rereview
            pos = np.arange(n) - first
            back &= pos > 0
            item[back] = item[(first + rng.integers(0, np.maximum(pos, 1)))[back]]
            start = rng.integers(0, SPAN_DAYS, len(lengths))
            gaps = np.floor(rng.exponential(30.0, n)).astype(np.int64)
            gaps[first == np.arange(n)] = 0
            day = np.repeat(start, lengths) + _segment_cumsum(gaps, lengths)
            ts = START + day * DAY
            dup = rng.random(n) < p_duplicate
            idx = np.repeat(np.arange(n), 1 + dup)  # a duplicate right after its original
            keys = (np.arange(n_users, n_users + len(lengths)) * 2_654_435_761 + 12_345) % 36**8
            uids = pl.Series(_id_strings("A", keys, 13))
            frame = pl.DataFrame(
                {
                    "overall": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0], n)[idx],
                    "verified": (rng.random(n) < 0.9)[idx],
                    "reviewTime": pl.Series(ts[idx] * 1_000_000)
                    .cast(pl.Datetime("us"))
                    .dt.strftime("%m %d, %Y"),
                    "reviewerID": uids[user[idx] - n_users],
                    "asin": asins[item[idx]],
                    "reviewerName": names[user[idx] % len(names)],
                    "reviewText": texts[rng.integers(0, len(texts), n)[idx]],
                    "summary": summaries[rng.integers(0, len(summaries), n)[idx]],
                    "unixReviewTime": ts[idx],
                }
            )
            frame.write_ndjson(fh)
            n_users += len(lengths)
            n_lines += len(idx)
    meta_lines = 0
    with atomic_path(out_meta) as tmp, _gzip(tmp) as fh:
        for lo in range(0, n_items, 200_000):
            hi = min(n_items, lo + 200_000)
            m = hi - lo
            keep = rng.random(m) >= p_no_meta
            bad = rng.random(m) < p_bad_title
            titles = [
                ("<br>" if k % 2 else " ".join(["long"] * 30)) if b else f"Product {k} {t}"
                for k, (b, t) in enumerate(
                    zip(bad.tolist(), summaries[rng.integers(0, 512, m)], strict=True),
                    lo,
                )
            ]
            cat = rng.integers(0, len(CATEGORIES), m)
            frame = pl.DataFrame(
                {
                    "category": [["Books", CATEGORIES[c]] for c in cat.tolist()],
                    "description": texts[rng.integers(0, len(texts), m)]
                    .to_frame()
                    .to_series()
                    .reshape((m, 1)),
                    "title": titles,
                    "brand": [f"Brand {b}" for b in rng.integers(0, 5_000, m).tolist()],
                    "rank": [f"{r:,} in Books (" for r in rng.integers(1, 10**6, m).tolist()],
                    "main_cat": ["Books"] * m,
                    "price": [f"${p / 100:.2f}" for p in rng.integers(100, 10_000, m).tolist()],
                    "asin": asins[lo:hi],
                }
            )
            rows = np.flatnonzero(keep)
            rows = np.repeat(rows, 1 + (rng.random(len(rows)) < p_meta_duplicate))
            frame = frame[rows]
            frame.write_ndjson(fh)
            meta_lines += len(rows)
    summary = {
        "users": n_users,
        "items": n_items,
        "review_lines": n_lines,
        "meta_lines": meta_lines,
    }
    log.info("scale data: %s -> %s, %s", summary, out_reviews, out_meta)
    return summary


def _segment_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``values`` restarted at each segment of ``lengths``."""
    total = np.cumsum(values)
    ends = np.cumsum(lengths)
    before = np.r_[0, total[ends[:-1] - 1]] if len(lengths) else np.empty(0, np.int64)
    return total - np.repeat(before, lengths)
