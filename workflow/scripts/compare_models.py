"""comparisons.csv: paired bootstrap intervals (SFT+RL - SFT, model / SASRec)."""

from genrec.logging import setup_logging
from genrec.params import decode
from genrec.report.intervals import write_comparisons

setup_logging(snakemake.log[0])
inp = snakemake.input
write_comparisons(
    splits={
        "valid": list(zip(inp.valid_metrics, inp.valid_predictions, strict=True)),
        "test": list(zip(inp.test_metrics, inp.test_predictions, strict=True)),
    },
    out_csv=snakemake.output.csv,
    ks=snakemake.params.ks,
    boot=decode(snakemake.params.bootstrap),
)
