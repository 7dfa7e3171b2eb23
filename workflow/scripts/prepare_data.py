"""Snakemake script: raw reviews + metadata -> items, samples, split, id maps, stats."""

from genrec.data.pipeline import prepare
from genrec.data.resources import duckdb_memory_mb
from genrec.logging import setup_logging
from genrec.params import decode

setup_logging(snakemake.log[0])
prepare(
    snakemake.input.reviews,
    snakemake.input.meta,
    decode(snakemake.params.data),
    dict(snakemake.output.items()),
    threads=snakemake.threads,
    # the DuckDB engine's memory limit: the job's memory less a reserve for Python
    memory_mb=duckdb_memory_mb(getattr(snakemake.resources, "mem_mb", None)),
)
