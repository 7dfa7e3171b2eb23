"""metrics.csv + metrics.png + metrics.html from every model's metrics.json."""

from genrec.logging import setup_logging
from genrec.params import decode
from genrec.report.summary import write_metrics_table

setup_logging(snakemake.log[0])
write_metrics_table(
    metrics_files=list(snakemake.input.metrics),
    predictions_files=list(snakemake.input.predictions),
    out_csv=snakemake.output.csv,
    out_png=snakemake.output.png,
    out_html=snakemake.output.html,
    ks=snakemake.params.ks,
    params=decode(snakemake.params.report),
)
