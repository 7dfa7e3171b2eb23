"""Speed and memory of the data stage at scale, in-memory (pandas) and out-of-core (DuckDB).

    python benchmarks/data_stage.py [--sizes 1000000 10000000 30000000]
        [--paths pandas duckdb] [--workdir DIR] [--out docs/results/data_stage_scale.json]
        [--compare-engines 10000000]

For each size, writes Amazon-2018-layout files with ``genrec.data.scale.write_scale``
(streamed, seeded; power-law item popularity and user lengths, repeated reviews,
missing metadata; not timed, reused from ``--workdir`` when already there), then runs
``genrec.data.pipeline.prepare`` with the demo config's data section, once per
``data.engine``, each in a fresh child process: wall time, CPU time (``wait4``) and
the child's peak resident memory (its VmHWM). Where both paths ran, their outputs are compared
(every table row by row in order, id maps and stats). The pandas path is skipped
where its memory, extrapolated from its measured peak per million reviews at the
largest size it ran, would exceed ``--pandas-max-gb`` (recorded with that reason).

``--compare-engines N``: the stage's core (duplicate drop, iterative 5-core, dense
ids, per-user sorted sliding windows into Parquet) on the same spilled reviews of
the N-review input, once in DuckDB and once in Polars (streaming engine), each in a
child process: the measurement behind the choice of DuckDB.

Targets (issue #25): 30 M reviews on 2 cores in <= 4 GB peak RSS and <= 10 minutes;
wall time per million reviews about constant from 1 M to 30 M.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DUCKDB_MEMORY_MB = 2500


def _child(argv: list[str]) -> dict:
    """Run this script in a child process; return its JSON line plus wall/CPU/peak RSS."""
    pythonpath = [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, *argv], stdout=subprocess.PIPE, env=env, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    result = {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        # other jobs on the machine: the 1-minute load average when the run ended
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    if proc.returncode != 0:
        return {**result, "peak_rss_mb": None, "status": f"failed (exit {proc.returncode})"}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return {**result, **json.loads(lines[-1]), "status": "ok"}


def peak_rss_mb() -> int:
    """This process's peak resident memory (VmHWM of /proc/self/status): the high-water
    mark of its own address space. (``wait4``'s ru_maxrss would not do: Linux carries the
    parent's high-water mark into a child through fork and exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_stage(reviews: str, meta: str, outdir: str, engine: str, threads: int) -> None:
    """Child: one data-stage run; prints its stats summary."""
    import yaml

    from genrec.data.params import DataParams
    from genrec.data.pipeline import OUTPUTS, prepare

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())["data"]
    params = DataParams.defaults(**{**cfg, "engine": engine})
    outputs = {name: Path(outdir) / name for name in OUTPUTS}
    stats = prepare(reviews, meta, params, outputs, threads=threads, memory_mb=DUCKDB_MEMORY_MB)
    print(
        json.dumps({"peak_rss_mb": peak_rss_mb(), "final": stats["final"], "split": stats["split"]})
    )


