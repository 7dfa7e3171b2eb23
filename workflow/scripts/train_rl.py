"""GRPO from the SFT model with constrained rollouts (genrec.rl.train.train_grpo)."""

import os

import torch

from genrec.logging import setup_logging
from genrec.params import decode
from genrec.rl.train import train_grpo

os.environ.setdefault("HF_HUB_OFFLINE", "1")
setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
train_grpo(
    sft_model=snakemake.input.sft_model,
    train=snakemake.input.train,
    items=snakemake.input.items_parquet,
    sids=snakemake.input.sids,
    out_model=snakemake.output.model,
    out_history=snakemake.output.history,
    out_curves=snakemake.output.curves,
    params=decode(snakemake.params.rl),
    embeddings=snakemake.input.get("embeddings"),
    sasrec_model=snakemake.input.get("sasrec_model"),
    sasrec_config=snakemake.input.get("sasrec_config"),
    checkpoint_dir=snakemake.params.checkpoint_dir,
    num_gpus=snakemake.resources.gpu,
    sid_method=snakemake.wildcards.method,
)
