"""Evaluate an SFT/RL model with trie-constrained beam search (genrec.eval.generative.evaluate)."""

import os

import torch

from genrec.eval.generative import evaluate
from genrec.logging import setup_logging
from genrec.params import decode

os.environ.setdefault("HF_HUB_OFFLINE", "1")
setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
evaluate(
    model_dir=snakemake.input.model,
    sids=snakemake.input.sids,
    samples=snakemake.input.samples,
    out_predictions=snakemake.output.predictions,
    out_metrics=snakemake.output.metrics,
    params=decode(snakemake.params.eval),
    stage=snakemake.wildcards.stage,
    sid_method=snakemake.wildcards.method,
    split=snakemake.params.split,
    num_gpus=snakemake.resources.gpu,
)