def same_outputs(a: Path, b: Path) -> bool:
    """Every table of ``a`` equals ``b``'s row by row in order; id maps and stats equal."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": "2GB", "threads": 2})
    for name in ("train", "valid", "test", "items_parquet"):
        cols = [
            c[0]
            for c in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{a / name}')").fetchall()
        ]
        x = ", ".join(f"x.{c}" for c in cols)
        y = ", ".join(f"y.{c}" for c in cols)
        differ = con.execute(
            f"""SELECT count(*) FROM read_parquet('{a / name}', file_row_number = true) x
            FULL JOIN read_parquet('{b / name}', file_row_number = true) y
            USING (file_row_number) WHERE row({x}) IS DISTINCT FROM row({y})"""
        ).fetchall()[0][0]
        if differ:
            return False
    if (a / "id_maps").read_bytes() != (b / "id_maps").read_bytes():
        return False
    return json.loads((a / "stats").read_text()) == json.loads((b / "stats").read_text())


# --- DuckDB vs Polars on the stage's core ---------------------------------------------


def core_duckdb(spill: str, out: str, work: str, threads: int, k: int = 5, h: int = 10) -> dict:
    import duckdb

    con = duckdb.connect(
        config={
            "threads": threads,
            "memory_limit": f"{DUCKDB_MEMORY_MB}MB",
            "temp_directory": work,
            "preserve_insertion_order": False,
        }
    )
    con.execute(
        f"CREATE TABLE cur AS SELECT user, item, ts, min(row) AS row FROM '{spill}' GROUP BY ALL"
    )
    n, passes = con.execute("SELECT count(*) FROM cur").fetchall()[0][0], 0
    while True:
        con.execute(
            f"""CREATE OR REPLACE TABLE nxt AS SELECT * FROM cur
            WHERE user IN (SELECT user FROM cur GROUP BY user HAVING count(*) >= {k})
              AND item IN (SELECT item FROM cur GROUP BY item HAVING count(*) >= {k})"""
        )
        m = con.execute("SELECT count(*) FROM nxt").fetchall()[0][0]
        if m == n:
            break
        con.execute("DROP TABLE cur; ALTER TABLE nxt RENAME TO cur")
        n, passes = m, passes + 1
    con.execute(
        f"""COPY (
        WITH u AS (SELECT user, row_number() OVER (ORDER BY user) - 1 AS uid
                   FROM (SELECT DISTINCT user FROM cur)),
             i AS (SELECT item, row_number() OVER (ORDER BY item) - 1 AS iid
                   FROM (SELECT DISTINCT item FROM cur))
        SELECT * FROM (
            SELECT uid, iid, ts, row_number() OVER w - 1 AS pos,
                   list(iid) OVER (w ROWS BETWEEN {h} PRECEDING AND 1 PRECEDING) AS history
            FROM cur JOIN u USING (user) JOIN i USING (item)
            WINDOW w AS (PARTITION BY uid ORDER BY ts, row))
        WHERE pos >= 1 ORDER BY uid, pos) TO '{out}' (FORMAT parquet)"""
    )
    return {"interactions": int(n), "kcore_passes": passes}


def core_polars(spill: str, out: str, work: str, threads: int, k: int = 5, h: int = 10) -> dict:
    import polars as pl

    cur = Path(work) / "p0.parquet"
    pl.scan_parquet(spill).group_by(["user", "item", "ts"]).agg(pl.col("row").min()).sink_parquet(
        cur
    )
    n, passes = pl.scan_parquet(cur).select(pl.len()).collect().item(), 0
    while True:
        lf = pl.scan_parquet(cur)
        u_ok = lf.group_by("user").len().filter(pl.col("len") >= k).select("user")
        i_ok = lf.group_by("item").len().filter(pl.col("len") >= k).select("item")
        nxt = Path(work) / f"p{passes + 1}.parquet"
        lf.join(u_ok, on="user", how="semi").join(i_ok, on="item", how="semi").sink_parquet(nxt)
        m = pl.scan_parquet(nxt).select(pl.len()).collect().item()
        if m == n:
            break
        cur, n, passes = nxt, m, passes + 1
    lf = pl.scan_parquet(cur)
    users = lf.select("user").unique().sort("user").with_row_index("uid")
    items = lf.select("item").unique().sort("item").with_row_index("iid")
    hist = [pl.col("iid").shift(j).over("uid") for j in range(h, 0, -1)]
    (
        lf.join(users, on="user")
        .join(items, on="item")
        .sort(["uid", "ts", "row"])
        .with_columns(
            pos=pl.int_range(pl.len()).over("uid"), history=pl.concat_list(hist).list.drop_nulls()
        )
        .filter(pl.col("pos") >= 1)
        .select("uid", "iid", "ts", "pos", "history")
        .sink_parquet(out)
    )
    return {"interactions": int(n), "kcore_passes": passes}


def run_core(engine: str, spill: str, out: str, work: str, threads: int) -> None:
    """Child: the core in one engine; prints its summary."""
    Path(work).mkdir(parents=True, exist_ok=True)
    fn = core_duckdb if engine == "duckdb" else core_polars
    t0 = time.perf_counter()
    summary = fn(spill, out, work, threads)
    seconds = round(time.perf_counter() - t0, 1)
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), **summary, "seconds": seconds}))


def spill(reviews: Path, path: Path) -> None:
    """The reviews as Parquet (user, item, ts, row), as the DuckDB path spills them."""
    from genrec.data.outofcore import _spill_reviews

    _spill_reviews(reviews, "2018", "error", path)


# --- main -----------------------------------------------------------------------------


def dataset(work: Path, n: int) -> tuple[Path, Path, dict, float | None]:
    from genrec.data.scale import write_scale

    r, m, s = work / f"scale{n}_5.json.gz", work / f"meta_scale{n}.json.gz", work / f"scale{n}.json"
    if r.exists() and m.exists() and s.exists():
        return r, m, json.loads(s.read_text()), None
    t0 = time.perf_counter()
    summary = write_scale(r, m, n, seed=0)
    seconds = time.perf_counter() - t0
    s.write_text(json.dumps(summary))
    return r, m, summary, seconds


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000])
    ap.add_argument("--paths", nargs="+", default=["pandas", "duckdb"])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/genrec_data_bench"))
    ap.add_argument("--out", type=Path, default=None, help="write the result JSON here too")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pandas-max-gb", type=float, default=12.0)
    ap.add_argument("--compare-engines", type=int, default=None, metavar="N")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "stage":
            run_stage(*rest[:4], threads=int(rest[4]))
        else:
            run_core(*rest[:4], threads=int(rest[4]))
        return {}

    args.workdir.mkdir(parents=True, exist_ok=True)
    runs, generated, comparisons = [], [], []
    pandas_mb_per_m = None
    import shutil

    for n in sorted(args.sizes):
        r, m, summary, gen_s = dataset(args.workdir, n)
        reviews = summary["review_lines"]
        generated.append(
            {
                "reviews": reviews,
                **summary,
                "reviews_gz_mb": round(r.stat().st_size / 1e6, 1),
                "meta_gz_mb": round(m.stat().st_size / 1e6, 1),
                "generate_s": None if gen_s is None else round(gen_s, 1),
            }
        )
        outs = {}
        for path in args.paths:
            row = {"reviews": reviews, "path": path}
            need_gb = None if pandas_mb_per_m is None else pandas_mb_per_m * reviews / 1e6 / 1024
            if path == "pandas" and need_gb is not None and need_gb > args.pandas_max_gb:
                row.update(
                    status="skipped",
                    reason=f"estimated peak {need_gb:.1f} GB ({pandas_mb_per_m:.0f} MB per million "
                    f"reviews, measured at the largest size run) exceeds --pandas-max-gb "
                    f"{args.pandas_max_gb:g} on a {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} "
                    "GB machine shared with other jobs",
                    wall_s=None,
                    peak_rss_mb=None,
                )
                runs.append(row)
                print(json.dumps(row), flush=True)
                continue
            out = args.workdir / f"out{n}_{path}"
            shutil.rmtree(out, ignore_errors=True)
            row.update(
                _child(["--child", "stage", str(r), str(m), str(out), path, str(args.threads)])
            )
            if path == "pandas" and row["status"] == "ok":  # the largest size measured so far
                pandas_mb_per_m = row["peak_rss_mb"] / (reviews / 1e6)
            runs.append(row)
            print(json.dumps(row), flush=True)
            if row["status"] == "ok":
                outs[path] = out
        if len(outs) == 2:
            same = same_outputs(*outs.values())
            comparisons.append({"reviews": reviews, "identical_outputs": same})
            print(json.dumps(comparisons[-1]), flush=True)
        for out in outs.values():
            shutil.rmtree(out, ignore_errors=True)

    growth = []
    for path in args.paths:
        rows = [x for x in runs if x["path"] == path and x.get("status") == "ok"]
        for a, b in zip(rows, rows[1:], strict=False):
            dm = (b["reviews"] - a["reviews"]) / 1e6
            growth.append(
                {
                    "path": path,
                    "from_reviews": a["reviews"],
                    "to_reviews": b["reviews"],
                    "wall_s_per_million": round((b["wall_s"] - a["wall_s"]) / dm, 2),
                    "peak_rss_mb_per_million": round((b["peak_rss_mb"] - a["peak_rss_mb"]) / dm, 1),
                }
            )
        for x in rows:
            x["wall_s_per_million"] = round(x["wall_s"] / (x["reviews"] / 1e6), 2)

    engines = []
    if args.compare_engines:
        r, _, summary, _ = dataset(args.workdir, args.compare_engines)
        sp = args.workdir / f"spill{args.compare_engines}.parquet"
        if not sp.exists():
            spill(r, sp)
        for engine in ("duckdb", "polars"):
            work = args.workdir / f"core_{engine}"
            shutil.rmtree(work, ignore_errors=True)
            row = {"reviews": summary["review_lines"], "engine": engine}
            row.update(
                _child(
                    [
                        "--child",
                        "core",
                        engine,
                        str(sp),
                        str(work / "samples.parquet"),
                        str(work),
                        str(args.threads),
                    ]
                )
            )
            engines.append(row)
            print(json.dumps(row), flush=True)
            shutil.rmtree(work, ignore_errors=True)

    result = {
        "benchmark": "data_stage",
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30),
            "python": platform.python_version(),
        },
        "threads": args.threads,
        "duckdb_memory_limit_mb": DUCKDB_MEMORY_MB,
        "config": "config/config.yaml data section (demo), engine per row",
        "generated": generated,
        "runs": runs,
        "identical": comparisons,
        "growth": growth,
        "engine_core_comparison": engines,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
