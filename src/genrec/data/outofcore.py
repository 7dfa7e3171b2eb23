"""The data stage out of core, on DuckDB: the same outputs as :mod:`genrec.data.pipeline`'s
in-memory path, in memory bounded by DuckDB's ``memory_limit`` (it spills to disk).

Steps (each the same as the pandas path's, with the order made explicit):

1. the reviews are parsed by :func:`~genrec.data.readers.iter_reviews` (same errors,
   file:line, same skip counts) and spilled chunk by chunk to a Parquet file with
   each review's file line order (``row``);
2. DuckDB codes users and items by their sorted source ids (so the codes sort as the
   final dense ids do), drops duplicate (user, item, time) reviews keeping the first;
3. the metadata of the reviewed items is read, cleaned and title-checked chunk by
   chunk in Python (:mod:`~genrec.data.cleaning`, per row, so chunking changes
   nothing) and spilled to Parquet; the first record of an id wins;
4. time window (with widening) and iterative k-core as repeated DuckDB queries;
5. per-user sequences sorted by (time, file order), sliding-window histories, the
   chronological or leave-one-out split, all as ORDER BY queries whose results are
   streamed into the Parquet outputs;
6. id maps streamed into the JSON file in the same text ``json.dump`` writes.

Intermediate files live in a temporary directory beside the outputs (removed at the
end); the outputs are moved into place only once all of them are complete.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from genrec.data import DataError
from genrec.data.cleaning import ITEMS_SCHEMA, clean_items, title_mask
from genrec.data.filters import stage_stats, widen_window
from genrec.data.params import DataParams
from genrec.data.readers import ReadStats, iter_meta, iter_reviews
from genrec.data.samples import SAMPLE_SCHEMA
from genrec.io import atomic_path

log = logging.getLogger(__name__)

SPILL_SCHEMA = pa.schema(
    [("user", pa.string()), ("item", pa.string()), ("ts", pa.int64()), ("row", pa.int64())]
)
META_SPILL_SCHEMA = pa.schema(
    [
        ("source_id", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("brand", pa.string()),
        ("categories", pa.list_(pa.string())),
        ("ok", pa.bool_()),
        ("mrow", pa.int64()),
    ]
)
BATCH_ROWS = 200_000  # rows per record batch streamed from DuckDB into a Parquet file
META_CHUNK = 50_000  # metadata records cleaned at a time
DEFAULT_MEMORY_MB = 2500


def _q(path: Path) -> str:
    """``path`` as an SQL string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def _workdir(outputs: dict[str, Path]) -> Path:
    """A temporary directory in the nearest existing ancestor of the outputs' folder (so
    the outputs' folder itself is only created when the outputs are)."""
    parent = outputs["stats"].parent.absolute()
    while not parent.exists():
        parent = parent.parent
    return Path(tempfile.mkdtemp(prefix=".prepare_data.", suffix=".tmp", dir=parent))


def _counts(con, table: str) -> dict:
    users, items, n = con.execute(
        f"SELECT count(DISTINCT u), count(DISTINCT i), count(*) FROM {table}"
    ).fetchall()[0]
    return {"users": int(users), "items": int(items), "interactions": int(n)}


def _count(con, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _copy(con, query: str, path: Path, schema: pa.Schema) -> int:
    """Write the rows of ``query`` (in its order) to the Parquet file ``path`` with
    ``schema`` (the pandas path's: nullable fields, which DuckDB's own writer would mark
    required); return the row count."""
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in con.sql(query).to_arrow_reader(BATCH_ROWS):
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))
            n += batch.num_rows
    return n


def _before(con, c: int, n: int) -> str:
    """An SQL condition true for the first ``c`` of the ``n`` samples in the order (ts,
    uid, pos): those before the ``c``-th key (all when ``c == n``)."""
    if c >= n:
        return "TRUE"
    ts, uid, pos = con.execute(
        f"SELECT ts, uid, pos FROM samples ORDER BY ts, uid, pos LIMIT 1 OFFSET {int(c)}"
    ).fetchall()[0]
    return f"(ts < {ts} OR (ts = {ts} AND (uid < {uid} OR (uid = {uid} AND pos < {pos}))))"


def _spill_reviews(reviews, fmt: str, on_bad: str, path: Path) -> ReadStats:
    stats = ReadStats(str(reviews))
    row = 0
    with pq.ParquetWriter(path, SPILL_SCHEMA) as writer:
        for table in iter_reviews(reviews, fmt, on_bad, stats):
            n = table.num_rows
            table = table.append_column("row", pa.array(np.arange(row, row + n, dtype=np.int64)))
            writer.write_table(table.cast(SPILL_SCHEMA))
            row += n
    log.info("%s: %d reviews (%d bad lines skipped)", reviews, stats.records, stats.bad_lines)
    return stats


