"""SASRec baseline: train, early-stop on valid, evaluate on test over all items."""

from genrec.baselines.sasrec.stage import train_and_evaluate
from genrec.logging import setup_logging
from genrec.params import decode

setup_logging(snakemake.log[0])
train_and_evaluate(
    train_path=snakemake.input.train,
    valid_path=snakemake.input.valid,
    test_path=snakemake.input.test,
    items_path=snakemake.input.items_parquet,
    outputs=dict(snakemake.output.items()),
    params=decode(snakemake.params.sasrec),
    ks=snakemake.params.ks,
    threads=snakemake.threads,
)
