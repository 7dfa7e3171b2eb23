"""Interaction filters: time window (with optional widening) and iterative k-core."""

from __future__ import annotations

import calendar
import logging
from datetime import date

import numpy as np
import pandas as pd

from genrec.data import DataError
from genrec.data.params import DataParams

log = logging.getLogger(__name__)

DAY = 86_400


def parse_date(value: str | None, key: str) -> int | None:
    """``YYYY-MM-DD`` (UTC midnight) as unix seconds; None stays None."""
    if value is None:
        return None
    try:
        d = date.fromisoformat(str(value))
    except ValueError:
        raise DataError(f"config key {key}: {value!r} is not a date in YYYY-MM-DD form") from None
    return calendar.timegm(d.timetuple())


def format_day(ts: int | None) -> str | None:
    """Unix seconds as ``YYYY-MM-DD`` (UTC); None stays None."""
    return None if ts is None else pd.Timestamp(ts, unit="s").strftime("%Y-%m-%d")


def counts(df: pd.DataFrame) -> dict:
    """Users, items and interactions of an interaction table."""
    return {
        "users": int(df["user"].nunique()),
        "items": int(df["item"].nunique()),
        "interactions": len(df),
    }


def kcore(df: pd.DataFrame, user_k: int, item_k: int) -> tuple[pd.DataFrame, list[dict]]:
    """The maximal sub-table where every user has >= ``user_k`` and every item >= ``item_k`` rows.

    ``df`` has integer-coded ``user`` and ``item`` columns (codes need not be
    contiguous). Removes violating users and items at once, recounts, and repeats
    until nothing changes. Returns the filtered rows and one counts dict per pass.
    """
    u = df["user"].to_numpy()
    i = df["item"].to_numpy()
    keep = np.ones(len(df), dtype=bool)
    passes: list[dict] = []
    nu = int(u.max()) + 1 if len(u) else 0
    ni = int(i.max()) + 1 if len(i) else 0
    while True:
        uc = np.bincount(u[keep], minlength=nu)
        ic = np.bincount(i[keep], minlength=ni)
        ok = keep & (uc[u] >= user_k) & (ic[i] >= item_k)
        if ok.sum() == keep.sum():
            break
        keep = ok
        passes.append(
            {
                "pass": len(passes) + 1,
                "users": int(np.count_nonzero(np.bincount(u[keep], minlength=nu))),
                "items": int(np.count_nonzero(np.bincount(i[keep], minlength=ni))),
                "interactions": int(keep.sum()),
            }
        )
    return df[keep], passes


def window(df: pd.DataFrame, start: int | None, end: int | None) -> pd.DataFrame:
    """Rows with ``start <= ts < end`` (None = open)."""
    mask = np.ones(len(df), dtype=bool)
    ts = df["ts"].to_numpy()
    if start is not None:
        mask &= ts >= start
    if end is not None:
        mask &= ts < end
    return df[mask]


def window_and_kcore(df: pd.DataFrame, params: DataParams) -> tuple[pd.DataFrame, dict]:
    """Time window, then iterative k-core; widen the window start while too few items remain.

    As upstream MiniOneRec does with its start year: while fewer than
    ``time_window.min_items`` items survive, move the start back by
    ``widen_step_days`` (until it precedes the earliest interaction). ``params``: the
    dataset's :class:`~genrec.data.params.DataParams` (``user_k``, ``item_k``, ``time_window``).
    """
    first_ts = int(df["ts"].min()) if len(df) else 0

    def step(start, end):
        windowed = window(df, start, end)
        core, passes = kcore(windowed, params.user_k, params.item_k)
        return (core, counts(windowed), passes), int(core["item"].nunique())

    (core, windowed, passes), stats = widen_window(step, params, first_ts)
    stats["time_window"].update(windowed)
    stats["kcore"]["passes"] = passes
    return core, stats


def widen_window(step, params: DataParams, first_ts: int):
    """The window-widening loop of both data engines: ``step(start, end)`` applies the
    time window and the k-core and returns ``(result, n_items)``; while fewer than
    ``time_window.min_items`` items remain, the start moves back by ``widen_step_days``
    (until it precedes ``first_ts``, the earliest interaction). Returns the last
    ``result`` and the stats skeleton ``{"time_window": {start, end, widening_steps},
    "kcore": {user_k, item_k}}``, which the caller completes with its counts."""
    tw = params.time_window
    start = parse_date(tw.start, "data.time_window.start")
    end = parse_date(tw.end, "data.time_window.end")
    if start is not None and end is not None and start >= end:
        raise DataError(f"config key data.time_window: start {tw.start} is not before end {tw.end}")
    min_items = int(tw.min_items)
    widen = int(tw.widen_step_days) * DAY
    widened = 0
    while True:
        result, n_items = step(start, end)
        if n_items >= min_items or start is None or start <= first_ts:
            break
        start -= widen
        widened += 1
        log.info(
            "%d items < min_items=%d: widening the window start by one step", n_items, min_items
        )
    if n_items < min_items:
        log.warning("only %d items remain (min_items=%d) even after widening", n_items, min_items)
    stats = {
        "time_window": {"start": format_day(start), "end": tw.end, "widening_steps": widened},
        "kcore": {"user_k": params.user_k, "item_k": params.item_k},
    }
    return result, stats


def stage_stats(
    fmt, rstats, mstats, steps, n_users, n_items, n_inter, split_method, split_rows, max_history
) -> dict:
    """The data stage's ``stats.json`` (the same keys from either engine): input read
    statistics, the per-step counts, the final users / items / interactions with density
    and mean sequence length, the split's method and rows per split, ``max_history``."""
    return {
        "format": fmt,
        "inputs": {"reviews": rstats.to_dict(), "meta": mstats.to_dict()},
        "steps": steps,
        "final": {
            "users": n_users,
            "items": n_items,
            "interactions": n_inter,
            "density": n_inter / (n_users * n_items),
            "mean_sequence_length": n_inter / n_users,
        },
        "split": {"method": split_method, **split_rows},
        "max_history": max_history,
    }