def _spill_meta(meta, fmt: str, on_bad: str, keep: set[str], max_words: int, path: Path):
    """Cleaned metadata of the reviewed items, each with its title check and record order."""
    stats = ReadStats(str(meta))
    kept = 0
    with pq.ParquetWriter(path, META_SPILL_SCHEMA) as writer:
        for chunk in iter_meta(meta, fmt, on_bad, stats, keep, chunk_rows=META_CHUNK):
            chunk = clean_items(chunk)
            ok = title_mask(chunk["title"], max_words).to_numpy(dtype=bool)
            table = pa.table(
                {
                    "source_id": pa.array(chunk["source_id"].tolist(), pa.string()),
                    "title": pa.array(chunk["title"].tolist(), pa.string()),
                    "description": pa.array(chunk["description"].tolist(), pa.string()),
                    "brand": pa.array(chunk["brand"].tolist(), pa.string()),
                    "categories": pa.array(chunk["categories"].tolist(), pa.list_(pa.string())),
                    "ok": pa.array(ok),
                    "mrow": pa.array(np.arange(kept, kept + len(chunk), dtype=np.int64)),
                },
                schema=META_SPILL_SCHEMA,
            )
            writer.write_table(table)
            kept += len(chunk)
    log.info("%s: %d metadata records, %d rows of reviewed items", meta, stats.records, kept)
    return stats, kept


def _degrees(con) -> dict:
    """Per-user and per-item interaction counts of table ``g`` (tables ``ud``, ``id``) and
    the counts dict of ``g``."""
    con.execute("CREATE OR REPLACE TABLE ud AS SELECT u, count(*) AS c FROM g GROUP BY u")
    con.execute("CREATE OR REPLACE TABLE id AS SELECT i, count(*) AS c FROM g GROUP BY i")
    users, n = con.execute("SELECT count(*), coalesce(sum(c), 0) FROM ud").fetchall()[0]
    items = con.execute("SELECT count(*) FROM id").fetchall()[0][0]
    return {"users": int(users), "items": int(items), "interactions": int(n)}


def _kcore(con, user_k: int, item_k: int) -> tuple[dict, list[dict]]:
    """Iterative k-core of table ``cur`` in place: the counts dict of ``cur`` before it and
    one per pass (as :func:`genrec.data.filters.kcore`).

    The peeling runs on the narrow (user, item) table ``g``; a review survives exactly
    when its user and its item do (users and items are only ever removed), so ``cur`` is
    filtered once at the end.
    """
    con.execute("CREATE OR REPLACE TABLE g AS SELECT u, i FROM cur")
    before = _degrees(con)
    passes: list[dict] = []
    uk, ik = int(user_k), int(item_k)
    keep = f"u IN (SELECT u FROM ud WHERE c >= {uk}) AND i IN (SELECT i FROM id WHERE c >= {ik})"
    while True:
        bad = con.execute(
            f"SELECT (SELECT count(*) FROM ud WHERE c < {uk}) + "
            f"(SELECT count(*) FROM id WHERE c < {ik})"
        ).fetchall()[0][0]
        if bad == 0:
            break
        con.execute(f"CREATE OR REPLACE TABLE g AS SELECT u, i FROM g WHERE {keep}")
        passes.append({"pass": len(passes) + 1, **_degrees(con)})
    if passes:
        con.execute(
            "CREATE OR REPLACE TABLE cur AS SELECT * FROM cur "
            "WHERE u IN (SELECT u FROM ud) AND i IN (SELECT i FROM id)"
        )
    con.execute("DROP TABLE g; DROP TABLE ud; DROP TABLE id")
    return before, passes


def _window_and_kcore(con, params: DataParams) -> dict:
    """Time window + k-core of table ``inter`` into table ``cur``, widening the start
    while too few items remain (as :func:`genrec.data.filters.window_and_kcore`)."""
    first = con.execute("SELECT min(ts) FROM inter").fetchall()[0][0]
    first_ts = int(first) if first is not None else 0

    def step(start, end):
        cond = ["TRUE"]
        if start is not None:
            cond.append(f"ts >= {int(start)}")
        if end is not None:
            cond.append(f"ts < {int(end)}")
        con.execute(
            f"CREATE OR REPLACE TABLE cur AS SELECT * FROM inter WHERE {' AND '.join(cond)}"
        )
        windowed, passes = _kcore(con, params.user_k, params.item_k)
        return (windowed, passes), passes[-1]["items"] if passes else windowed["items"]

    (windowed, passes), stats = widen_window(step, params, first_ts)
    stats["time_window"].update(windowed)
    stats["kcore"]["passes"] = passes
    return stats


