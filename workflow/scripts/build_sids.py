"""Snakemake script: embeddings -> unique SIDs of one method (+ index, stats, plot, codebooks)."""

from pathlib import Path

import torch

from genrec.logging import setup_logging
from genrec.sid.build import build_sids

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
build_sids(
    snakemake.input.embeddings,
    snakemake.input.items_parquet,
    snakemake.wildcards.method,
    snakemake.params.sid,
    Path(snakemake.output.sids).parent,
    num_gpus=snakemake.resources.gpu,
    init_codebooks=getattr(snakemake.input, "init_codebooks", None),
    threads=snakemake.threads,
)
