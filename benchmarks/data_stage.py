"""Speed and memory of the data stage on ~1M synthetic reviews.

    OMP_NUM_THREADS=1 python benchmarks/data_stage.py [--reviews 1000000] [--workdir DIR]

Generates an Amazon-2018-layout dataset with ``genrec.data.synthetic`` (not
timed), then runs ``genrec.data.pipeline.prepare`` with the default data config
in a child process and prints its wall time and peak resident memory.
Target: <= 60 s and <= 4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

from genrec.data.params import DataParams
from genrec.data.pipeline import OUTPUTS, prepare
from genrec.data.synthetic import write_synthetic
from genrec.schema import load_schema, schema_defaults

REPO = Path(__file__).resolve().parents[1]


def _synthetic(**overrides) -> dict:
    """A complete ``datasets.<name>.synthetic`` block: schema defaults + ``overrides``."""
    block = load_schema()["properties"]["datasets"]["additionalProperties"]["properties"]
    return schema_defaults("synthetic", {"properties": block}, **overrides)


def _run(reviews, meta, outdir, params, queue):
    t0 = time.perf_counter()
    stats = prepare(reviews, meta, params, {name: outdir / name for name in OUTPUTS})
    queue.put((time.perf_counter() - t0, stats))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reviews", type=int, default=1_000_000, help="approximate review count")
    ap.add_argument("--workdir", type=Path, default=None, help="keep files here (default: temp)")
    args = ap.parse_args(argv)
    # the demo config's data section, completed by the schema as the workflow does
    params = DataParams.defaults(
        **yaml.safe_load((REPO / "config/config.yaml").read_text())["data"]
    )

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        n_users = max(10, args.reviews // 12)  # mean sequence length (5 + 20) / 2 ~ 12.5
        t0 = time.perf_counter()
        summary = write_synthetic(
            work / "bench_5.json.gz",
            work / "meta_bench.json.gz",
            **_synthetic(
                n_users=n_users,
                n_items=max(20, args.reviews // 20),
                n_categories=12,
                n_brands=400,
                min_seq_len=5,
                max_seq_len=20,
                seed=0,
            ),
        )
        gen_s = time.perf_counter() - t0

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(
            target=_run,
            args=(
                work / "bench_5.json.gz",
                work / "meta_bench.json.gz",
                work / "out",
                params,
                queue,
            ),
        )
        proc.start()
        seconds, stats = queue.get()
        proc.join()
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_kb = child.ru_maxrss  # Linux: KiB

    result = {
        "generated": summary,
        "generate_seconds": round(gen_s, 1),
        "prepare_seconds": round(seconds, 1),
        "prepare_cpu_seconds": round(child.ru_utime + child.ru_stime, 1),
        "prepare_peak_rss_mb": round(peak_kb / 1024),
        "final": stats["final"],
        "split": stats["split"],
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
