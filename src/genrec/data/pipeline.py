"""The data stage: raw reviews + metadata -> items, id maps, samples, split, stats.

Entry point :func:`prepare` (workflow script ``prepare_data.py``). Every output
is computed before the first one is written, and each is written atomically,
so a failure never leaves partial tables behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genrec.data import DataError
from genrec.data.cleaning import ITEMS_SCHEMA, clean_items, title_mask
from genrec.data.filters import counts, stage_stats, window_and_kcore
from genrec.data.params import DataParams
from genrec.data.readers import read_meta, read_reviews, resolve_format
from genrec.data.resources import AUTO_DUCKDB_MB, resolve_engine  # noqa: F401
from genrec.data.samples import Sequences, build_table, split_samples
from genrec.io import atomic_path, require_outputs, write_json

log = logging.getLogger(__name__)

OUTPUTS = ("train", "valid", "test", "items_parquet", "id_maps", "stats")


def choose_engine(engine: str, reviews: str | Path) -> str:
    """``data.engine`` resolved: ``auto`` is duckdb for a reviews file of at least
    ``AUTO_DUCKDB_MB`` MB (as stored, gzip or plain), pandas below."""
    return resolve_engine(engine, Path(reviews).stat().st_size / 1e6)


def _write_table(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def prepare(
    reviews: str | Path,
    meta: str | Path,
    params: DataParams,
    outputs: Mapping[str, str | Path],
    threads: int = 1,
    memory_mb: int | None = None,
) -> dict:
    """Run the data stage and write ``outputs`` (a path for each name in ``OUTPUTS``:
    the train / valid / test samples and items tables, ``id_maps`` and ``stats`` JSON).

    ``params``: the dataset's :class:`~genrec.data.params.DataParams` (outside the
    workflow ``DataParams.defaults(**overrides)``); the rule declares the file names.
    ``params.engine`` picks the in-memory (pandas) or out-of-core (DuckDB,
    :mod:`genrec.data.outofcore`) path, whose outputs are identical; ``threads`` and
    ``memory_mb`` (its memory limit) apply to the DuckDB path. Returns the stats dict.
    """
    paths = require_outputs(outputs, OUTPUTS, "prepare")
    t0 = time.perf_counter()
    for p in (reviews, meta):
        if not Path(p).exists():
            raise FileNotFoundError(f"input file not found: {p}")
    fmt = resolve_format(params.format, reviews, meta)
    engine = choose_engine(params.engine, reviews)
    log.info("data stage engine: %s", engine)
    if engine == "duckdb":
        from genrec.data.outofcore import prepare_out_of_core

        return prepare_out_of_core(
            reviews, meta, params, paths, fmt, threads=threads, memory_mb=memory_mb
        )
    on_bad = params.on_bad_line

    inter, rstats = read_reviews(reviews, fmt, on_bad)
    if inter.empty:
        raise DataError(f"{reviews}: no reviews could be read")
    steps = [{"step": "read", **counts(inter)}]
    dup = inter.duplicated(["user", "item", "ts"]).to_numpy()
    inter = inter[~dup]
    steps.append({"step": "drop_duplicate_reviews", **counts(inter)})

    reviewed = set(inter["item"].unique().tolist())
    items, mstats = read_meta(meta, fmt, on_bad, keep=reviewed)
    if items.empty:
        raise DataError(
            f"{meta}: none of its {mstats.records} metadata records matches any of the "
            f"{len(reviewed)} items reviewed in {reviews} (wrong metadata file or format?)"
        )
    items = clean_items(items)
    ok_title = title_mask(items["title"], params.max_title_words)
    items = items[ok_title.to_numpy()]
    inter = inter[inter["item"].isin(items.loc[:, "source_id"]).to_numpy()]
    steps.append(
        {
            "step": "items_with_metadata_and_valid_title",
            "items_with_metadata": int(len(ok_title)),
            "items_with_valid_title": int(ok_title.sum()),
            **counts(inter),
        }
    )

    # Integer codes for the filters; original row order kept for stable time ties.
    ucode, users = pd.factorize(inter["user"])
    icode, item_src = pd.factorize(inter["item"])
    coded = pd.DataFrame(
        {"user": ucode, "item": icode, "ts": inter["ts"].to_numpy(), "row": np.arange(len(inter))}
    )
    core, fstats = window_and_kcore(coded, params)
    steps.append({"step": "time_window", **fstats["time_window"]})
    for p in fstats["kcore"]["passes"]:
        steps.append({"step": f"kcore_pass_{p['pass']}", **{k: p[k] for k in p if k != "pass"}})
    if core.empty:
        raise DataError(
            f"no interactions left after filtering {reviews} (user_k={params.user_k}, "
            f"item_k={params.item_k}, time_window={params.time_window.to_dict()}): "
            "lower data.user_k / data.item_k or widen data.time_window"
        )

    # Dense ids ordered by source id.
    user_src = np.asarray(users, dtype=object)[core["user"].unique()]
    item_keep = np.asarray(item_src, dtype=object)[core["item"].unique()]
    user_sorted = np.sort(user_src.astype(str))
    item_sorted = np.sort(item_keep.astype(str))
    u_of_code = np.full(len(users), -1, dtype=np.int64)
    u_of_code[core["user"].unique()] = np.searchsorted(user_sorted, user_src.astype(str))
    i_of_code = np.full(len(item_src), -1, dtype=np.int64)
    i_of_code[core["item"].unique()] = np.searchsorted(item_sorted, item_keep.astype(str))

    seq = Sequences.build(
        u_of_code[core["user"].to_numpy()],
        i_of_code[core["item"].to_numpy()],
        core["ts"].to_numpy(),
        order=core["row"].to_numpy(),
    )
    parts = split_samples(seq, params.split)
    max_history = int(params.max_history)
    tables = {name: build_table(seq, rows, max_history) for name, rows in parts.items()}
    for name, t in tables.items():
        if t.num_rows == 0:
            log.warning("the %s split is empty", name)

    meta_rows = items.set_index("source_id").loc[item_sorted]
    items_table = pa.table(
        {
            "item_id": pa.array(np.arange(len(item_sorted), dtype=np.int64)),
            "source_id": pa.array(item_sorted.tolist(), pa.string()),
            "title": pa.array(meta_rows["title"].tolist(), pa.string()),
            "description": pa.array(meta_rows["description"].tolist(), pa.string()),
            "brand": pa.array(meta_rows["brand"].tolist(), pa.string()),
            "categories": pa.array(meta_rows["categories"].tolist(), pa.list_(pa.string())),
        },
        schema=ITEMS_SCHEMA,
    )
    id_maps = {
        "user": {u: i for i, u in enumerate(user_sorted.tolist())},
        "item": {s: i for i, s in enumerate(item_sorted.tolist())},
    }
    n_users, n_items, n_inter = len(user_sorted), len(item_sorted), len(core)
    stats = stage_stats(
        fmt,
        rstats,
        mstats,
        steps,
        n_users,
        n_items,
        n_inter,
        params.split.method,
        {name: t.num_rows for name, t in tables.items()},
        max_history,
    )

    _write_table(items_table, paths["items_parquet"])
    for name, t in tables.items():
        _write_table(t, paths[name])
    write_json(id_maps, paths["id_maps"], indent=None)
    write_json(stats, paths["stats"])
    log.info(
        "data stage: %d users, %d items, %d interactions; train/valid/test = %d/%d/%d (%.1f s)",
        n_users,
        n_items,
        n_inter,
        stats["split"]["train"],
        stats["split"]["valid"],
        stats["split"]["test"],
        time.perf_counter() - t0,
    )
    return stats
