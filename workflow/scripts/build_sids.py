"""Snakemake script: embeddings -> unique SIDs of one method (+ index, stats, plot, codebooks)."""

import torch

from genrec.logging import setup_logging
from genrec.params import decode
from genrec.sid.build import build_sids

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
build_sids(
    snakemake.input.embeddings,
    snakemake.input.items_parquet,
    decode(snakemake.params.sid),
    dict(snakemake.output.items()),
    num_gpus=snakemake.resources.gpu,
    init_codebooks=getattr(snakemake.input, "init_codebooks", None),
    threads=snakemake.threads,
)
