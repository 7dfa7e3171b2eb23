"""Sliding-window samples and the train/valid/test split, all vectorised (numpy/pyarrow).

For each user sequence i_1..i_n (sorted by time; ties keep file order) the
samples are ``(history = i[max(0, t-H):t], target = i[t])`` for t = 1..n-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from genrec.data import DataError
from genrec.data.params import SplitParams

SAMPLE_SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("history", pa.list_(pa.int64())),
        ("target", pa.int64()),
        ("history_ts", pa.list_(pa.int64())),
        ("target_ts", pa.int64()),
    ]
)


@dataclass
class Sequences:
    """Interactions sorted by (user, time, file order), with each row's position in its user."""

    user: np.ndarray  # int64, sorted
    item: np.ndarray  # int64
    ts: np.ndarray  # int64
    pos: np.ndarray  # int64, 0-based position within the user's sequence
    length: np.ndarray  # int64, length of the row's user sequence

    @classmethod
    def build(cls, user, item, ts, order=None) -> Sequences:
        user = np.asarray(user, dtype=np.int64)
        item = np.asarray(item, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        order = np.arange(len(user)) if order is None else np.asarray(order)
        idx = np.lexsort((order, ts, user))
        user, item, ts = user[idx], item[idx], ts[idx]
        n = len(user)
        starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]]) if n else np.empty(0, int)
        lengths = np.diff(np.r_[starts, n])
        first = np.repeat(starts, lengths)
        pos = np.arange(n, dtype=np.int64) - first
        return cls(user, item, ts, pos, np.repeat(lengths, lengths).astype(np.int64))

    def sample_rows(self) -> np.ndarray:
        """Row indices that are sample targets (every row but each user's first)."""
        return np.flatnonzero(self.pos >= 1)


def build_table(seq: Sequences, rows: np.ndarray, max_history: int) -> pa.Table:
    """The samples whose targets are ``rows`` (in that order) as a pyarrow table."""
    rows = np.asarray(rows, dtype=np.int64)
    lengths = np.minimum(seq.pos[rows], max_history)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise DataError("too many history entries for one table (> 2^31)")
    flat = np.repeat(rows - lengths, lengths) + (
        np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    )
    off32 = pa.array(offsets.astype(np.int32))
    return pa.table(
        {
            "user_id": pa.array(seq.user[rows]),
            "history": pa.ListArray.from_arrays(off32, pa.array(seq.item[flat])),
            "target": pa.array(seq.item[rows]),
            "history_ts": pa.ListArray.from_arrays(off32, pa.array(seq.ts[flat])),
            "target_ts": pa.array(seq.ts[rows]),
        },
        schema=SAMPLE_SCHEMA,
    )


def chronological_split(seq: Sequences, ratios) -> dict[str, np.ndarray]:
    """Global split of all samples by target time (ties: user id, then position).

    The first ``ratios[0]`` of samples in that order are train, the next
    ``ratios[1]`` valid, the rest test (MiniOneRec protocol).
    """
    rows = seq.sample_rows()
    order = rows[np.lexsort((seq.pos[rows], seq.user[rows], seq.ts[rows]))]
    n = len(order)
    c1 = int(np.floor(n * ratios[0] + 1e-9))
    c2 = int(np.floor(n * (ratios[0] + ratios[1]) + 1e-9))
    return {"train": order[:c1], "valid": order[c1:c2], "test": order[c2:]}


def leave_one_out_split(seq: Sequences) -> dict[str, np.ndarray]:
    """Per user: last sample -> test, second last -> valid, the rest -> train."""
    rows = seq.sample_rows()
    from_end = seq.length[rows] - 1 - seq.pos[rows]
    return {
        "train": rows[from_end >= 2],
        "valid": rows[from_end == 1],
        "test": rows[from_end == 0],
    }


def split_samples(seq: Sequences, split: SplitParams) -> dict[str, np.ndarray]:
    """Row indices per split (``data.split``: method and ratios)."""
    method = split.method
    if method == "chronological":
        return chronological_split(seq, split.ratios)
    if method == "leave_one_out":
        return leave_one_out_split(seq)
    raise DataError(
        f"config key data.split.method: unknown {method!r} (chronological | leave_one_out)"
    )
