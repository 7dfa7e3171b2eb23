"""Snakemake script: write the synthetic raw dataset (Amazon 2018 layout)."""

from genrec.data.synthetic import write_synthetic
from genrec.logging import setup_logging

setup_logging(snakemake.log[0])
write_synthetic(snakemake.output.reviews, snakemake.output.meta, **snakemake.params.synthetic)
