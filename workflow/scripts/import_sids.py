"""Snakemake script: a MiniOneRec index.json -> SIDs of method `import`."""

from pathlib import Path

from genrec.logging import setup_logging
from genrec.sid.build import build_sids

setup_logging(snakemake.log[0])
build_sids(
    None,
    snakemake.input.items_parquet,
    "import",
    snakemake.params.sid,
    Path(snakemake.output.sids).parent,
    index_json=snakemake.input.index_json,
)
