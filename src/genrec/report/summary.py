"""``results/{dataset}/metrics.csv``: one row per model and SID method, all K; plus plots.

The table has columns ``model, sid_method, label, n, invalid, top1_share, HR@K...,
NDCG@K...`` (K ascending; ``top1_share``, the share of samples whose best prediction
is the most common one, is 1.0 for popularity and empty when a metrics file lacks
it), then the 95% bootstrap interval of every metric, ``HR@K_lo, HR@K_hi, ...,
NDCG@K_lo, NDCG@K_hi`` (:mod:`genrec.report.intervals`, from the per-sample ranks of
the model's ``predictions.parquet``). ``label`` is ``model`` for baselines and
``model (sid_method)`` for generative models; it names the curves in ``metrics.png``
(with the intervals as error bars) and the HTML table rows.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genrec.eval.bootstrap import gains
from genrec.io import atomic_path
from genrec.report.intervals import interval_columns, read_ranks
from genrec.report.params import BootstrapParams, ReportParams

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


def interval_names(ks: Sequence[int]) -> list[str]:
    """The interval columns of ``metrics.csv``, in order."""
    return [f"{m}@{k}_{end}" for m in ("HR", "NDCG") for k in ks for end in ("lo", "hi")]


def metrics_table(
    paths: Sequence[str | Path],
    ks: Sequence[int],
    sort_by: str | None = None,
    predictions: Sequence[str | Path] | None = None,
    bootstrap: BootstrapParams | None = None,
):
    """DataFrame with one row per metrics.json, columns as in the module docstring.

    ``predictions`` (one ``predictions.parquet`` per metrics file, same order) and
    ``bootstrap`` add the interval columns; without them the table has none.
    """
    ks = sorted(set(int(k) for k in ks))
    if predictions is not None and len(predictions) != len(paths):
        raise ValueError(f"{len(predictions)} predictions files for {len(paths)} metrics files")
    if (predictions is None) != (bootstrap is None):
        raise ValueError("interval columns need both the predictions files and the bootstrap")
    rows = []
    for i, path in enumerate(paths):
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
        if predictions is not None:
            ranks = read_ranks(predictions[i])
            if len(ranks) != m.get("n", len(ranks)):
                raise ValueError(
                    f"{predictions[i]}: {len(ranks)} samples, but {path} counts {m['n']}"
                )
            row.update(_intervals(ranks["rank"].to_numpy(), m, ks, bootstrap, path, predictions[i]))
        rows.append(row)
    columns = ID_COLUMNS + [f"HR@{k}" for k in ks] + [f"NDCG@{k}" for k in ks]
    if predictions is not None:
        columns += interval_names(ks)
    table = pd.DataFrame(rows, columns=columns)
    dupes = table["label"][table["label"].duplicated()].tolist()
    if dupes:
        raise ValueError(f"two metrics files describe the same model: {dupes}")
    if sort_by:
        if sort_by not in table.columns:
            raise ValueError(f"report.sort_by: no column {sort_by!r}; have {columns}")
        table = table.sort_values(sort_by, ascending=False, kind="stable").reset_index(drop=True)
    return table


def _intervals(ranks, m: dict, ks, bootstrap, path, pred_path) -> dict:
    """The interval columns of one model, after checking its predictions give the
    metrics its metrics.json reports (a mismatched pair of files is an error)."""
    for k in ks:
        for name in ("HR", "NDCG"):
            got = float(gains(ranks, k, name).mean())
            if abs(got - float(m[f"{name}@{k}"])) > 1e-9:
                raise ValueError(
                    f"{name}@{k} {m[f'{name}@{k}']:.4g} in {path} but its predictions give "
                    f"{got:.4g} ({pred_path}): the files are not from the same evaluation"
                )
    return interval_columns(ranks, ks, bootstrap)


def plot_metrics(table: pd.DataFrame, out_png: str | Path, dpi: int = 120) -> None:
    """HR@K and NDCG@K against K, one curve per model (two panels); the bootstrap
    intervals as error bars when the table has them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, name in zip(axes, ("HR", "NDCG"), strict=True):
        cols = [c for c in table.columns if re.fullmatch(rf"{name}@\d+", c)]
        ks = [int(c.split("@")[1]) for c in cols]
        for _, row in table.iterrows():
            ys = [row[c] for c in cols]
            if all(f"{c}_lo" in table.columns for c in cols):
                err = [  # clipped: a percentile interval of a skewed mean can miss it
                    [max(0.0, y - row[f"{c}_lo"]) for y, c in zip(ys, cols, strict=True)],
                    [max(0.0, row[f"{c}_hi"] - y) for y, c in zip(ys, cols, strict=True)],
                ]
                ax.errorbar(ks, ys, yerr=err, marker="o", capsize=3, label=row["label"])
            else:
                ax.plot(ks, ys, marker="o", label=row["label"])
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
    """A standalone HTML page with the metrics table (best value per column in bold;
    each metric's 95% interval in brackets after it when the table has intervals)."""
    bounds = [c for c in table.columns if c.endswith(("_lo", "_hi"))]
    shown = table.drop(columns=["label", *bounds]).copy()
    for col in (c for c in shown.columns if "@" in c):
        if f"{col}_lo" in table.columns:
            lo, hi = table[f"{col}_lo"], table[f"{col}_hi"]
            shown[col] = [(v, a, b) for v, a, b in zip(shown[col], lo, hi, strict=True)]
    shown["sid_method"] = shown["sid_method"].fillna("-")
    formatters = {}
    for col in (c for c in shown.columns if "@" in c):
        best = table[col].max()
        formatters[col] = lambda v, best=best: _cell(v, best)
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


def _cell(value, best) -> str:
    v, lo, hi = value if isinstance(value, tuple) else (value, None, None)
    text = f"<b>{v:.4f}</b>" if v == best else f"{v:.4f}"
    return text if lo is None else f"{text} [{lo:.4f}, {hi:.4f}]"


def write_metrics_table(
    metrics_files: Sequence[str | Path],
    predictions_files: Sequence[str | Path],
    out_csv: str | Path,
    out_png: str | Path,
    out_html: str | Path,
    ks: Sequence[int],
    params: ReportParams,
) -> pd.DataFrame:
    """Write ``metrics.csv``, the ``metrics.png`` curves and the ``metrics.html`` table.

    ``predictions_files``: the ``predictions.parquet`` of each metrics file (same
    order), for the bootstrap intervals. ``params``:
    :class:`~genrec.report.params.ReportParams` (``sort_by``, ``dpi``, ``bootstrap``).
    """
    table = metrics_table(metrics_files, ks, params.sort_by, predictions_files, params.bootstrap)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    plot_metrics(table, out_png, params.dpi)
    with atomic_path(out_html) as tmp:
        Path(tmp).write_text(table_html(table))
    log.info("metrics table (%d models):\n%s", len(table), table.to_string(index=False))
    return table
