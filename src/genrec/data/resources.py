"""Memory and runtime of the CPU-heavy data jobs, from the size of their input files.

The rules (``rules/data.smk``, ``rules/baselines.smk``) declare ``mem_mb`` / ``runtime``
through these pure functions, so that ``--profile slurm`` asks for what a job needs
rather than the profile's fixed default (docs/execution.md, "Resources that follow the
input"). The constants are measurements of ``benchmarks/data_stage.py``
(docs/results/data_stage_scale.json) with head room, taken at the densest input
known: the Industrial sample has about 108,000 reviews per MB of gzip (ids and times
only), the scale benchmark's files about 17,000, real files with review texts fewer.

- pandas engine: peak RSS grows with the reviews, about 600 MB per million reviews;
  at 108,000 reviews per MB that is 65 MB of memory per MB of reviews file.
- duckdb engine: DuckDB's ``memory_limit`` bounds the engine (it spills beyond it);
  the job gets that limit plus a reserve for the Python side (the reviewed item ids, a
  metadata chunk, the id maps written by streaming), which grows slowly with the input.
- runtime: about 1 s per MB of input at the densest layout (a few microseconds per
  review), times 1.5, plus 10 minutes, in minutes.

``attempt`` (Snakemake's retry counter, ``--retries``) scales the memory: a job killed
for memory asks for more on its next attempt.
"""

from __future__ import annotations

import math

from genrec.data import DataError

AUTO_DUCKDB_MB = 16  # data.engine auto: a reviews file from this size (MB as stored) -> duckdb
PANDAS_BASE_MB = 1_000
PANDAS_MB_PER_REVIEWS_MB = 65
PANDAS_MB_PER_META_MB = 10
DUCKDB_BASE_MB = 4_000
DUCKDB_MB_PER_INPUT_MB = 0.25
PYTHON_RESERVE_MB = 1_500  # of the job's memory, kept outside DuckDB's limit
SECONDS_PER_INPUT_MB = 1.0
RUNTIME_SAFETY = 1.5
RUNTIME_BASE_MIN = 10


def resolve_engine(engine: str, reviews_mb: float) -> str:
    """``data.engine`` resolved for a reviews file of ``reviews_mb`` MB (as stored)."""
    if engine == "auto":
        return "duckdb" if reviews_mb >= AUTO_DUCKDB_MB else "pandas"
    if engine not in ("pandas", "duckdb"):
        raise DataError(
            f"unknown engine {engine!r}: data.engine must be 'auto', 'pandas' or 'duckdb'"
        )
    return engine


def data_stage_resources(
    reviews_mb: float, meta_mb: float, engine: str = "auto", attempt: int = 1
) -> dict[str, int]:
    """``{"mem_mb", "runtime"}`` (MB, minutes) of a ``prepare_data`` job whose reviews and
    metadata files have these sizes (MB as stored, gzip or plain)."""
    if reviews_mb < 0 or meta_mb < 0:
        raise ValueError("input sizes must be >= 0")
    total = reviews_mb + meta_mb
    if resolve_engine(engine, reviews_mb) == "pandas":
        mem = (
            PANDAS_BASE_MB + PANDAS_MB_PER_REVIEWS_MB * reviews_mb + PANDAS_MB_PER_META_MB * meta_mb
        )
    else:
        mem = DUCKDB_BASE_MB + DUCKDB_MB_PER_INPUT_MB * total
    runtime = RUNTIME_BASE_MIN + SECONDS_PER_INPUT_MB * total * RUNTIME_SAFETY / 60
    return {
        "mem_mb": int(math.ceil(mem / 100) * 100) * max(1, attempt),
        "runtime": int(math.ceil(runtime)),
    }


def duckdb_memory_mb(job_mem_mb: float | None) -> int | None:
    """DuckDB's memory limit inside a job given ``job_mem_mb`` (None: the library default)."""
    if job_mem_mb is None:
        return None
    return max(512, int(job_mem_mb) - PYTHON_RESERVE_MB)


def table_job_resources(input_mb: float, attempt: int = 1) -> dict[str, int]:
    """``{"mem_mb", "runtime"}`` of a job that loads the data stage's Parquet tables into
    memory (the popularity baseline): Parquet expands about tenfold in pandas."""
    mem = 1_000 + 10 * max(0.0, input_mb)
    return {
        "mem_mb": int(math.ceil(mem / 100) * 100) * max(1, attempt),
        "runtime": int(math.ceil(RUNTIME_BASE_MIN + input_mb * 0.5 / 60)),
    }