def _write_id_maps(con, path: Path) -> None:
    """``{"user": {source: id}, "item": {...}}`` in the bytes of ``json.dump(indent=None)``,
    streamed in id order."""
    with open(path, "w") as fh:
        fh.write("{")
        for k, (kind, table, codes) in enumerate(
            (("user", "fu", "ucodes"), ("item", "fi", "icodes"))
        ):
            fh.write(", " if k else "")
            fh.write(json.dumps(kind) + ": {")
            reader = con.sql(
                f"SELECT c.source_id FROM {table} f JOIN {codes} c ON c.code = f.code ORDER BY f.id"
            ).to_arrow_reader(BATCH_ROWS)
            n = 0
            for batch in reader:
                ids = batch.column(0).to_pylist()
                fh.write(
                    "".join(
                        f"{', ' if n + j else ''}{json.dumps(s)}: {n + j}"
                        for j, s in enumerate(ids)
                    )
                )
                n += len(ids)
            fh.write("}")
        fh.write("}\n")


def prepare_out_of_core(
    reviews,
    meta,
    params: DataParams,
    paths: dict[str, Path],
    fmt: str,
    threads: int = 1,
    memory_mb: int | None = None,
) -> dict:
    """The data stage on DuckDB; ``paths`` as checked by :func:`genrec.data.pipeline.prepare`
    (which resolves ``fmt`` and calls this). ``memory_mb``: DuckDB's memory limit (it
    spills beyond it); the Python side adds a few hundred MB (the reviewed item ids, a
    metadata chunk). Returns the stats dict."""
    t0 = time.perf_counter()
    on_bad = params.on_bad_line
    work = _workdir(paths)
    try:
        con = duckdb.connect(
            ":memory:",
            config={
                "threads": max(1, int(threads)),
                "memory_limit": f"{int(memory_mb or DEFAULT_MEMORY_MB)}MB",
                "temp_directory": str(work / "duckdb"),
                "preserve_insertion_order": False,
            },
        )
        try:
            stats = _run(con, reviews, meta, params, paths, fmt, on_bad, work)
        finally:
            con.close()
        # every output is complete: move them into place
        for name, path in paths.items():
            with atomic_path(path) as tmp:
                shutil.move(work / name, tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info(
        "data stage (duckdb): %d users, %d items, %d interactions; "
        "train/valid/test = %d/%d/%d (%.1f s)",
        stats["final"]["users"],
        stats["final"]["items"],
        stats["final"]["interactions"],
        stats["split"]["train"],
        stats["split"]["valid"],
        stats["split"]["test"],
        time.perf_counter() - t0,
    )
    return stats


def _run(con, reviews, meta, params, paths, fmt, on_bad, work: Path) -> dict:
    spill = work / "reviews.parquet"
    rstats = _spill_reviews(reviews, fmt, on_bad, spill)
    if rstats.records == 0:
        raise DataError(f"{reviews}: no reviews could be read")

    # Codes in source-id order: DuckDB compares strings by their UTF-8 bytes, which is
    # code-point order, as numpy's sort of the pandas path.
    for kind, col in (("u", "user"), ("i", "item")):
        con.execute(
            f"""CREATE TABLE {kind}codes AS SELECT source_id,
                (row_number() OVER (ORDER BY source_id) - 1)::INTEGER AS code
            FROM (SELECT DISTINCT {col} AS source_id FROM read_parquet({_q(spill)}))"""
        )
    n_users = _count(con, "ucodes")
    n_items = _count(con, "icodes")
    steps = [{"step": "read", "users": n_users, "items": n_items, "interactions": rstats.records}]
    con.execute(
        f"""CREATE TABLE dedup AS SELECT uc.code AS u, ic.code AS i, r.ts, min(r.row) AS row
        FROM read_parquet({_q(spill)}) r
        JOIN ucodes uc ON uc.source_id = r.user JOIN icodes ic ON ic.source_id = r.item
        GROUP BY ALL"""
    )
    spill.unlink()
    steps.append({"step": "drop_duplicate_reviews", **_counts(con, "dedup")})
    log.info("reviews coded and deduplicated: %d", steps[-1]["interactions"])

    reviewed = set(con.sql("SELECT source_id FROM icodes").to_arrow_table().column(0).to_pylist())
    mspill = work / "meta.parquet"
    mstats, kept = _spill_meta(meta, fmt, on_bad, reviewed, params.max_title_words, mspill)
    if kept == 0:
        raise DataError(
            f"{meta}: none of its {mstats.records} metadata records matches any of the "
            f"{len(reviewed)} items reviewed in {reviews} (wrong metadata file or format?)"
        )
    del reviewed
    # the first record of each id (as drop_duplicates(keep="first"))
    con.execute(
        f"""CREATE TABLE mfirst AS SELECT ic.code AS i, m.ok, m.mrow
        FROM (SELECT source_id, ok, mrow FROM read_parquet({_q(mspill)})
              QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY mrow) = 1) m
        JOIN icodes ic ON ic.source_id = m.source_id"""
    )
    with_meta, valid = con.execute("SELECT count(*), count(*) FILTER (ok) FROM mfirst").fetchall()[
        0
    ]
    con.execute(
        "CREATE TABLE inter AS SELECT * FROM dedup WHERE i IN (SELECT i FROM mfirst WHERE ok)"
    )
    con.execute("DROP TABLE dedup")
    steps.append(
        {
            "step": "items_with_metadata_and_valid_title",
            "items_with_metadata": int(with_meta),
            "items_with_valid_title": int(valid),
            **_counts(con, "inter"),
        }
    )

    fstats = _window_and_kcore(con, params)
    log.info("time window and k-core: %d passes", len(fstats["kcore"]["passes"]))
    con.execute("DROP TABLE inter")
    steps.append({"step": "time_window", **fstats["time_window"]})
    for p in fstats["kcore"]["passes"]:
        steps.append({"step": f"kcore_pass_{p['pass']}", **{k: p[k] for k in p if k != "pass"}})
    n_inter = _count(con, "cur")
    if n_inter == 0:
        raise DataError(
            f"no interactions left after filtering {reviews} (user_k={params.user_k}, "
            f"item_k={params.item_k}, time_window={params.time_window.to_dict()}): "
            "lower data.user_k / data.item_k or widen data.time_window"
        )

    # Dense ids in source-id order (= code order).
    for table, col in (("fu", "u"), ("fi", "i")):
        con.execute(
            f"""CREATE TABLE {table} AS SELECT code, (row_number() OVER (ORDER BY code) - 1)::BIGINT
            AS id FROM (SELECT DISTINCT {col} AS code FROM cur)"""
        )
    n_users, n_items = _count(con, "fu"), _count(con, "fi")

    # Sequences: per user by (time, file order); history = the previous max_history items.
    h = int(params.max_history)
    con.execute(
        f"""CREATE TABLE samples AS SELECT * FROM (
            SELECT fu.id AS uid, fi.id AS iid, c.ts,
                row_number() OVER w - 1 AS pos,
                count(*) OVER (PARTITION BY fu.id) AS len,
                list(fi.id) OVER (w ROWS BETWEEN {h} PRECEDING AND 1 PRECEDING) AS history,
                list(c.ts) OVER (w ROWS BETWEEN {h} PRECEDING AND 1 PRECEDING) AS history_ts
            FROM cur c JOIN fu ON fu.code = c.u JOIN fi ON fi.code = c.i
            WINDOW w AS (PARTITION BY fu.id ORDER BY c.ts, c.row)
        ) WHERE pos >= 1"""
    )
    con.execute("DROP TABLE cur")
    log.info("sliding windows built")
    cols = "uid AS user_id, history, iid AS target, history_ts, ts AS target_ts"
    method = params.split.method
    if method == "chronological":
        # global order (target time, user, position); cut at the ratios' sample counts
        n = _count(con, "samples")
        r = params.split.ratios
        c1 = int(np.floor(n * r[0] + 1e-9))
        c2 = int(np.floor(n * (r[0] + r[1]) + 1e-9))
        before = {c: _before(con, c, n) for c in (c1, c2)}
        where = {
            "train": before[c1],
            "valid": f"NOT ({before[c1]}) AND {before[c2]}",
            "test": f"NOT ({before[c2]})",
        }
        order = "ts, uid, pos"
    elif method == "leave_one_out":
        where = {
            "train": "len - 1 - pos >= 2",
            "valid": "len - 1 - pos = 1",
            "test": "pos = len - 1",
        }
        order = "uid, pos"
    else:
        raise DataError(
            f"config key data.split.method: unknown {method!r} (chronological | leave_one_out)"
        )
    split_rows = {}
    for name, w in where.items():
        split_rows[name] = _copy(
            con,
            f"SELECT {cols} FROM samples WHERE {w} ORDER BY {order}",
            work / name,
            SAMPLE_SCHEMA,
        )
        if split_rows[name] == 0:
            log.warning("the %s split is empty", name)
    con.execute("DROP TABLE samples")

    _copy(
        con,
        f"""SELECT fi.id AS item_id, m.source_id, m.title, m.description, m.brand, m.categories
        FROM fi JOIN mfirst mf ON mf.i = fi.code JOIN read_parquet({_q(mspill)}) m
        ON m.mrow = mf.mrow ORDER BY fi.id""",
        work / "items_parquet",
        ITEMS_SCHEMA,
    )
    _write_id_maps(con, work / "id_maps")
    stats = stage_stats(
        fmt, rstats, mstats, steps, n_users, n_items, n_inter, method, split_rows, h
    )
    with open(work / "stats", "w") as fh:
        json.dump(stats, fh, indent=2, sort_keys=False)
        fh.write("\n")
    return stats
