"""results/{dataset}/manifest.json: every rule's benchmark and JSON output patterns."""

from pathlib import Path

from genrec.logging import setup_logging
from genrec.report.results.manifest import write_manifest

setup_logging(snakemake.log[0])
write_manifest(
    rules=snakemake.params.rules,
    results_dir=Path(snakemake.output.json).parents[1],  # results/{dataset}/manifest.json
    out=snakemake.output.json,
)
