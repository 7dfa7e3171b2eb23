"""Snakemake script: a MiniOneRec index.json -> SIDs of method `import`."""

from genrec.logging import setup_logging
from genrec.params import decode
from genrec.sid.build import build_sids

setup_logging(snakemake.log[0])
build_sids(
    None,
    snakemake.input.items_parquet,
    decode(snakemake.params.sid),
    dict(snakemake.output.items()),
    index_json=snakemake.input.index_json,
)
