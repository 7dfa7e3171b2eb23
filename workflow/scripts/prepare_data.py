"""Snakemake script: raw reviews + metadata -> items, samples, split, id maps, stats."""

from genrec.data.pipeline import prepare
from genrec.logging import setup_logging
from genrec.params import decode

setup_logging(snakemake.log[0])
prepare(
    snakemake.input.reviews,
    snakemake.input.meta,
    decode(snakemake.params.data),
    dict(snakemake.output.items()),
)
