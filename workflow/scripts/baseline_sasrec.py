"""SASRec baseline: train, early-stop on valid, evaluate on test over all items."""

from pathlib import Path

from genrec.baselines.sasrec.stage import train_and_evaluate
from genrec.logging import setup_logging

setup_logging(snakemake.log[0])
train_and_evaluate(
    train_path=snakemake.input.train,
    valid_path=snakemake.input.valid,
    test_path=snakemake.input.test,
    items_path=snakemake.input.items_parquet,
    outdir=Path(snakemake.output.model).parent,
    params=snakemake.params.sasrec,
    ks=snakemake.params.ks,
    threads=snakemake.threads,
)
