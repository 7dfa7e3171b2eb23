"""Summary table, plots and run times for ``snakemake --report``."""
