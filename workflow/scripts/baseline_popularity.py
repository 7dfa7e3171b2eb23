"""Popularity baseline: rank items by train counts (genrec.baselines.popularity.run)."""

from genrec.baselines.popularity import run
from genrec.logging import setup_logging
from genrec.params import decode

setup_logging(snakemake.log[0])
run(
    train_path=snakemake.input.train,
    test_path=snakemake.input.test,
    items_path=snakemake.input.items_parquet,
    out_predictions=snakemake.output.predictions,
    out_metrics=snakemake.output.metrics,
    params=decode(snakemake.params.popularity),
    ks=snakemake.params.ks,
)
