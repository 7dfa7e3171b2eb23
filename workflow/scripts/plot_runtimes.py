"""Run time per job (bar chart + CSV) from the dataset's benchmark TSVs."""

from genrec.logging import setup_logging
from genrec.report.runtime import plot_runtimes

setup_logging(snakemake.log[0])
plot_runtimes(
    bench_dir=snakemake.params.bench_dir,
    out_png=snakemake.output.png,
    out_csv=snakemake.output.csv,
    dpi=snakemake.params.dpi,
)
