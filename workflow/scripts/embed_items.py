"""Snakemake script: items.parquet -> embeddings.npy + embed_stats.json."""

import os

import torch

from genrec.embed.encode import embed_items
from genrec.logging import setup_logging
from genrec.params import decode

os.environ.setdefault("HF_HUB_OFFLINE", "1")
setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
embed_items(
    snakemake.input.items_parquet,
    snakemake.output.embeddings,
    snakemake.output.stats,
    decode(snakemake.params.embed),
    num_gpus=snakemake.resources.gpu,
)
