"""Quality sections: HR@K / NDCG@K per model (``metrics.csv``, with 95% bootstrap
intervals), each generative model against SASRec, and SFT vs SFT+RL on the valid and
the test split (paired bootstrap intervals from ``comparisons.csv``)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genrec.report.results.markdown import NA, as_number, fmt_float, fmt_int, md_table, read_json

MODEL_NAMES = {"popularity": "Popularity", "sasrec": "SASRec", "sft": "SFT", "rl": "SFT+RL"}
BASELINE_ORDER = ("popularity", "sasrec")
STAGE_ORDER = ("sft", "rl")
TARGET_RATIO = 1.3  # the project's quality target: generative >= 1.3x SASRec


def load_comparisons(path: str | Path) -> pd.DataFrame | None:
    """``comparisons.csv`` (paired intervals), or None when the run has none."""
    path = Path(path)
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    missing = [c for c in ("split", "comparison", "metric", "k", "lo", "hi") if c not in table]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected genrec.report.intervals'")
    return table


def _paired(comps, split, sid, name, metric, k) -> dict | None:
    if comps is None:
        return None
    sel = comps[
        (comps["split"] == split)
        & (comps["comparison"] == name)
        & (comps["metric"] == metric)
        & (comps["k"] == k)
        & (comps["sid_method"].astype(str) == str(sid))
    ]
    return None if sel.empty else sel.iloc[0].to_dict()


def _bracket(lo, hi, fmt) -> str:
    a, b = as_number(lo), as_number(hi)
    return "" if a is None or b is None else f" [{fmt(a)}, {fmt(b)}]"


def with_interval(row: dict, column: str) -> str:
    """``0.1522 [0.136, 0.169]``: a metrics.csv cell with its bootstrap interval (when the
    table has one)."""
    text = fmt_float(row[column])
    if f"{column}_lo" in row:
        text += _bracket(row[f"{column}_lo"], row[f"{column}_hi"], lambda v: f"{v:.3f}")
    return text


def load_metrics(path: str | Path) -> pd.DataFrame:
    """Read ``metrics.csv``; a clear error naming the path when it is absent or malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"metrics table not found: {path} (run the workflow up to this file first, "
            "e.g. `snakemake ... results/<dataset>/metrics.csv`)"
        )
    table = pd.read_csv(path)
    missing = [c for c in ("model", "sid_method", "n", "invalid") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected genrec.report.summary's")
    if not metric_ks(table):
        raise ValueError(f"{path}: no HR@K / NDCG@K columns")
    return table


def metric_ks(table: pd.DataFrame) -> list[int]:
    """The K of every ``HR@K`` column that has a matching ``NDCG@K`` column, ascending."""
    ks = {int(m.group(1)) for c in table.columns if (m := re.fullmatch(r"HR@(\d+)", str(c)))}
    return sorted(k for k in ks if f"NDCG@{k}" in table.columns)


def sid_name(value) -> str | None:
    """A ``sid_method`` cell as a name; None for the baselines' empty cells."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def sid_methods(table: pd.DataFrame) -> list[str]:
    """The SID methods of ``metrics.csv`` in first-seen order."""
    return list(dict.fromkeys(m for m in map(sid_name, table["sid_method"]) if m))


def ordered_rows(table: pd.DataFrame) -> list[dict]:
    """Rows as dicts: popularity, SASRec, then SFT and RL per SID method (in first-seen
    order), then anything else in file order."""
    rows = [dict(r, sid_method=sid_name(r["sid_method"])) for r in table.to_dict("records")]
    out = [r for b in BASELINE_ORDER for r in rows if r["model"] == b and not r["sid_method"]]
    methods = list(dict.fromkeys(r["sid_method"] for r in rows if r["sid_method"]))
    for m in methods:
        out += [r for s in STAGE_ORDER for r in rows if r["model"] == s and r["sid_method"] == m]
    seen = {id(r) for r in out}
    return out + [r for r in rows if id(r) not in seen]


def quality_section(table: pd.DataFrame, ks: Sequence[int] | None = None) -> str:
    """HR@K / NDCG@K per model (4 decimals) with the number of test samples and of
    invalid predictions (-1 entries in the top-max(K) lists).

    The Ks are those of ``metrics.csv`` (the workflow's ``eval.ks``); ``ks`` picks some
    of them, and a K asked for but not in the table is named below it.
    """
    have = metric_ks(table)
    requested = list(ks or ())
    ks = [k for k in (requested or have) if k in have] or have
    header = ["Model", "SID method"]
    header += [f"HR@{k}" for k in ks] + [f"NDCG@{k}" for k in ks] + ["test samples", "invalid"]
    share = "top1_share" in table.columns
    if share:
        header.append("top-1 share")
    rows = []
    for r in ordered_rows(table):
        row = [MODEL_NAMES.get(r["model"], r["model"]), r["sid_method"] or "-"]
        row += [with_interval(r, f"HR@{k}") for k in ks]
        row += [with_interval(r, f"NDCG@{k}") for k in ks]
        row += [fmt_int(r["n"]), fmt_int(r["invalid"])]
        if share:
            row.append(fmt_float(r["top1_share"], 3))
        rows.append(row)
    body = md_table(header, rows, "ll" + "r" * (len(header) - 2))
    not_shown = sorted(set(requested) - set(have))
    note = ""
    if not_shown:
        note = f"\n\nK = {', '.join(map(str, not_shown))} not in the table (eval.ks)."
    intervals = any(c.endswith("_lo") for c in table.columns)
    return (
        (
            "Test split; in brackets the 95% bootstrap interval of each value "
            "(`report.bootstrap`, resampling the test samples). "
            if intervals
            else "Test split. "
        )
        + "Generative models decode with trie-constrained beam search, so "
        "`invalid` (predictions that are not an item) should be 0; SFT+RL is the GRPO "
        "model trained from that SFT model."
        + (
            " `top-1 share`: fraction of test samples whose best prediction is the most "
            "common one (popularity: 1.0); near 1.0 the model ignores the history."
            if share
            else ""
        )
        + "\n\n"
        + body
        + note
    )


def versus_sasrec_section(
    table: pd.DataFrame, k: int = 10, comparisons: pd.DataFrame | None = None
) -> str:
    """Each generative model's HR@k and NDCG@k as a multiple of SASRec's (same run), with
    the paired bootstrap interval of each ratio from ``comparisons``."""
    rows = ordered_rows(table)
    sasrec = [r for r in rows if r["model"] == "sasrec" and not r["sid_method"]]
    if k not in metric_ks(table):
        return f"_No HR@{k} / NDCG@{k} in the metrics table._"
    if not sasrec:
        return "_No SASRec row in the metrics table._"
    base = sasrec[0]
    out = []
    for r in rows:
        if r["model"] in STAGE_ORDER:
            ratio = [
                as_number(r[f"{m}@{k}"]) / as_number(base[f"{m}@{k}"])
                if as_number(base[f"{m}@{k}"])
                else None
                for m in ("HR", "NDCG")
            ]
            name = f"{MODEL_NAMES[r['model']]} / SASRec"
            cells = []
            for x, metric in zip(ratio, ("HR", "NDCG"), strict=True):
                iv = _paired(comparisons, "test", r["sid_method"], name, metric, k)
                text = NA if x is None else f"{x:.3f}x"
                if iv is not None:
                    text += _bracket(iv["lo"], iv["hi"], lambda v: f"{v:.2f}x")
                cells.append(text)
            out.append(
                [MODEL_NAMES[r["model"]], r["sid_method"] or "-"]
                + [fmt_float(r[f"HR@{k}"]), fmt_float(r[f"NDCG@{k}"])]
                + cells
            )
    header = ["Model", "SID method", f"HR@{k}", f"NDCG@{k}", f"HR@{k} / SASRec"]
    header.append(f"NDCG@{k} / SASRec")
    return (
        f"Test split, from the same `metrics.csv`: SASRec has HR@{k} "
        f"{fmt_float(base[f'HR@{k}'])} and NDCG@{k} {fmt_float(base[f'NDCG@{k}'])}."
        + (
            " In brackets the paired 95% bootstrap interval of each ratio (`comparisons.csv`:"
            " the same resampled test samples for both models)."
            if comparisons is not None
            else ""
        )
        + "\n\n"
        + md_table(header, out, "llrrrr")
        + f"\n\nAt {TARGET_RATIO}x SASRec a model would need HR@{k} >= "
        f"{TARGET_RATIO * as_number(base[f'HR@{k}']):.4f} and NDCG@{k} >= "
        f"{TARGET_RATIO * as_number(base[f'NDCG@{k}']):.4f}."
    )


def valid_section(
    results: Path, methods: Sequence[str], k: int = 10, comparisons: pd.DataFrame | None = None
) -> str:
    """SFT vs SFT+RL on the valid and the test split (``eval/<m>/<stage>[/valid]/metrics.json``),
    the difference with its paired bootstrap interval from ``comparisons``."""
    rows = []
    for m in methods:
        got = {}
        for stage in STAGE_ORDER:
            for split, path in (
                ("valid", results / "eval" / m / stage / "valid" / "metrics.json"),
                ("test", results / "eval" / m / stage / "metrics.json"),
            ):
                if path.is_file():
                    got[stage, split] = read_json(path)
        if not got:
            continue
        for stage in STAGE_ORDER:
            cells = [MODEL_NAMES[stage], m]
            for split in ("valid", "test"):
                d = got.get((stage, split), {})
                cells += [fmt_float(d.get(f"HR@{k}")), fmt_float(d.get(f"NDCG@{k}"))]
            rows.append(cells)
        delta = ["SFT+RL - SFT", m]
        for split in ("valid", "test"):
            for metric in ("HR", "NDCG"):
                a = as_number(got.get(("rl", split), {}).get(f"{metric}@{k}"))
                b = as_number(got.get(("sft", split), {}).get(f"{metric}@{k}"))
                text = NA if a is None or b is None else f"{a - b:+.4f}"
                iv = _paired(comparisons, split, m, "SFT+RL - SFT", metric, k)
                if iv is not None:
                    text += _bracket(iv["lo"], iv["hi"], lambda v: f"{v:+.4f}")
                delta.append(text)
        rows.append(delta)
    if not rows:
        return "_No generative evaluations found._"
    header = ["Model", "SID method", f"valid HR@{k}", f"valid NDCG@{k}"]
    header += [f"test HR@{k}", f"test NDCG@{k}"]
    return (
        "From `eval/<method>/<stage>/valid/metrics.json` and `eval/<method>/<stage>/metrics.json`"
        " (RL trains on train-split prompts only, so both splits are unseen by it)."
        + (
            " In brackets the paired 95% bootstrap interval of the difference "
            "(`comparisons.csv`); an interval that contains 0 is no result. Settings are "
            "chosen on valid; test is read once."
            if comparisons is not None
            else ""
        )
        + "\n\n"
        + md_table(header, rows, "llrrrr")
    )
