"""Snakemake script: SIDs + splits -> MiniOneRec CSV/info/index layout."""

from genrec.logging import setup_logging
from genrec.sid.minionerec import export_minionerec

setup_logging(snakemake.log[0])
export_minionerec(
    snakemake.input.sids,
    snakemake.input.items_parquet,
    {s: snakemake.input[s] for s in ("train", "valid", "test")},
    snakemake.output[0],
    snakemake.params.name,
)
