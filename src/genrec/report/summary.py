"""``results/{dataset}/metrics.csv``: one row per model and SID method, all K; plus plots.

The table has columns ``model, sid_method, label, n, invalid, top1_share, HR@K...,
NDCG@K...`` (K ascending; ``top1_share``, the share of samples whose best prediction
is the most common one, is 1.0 for popularity and empty when a metrics file lacks
it). ``label`` is ``model`` for baselines and ``model (sid_method)`` for generative
models; it names the curves in ``metrics.png`` and the HTML table rows.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genrec.io import atomic_path
from genrec.report.params import ReportParams

log = logging.getLogger(__name__)

ID_COLUMNS = ["model", "sid_method", "label", "n", "invalid", "top1_share"]


def read_metrics(path: str | Path, ks: Sequence[int]) -> dict:
    """Read one metrics.json; check it has ``model`` and HR/NDCG for every K."""
    with open(path) as fh:
        try:
            m = json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(m, dict) or "model" not in m:
        raise ValueError(f"{path}: expected an object with a 'model' key")
    missing = [f"{name}@{k}" for k in ks for name in ("HR", "NDCG") if f"{name}@{k}" not in m]
    if missing:
        raise ValueError(f"{path}: missing metric(s) {missing} (eval.ks asks for {list(ks)})")
    return m


def metrics_table(paths: Sequence[str | Path], ks: Sequence[int], sort_by: str | None = None):
    """DataFrame with one row per metrics.json, columns as in the module docstring."""
    ks = sorted(set(int(k) for k in ks))
    rows = []
    for path in paths:
        m = read_metrics(path, ks)
        sid = m.get("sid_method")
        row = {
            "model": m["model"],
            "sid_method": sid,
            "label": m["model"] if not sid else f"{m['model']} ({sid})",
            "n": m.get("n"),
            "invalid": m.get("invalid", 0),
            "top1_share": m.get("top1_share"),
        }
        row.update({f"HR@{k}": float(m[f"HR@{k}"]) for k in ks})
        row.update({f"NDCG@{k}": float(m[f"NDCG@{k}"]) for k in ks})
        rows.append(row)
    columns = ID_COLUMNS + [f"HR@{k}" for k in ks] + [f"NDCG@{k}" for k in ks]
    table = pd.DataFrame(rows, columns=columns)
    dupes = table["label"][table["label"].duplicated()].tolist()
    if dupes:
        raise ValueError(f"two metrics files describe the same model: {dupes}")
    if sort_by:
        if sort_by not in table.columns:
            raise ValueError(f"report.sort_by: no column {sort_by!r}; have {columns}")
        table = table.sort_values(sort_by, ascending=False, kind="stable").reset_index(drop=True)
    return table


def plot_metrics(table: pd.DataFrame, out_png: str | Path, dpi: int = 120) -> None:
    """HR@K and NDCG@K against K, one curve per model (two panels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name in zip(axes, ("HR", "NDCG"), strict=True):
        cols = [c for c in table.columns if re.fullmatch(rf"{name}@\d+", c)]
        ks = [int(c.split("@")[1]) for c in cols]
        for _, row in table.iterrows():
            ax.plot(ks, [row[c] for c in cols], marker="o", label=row["label"])
        ax.set(xlabel="K", ylabel=f"{name}@K", title=f"{name}@K on the test split")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    if len(table):
        axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def table_html(table: pd.DataFrame) -> str:
    """A standalone HTML page with the metrics table (best value per column in bold)."""
    shown = table.drop(columns=["label"]).copy()
    shown["sid_method"] = shown["sid_method"].fillna("-")
    formatters = {}
    for col in (c for c in shown.columns if "@" in c):
        best = shown[col].max()
        formatters[col] = lambda v, best=best: f"<b>{v:.4f}</b>" if v == best else f"{v:.4f}"
    # Plain DataFrame.to_html (no jinja2 needed in envs/data.yaml); only numbers are unescaped.
    for col in ("model", "sid_method"):
        shown[col] = shown[col].map(lambda v: html.escape(str(v)))
    body = shown.to_html(index=False, escape=False, formatters=formatters, classes="metrics")
    style = (
        "table.metrics{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
        "table.metrics th,table.metrics td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>genrec metrics</title>"
        f"<style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def write_metrics_table(
    metrics_files: Sequence[str | Path],
    out_csv: str | Path,
    out_png: str | Path,
    out_html: str | Path,
    ks: Sequence[int],
    params: ReportParams,
) -> pd.DataFrame:
    """Write ``metrics.csv``, the ``metrics.png`` curves and the ``metrics.html`` table.

    ``params``: :class:`~genrec.report.params.ReportParams` (``sort_by``, ``dpi``).
    """
    table = metrics_table(metrics_files, ks, params.sort_by)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    plot_metrics(table, out_png, params.dpi)
    with atomic_path(out_html) as tmp:
        Path(tmp).write_text(table_html(table))
    log.info("metrics table (%d models):\n%s", len(table), table.to_string(index=False))
    return table
