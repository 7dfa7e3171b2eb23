"""Build the SFT task mixture and validation set (genrec.sft.dataset.build_sft_datasets)."""

from genrec.logging import setup_logging
from genrec.params import decode
from genrec.sft.dataset import build_sft_datasets

setup_logging(snakemake.log[0])
build_sft_datasets(
    train_parquet=snakemake.input.train,
    valid_parquet=snakemake.input.valid,
    items_parquet=snakemake.input.items_parquet,
    sids_parquet=snakemake.input.sids,
    outdir=snakemake.output[0],
    params=decode(snakemake.params.sft),
)
