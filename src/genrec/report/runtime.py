"""Run time per job from Snakemake's benchmark TSVs (``results/{dataset}/benchmarks/**.tsv``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from genrec.io import atomic_path

log = logging.getLogger(__name__)

COLUMNS = ["job", "stage", "s", "max_rss", "cpu_time"]


def collect_benchmarks(bench_dir: str | Path) -> pd.DataFrame:
    """One row per benchmark TSV under ``bench_dir`` (``<stage>/<rule>[.<wildcards>].tsv``).

    ``job`` is the path below ``bench_dir`` without ``.tsv``; ``s`` the wall-clock seconds,
    averaged over repeats; ``max_rss`` (MB) and ``cpu_time`` (s) when present.
    Sorted by ``s``, longest first.
    """
    bench_dir = Path(bench_dir)
    rows = []
    for path in sorted(bench_dir.rglob("*.tsv")):
        df = pd.read_csv(path, sep="\t")
        if "s" not in df.columns or df.empty:
            raise ValueError(f"{path}: not a Snakemake benchmark file (no 's' column or no rows)")
        rel = path.relative_to(bench_dir).with_suffix("")
        rows.append(
            {
                "job": rel.as_posix(),
                "stage": rel.parts[0] if len(rel.parts) > 1 else "",
                "s": float(df["s"].mean()),
                "max_rss": _mean_number(df, "max_rss"),
                "cpu_time": _mean_number(df, "cpu_time"),
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values("s", ascending=False, kind="stable").reset_index(drop=True)


def _mean_number(df: pd.DataFrame, column: str) -> float | None:
    if column not in df.columns:
        return None
    values = pd.to_numeric(df[column], errors="coerce")  # Snakemake writes "-" when unknown
    return None if values.isna().all() else float(values.mean())


def plot_runtimes(
    bench_dir: str | Path, out_png: str | Path, out_csv: str | Path, dpi: int = 120
) -> pd.DataFrame:
    """Write ``runtimes.csv`` and a horizontal bar chart of seconds per job (``runtimes.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = collect_benchmarks(bench_dir)
    log.info("%d benchmark files under %s", len(table), bench_dir)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    shown = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.3 * max(len(shown), 1)))
    stages = list(dict.fromkeys(table["stage"]))
    colors = [f"C{stages.index(s) % 10}" for s in shown["stage"]]
    ax.barh(shown["job"], shown["s"], color=colors)
    ax.set(xlabel="wall-clock seconds", title="Run time per job")
    if not len(table):
        ax.text(0.5, 0.5, "no benchmark files yet", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
    return table
