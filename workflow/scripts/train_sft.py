"""Fine-tune the SID LM on the SFT datasets (genrec.sft.train.train_sft)."""

import os

import torch

from genrec.logging import setup_logging
from genrec.params import decode
from genrec.sft.train import train_sft

os.environ.setdefault("HF_HUB_OFFLINE", "1")
setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
train_sft(
    datasets_dir=snakemake.input.datasets,
    sids_parquet=snakemake.input.sids,
    base_model_dir=snakemake.input.get("base_model"),
    model_dir=snakemake.output.model,
    loss_json=snakemake.output.loss_json,
    loss_png=snakemake.output.loss_png,
    checkpoint_dir=snakemake.params.checkpoint_dir,
    params=decode(snakemake.params.sft),
    num_gpus=snakemake.resources.gpu,
)
