"""Snakemake script: raw reviews + metadata -> items, samples, split, id maps, stats."""

from pathlib import Path

from genrec.data.pipeline import prepare
from genrec.logging import setup_logging

setup_logging(snakemake.log[0])
prepare(
    snakemake.input.reviews,
    snakemake.input.meta,
    Path(snakemake.output.stats).parent,
    snakemake.params.data,
)
