"""A Markdown results page built only from a run's result files (nothing typed by hand).

    python -m genrec.report.results --results-dir results --dataset amazon18-industrial \\
        --out docs/results.md [--decode-bench decode.json] [--eval-bench eval.json] \\
        [--sft-bench sft.json] [--environment env.json] [--title ...]

Sections, each from the files named in it:

* quality: HR@K / NDCG@K and invalid predictions per model, from
  ``{results}/{dataset}/metrics.csv`` (``genrec.report.summary``); rows in the order
  popularity, SASRec, then SFT and SFT+RL for every SID method; each generative
  model's HR@10 / NDCG@10 as a multiple of SASRec's;
* SFT vs SFT+RL on the valid and test splits, from ``eval/<method>/<stage>[/valid]/metrics.json``;
* training facts (steps, losses, gradient norms, invalid rollouts), from
  ``sft/<method>/loss.json`` and ``rl/<method>/rl_log.json``;
* the converted pretrained backbone, from ``{results}/models/*/genrec_base_model.json``;
* run time and memory per job, from the Snakemake ``benchmark:`` TSVs under
  ``{results}/{dataset}/benchmarks/`` and ``{results}/models/benchmarks/`` (``s``,
  ``cpu_time``, ``max_rss`` in MB). Peak
  GPU memory is ``peak_gpu_memory_mb`` from the job's JSON output (embed, SID build,
  SFT, RL, evaluation and SASRec record it on a GPU; ``n/a`` for CPU runs and jobs
  without it);
* decode speed against the upstream-style reference, from the JSON written by
  ``benchmarks/decode.py --json-out`` (skipped without ``--decode-bench``);
* evaluation wall time per decoder (``--eval-bench``, ``benchmarks/eval_decoders.py``)
  and SFT throughput (``--sft-bench``, ``benchmarks/sft_throughput.py``);
* data set and SID statistics, from ``data/stats.json`` and ``sid/{method}/sid_stats.json``;
* software and hardware: from ``--environment`` (a JSON object) when given, otherwise
  gathered on the machine generating the page and labelled as such (the workflow
  does not record its environment).

The page is written atomically: rendered in memory first, then a temporary file is
renamed over ``--out``, so an error never leaves a partial page.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from genrec.io import atomic_path
from genrec.report.runtime import collect_benchmarks

KS = (1, 3, 5, 10, 20)
NA = "n/a"
MODEL_NAMES = {"popularity": "Popularity", "sasrec": "SASRec", "sft": "SFT", "rl": "SFT+RL"}
BASELINE_ORDER = ("popularity", "sasrec")
STAGE_ORDER = ("sft", "rl")
JOB_STAGE_ORDER = (
    "data", "embed", "sid", "models", "sft", "baselines", "rl", "evaluate", "report"
)  # fmt: skip
GPU_MEMORY_KEY = "peak_gpu_memory_mb"
TARGET_RATIO = 1.2  # the project's quality target: generative >= 1.2x SASRec
DECODE_META_KEYS = "model_shape device dtype n_items levels codes torch threads".split()
ENV_PACKAGES = ("torch", "transformers", "trl", "accelerate", "datasets", "snakemake", "genrec")


# ------------------------------------------------------------------ helpers
def _number(value) -> float | None:
    """``value`` as a float; None for None / NaN / non-numbers."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def fmt_float(value, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` for None / NaN / non-numbers."""
    v = _number(value)
    return NA if v is None else f"{v:.{digits}f}"


def fmt_int(value) -> str:
    """``value`` rounded, with thousands separators; ``n/a`` as :func:`fmt_float`."""
    v = _number(value)
    return NA if v is None else f"{int(round(v)):,}"


def _cell(value) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one char per column (``l``/``r``)."""
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def _missing(path: Path) -> str:
    return f"_Not available: `{path}` not found._"


# ------------------------------------------------------------------ (a) quality
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


def _sid(value) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def ordered_rows(table: pd.DataFrame) -> list[dict]:
    """Rows as dicts: popularity, SASRec, then SFT and RL per SID method (in first-seen
    order), then anything else in file order."""
    rows = [dict(r, sid_method=_sid(r["sid_method"])) for r in table.to_dict("records")]
    out = [r for b in BASELINE_ORDER for r in rows if r["model"] == b and not r["sid_method"]]
    methods = list(dict.fromkeys(r["sid_method"] for r in rows if r["sid_method"]))
    for m in methods:
        out += [r for s in STAGE_ORDER for r in rows if r["model"] == s and r["sid_method"] == m]
    seen = {id(r) for r in out}
    return out + [r for r in rows if id(r) not in seen]


def quality_section(table: pd.DataFrame, ks: Sequence[int] | None = None) -> str:
    """HR@K / NDCG@K per model (4 decimals) with the number of test samples and of
    invalid predictions (-1 entries in the top-max(K) lists)."""
    have = metric_ks(table)
    ks = [k for k in (ks or have) if k in have] or have
    header = ["Model", "SID method"]
    header += [f"HR@{k}" for k in ks] + [f"NDCG@{k}" for k in ks] + ["test samples", "invalid"]
    share = "top1_share" in table.columns
    if share:
        header.append("top-1 share")
    rows = []
    for r in ordered_rows(table):
        row = [MODEL_NAMES.get(r["model"], r["model"]), r["sid_method"] or "-"]
        row += [fmt_float(r[f"HR@{k}"]) for k in ks] + [fmt_float(r[f"NDCG@{k}"]) for k in ks]
        row += [fmt_int(r["n"]), fmt_int(r["invalid"])]
        if share:
            row.append(fmt_float(r["top1_share"], 3))
        rows.append(row)
    body = md_table(header, rows, "ll" + "r" * (len(header) - 2))
    not_shown = sorted(set(KS) - set(have))
    note = ""
    if not_shown:
        note = f"\n\nK = {', '.join(map(str, not_shown))} not in the table (eval.ks)."
    return (
        "Test split. Generative models decode with trie-constrained beam search, so "
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


def versus_sasrec_section(table: pd.DataFrame, k: int = 10) -> str:
    """Each generative model's HR@k and NDCG@k as a multiple of SASRec's (same run)."""
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
                _number(r[f"{m}@{k}"]) / _number(base[f"{m}@{k}"])
                if _number(base[f"{m}@{k}"])
                else None
                for m in ("HR", "NDCG")
            ]
            out.append(
                [MODEL_NAMES[r["model"]], r["sid_method"] or "-"]
                + [fmt_float(r[f"HR@{k}"]), fmt_float(r[f"NDCG@{k}"])]
                + [NA if x is None else f"{x:.3f}x" for x in ratio]
            )
    header = ["Model", "SID method", f"HR@{k}", f"NDCG@{k}", f"HR@{k} / SASRec"]
    header.append(f"NDCG@{k} / SASRec")
    return (
        f"Test split, from the same `metrics.csv`: SASRec has HR@{k} "
        f"{fmt_float(base[f'HR@{k}'])} and NDCG@{k} {fmt_float(base[f'NDCG@{k}'])}.\n\n"
        + md_table(header, out, "llrrrr")
        + f"\n\nAt {TARGET_RATIO}x SASRec a model would need HR@{k} >= "
        f"{TARGET_RATIO * _number(base[f'HR@{k}']):.4f} and NDCG@{k} >= "
        f"{TARGET_RATIO * _number(base[f'NDCG@{k}']):.4f}."
    )


def valid_section(results: Path, methods: Sequence[str], k: int = 10) -> str:
    """SFT vs SFT+RL on the valid and the test split (``eval/<m>/<stage>[/valid]/metrics.json``)."""
    rows = []
    for m in methods:
        got = {}
        for stage in STAGE_ORDER:
            for split, path in (
                ("valid", results / "eval" / m / stage / "valid" / "metrics.json"),
                ("test", results / "eval" / m / stage / "metrics.json"),
            ):
                if path.is_file():
                    got[stage, split] = _read_json(path)
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
                a = _number(got.get(("rl", split), {}).get(f"{metric}@{k}"))
                b = _number(got.get(("sft", split), {}).get(f"{metric}@{k}"))
                delta.append(NA if a is None or b is None else f"{a - b:+.4f}")
        rows.append(delta)
    if not rows:
        return "_No generative evaluations found._"
    header = ["Model", "SID method", f"valid HR@{k}", f"valid NDCG@{k}"]
    header += [f"test HR@{k}", f"test NDCG@{k}"]
    return (
        "From `eval/<method>/<stage>/valid/metrics.json` and `eval/<method>/<stage>/metrics.json`"
        " (RL trains on train-split prompts only, so both splits are unseen by it).\n\n"
        + md_table(header, rows, "llrrrr")
    )


def backbone_section(results_dir: Path) -> str:
    """Converted pretrained backbones (``models/<name>/genrec_base_model.json``)."""
    metas = sorted(Path(results_dir).glob("models/*/genrec_base_model.json"))
    if not metas:
        return "_No pretrained backbone under `models/` (the LM was trained from scratch)._"
    rows = []
    for path in metas:
        d = _read_json(path)
        rows.append(
            [
                d.get("name", path.parent.name),
                str(d.get("source", NA)),
                d.get("architecture", NA),
                fmt_int(d.get("parameters")),
                f"{d.get('eos_token', NA)} ({d.get('eos_token_id', NA)})",
                f"{d.get('pad_token', NA)} ({d.get('pad_token_id', NA)})",
                f"`{str(d.get('sha256', NA))[:16]}`",
            ]
        )
    header = ["name", "source", "architecture", "parameters", "EOS", "pad", "SHA-256 (source)"]
    return f"From `{Path(results_dir) / 'models'}/*/{metas[0].name}`.\n\n" + md_table(
        header, rows, "lllrlll"
    )


def _grad_norms(history: Sequence[Mapping]) -> list:
    return [h["grad_norm"] for h in history if "grad_norm" in h]


def training_section(results: Path, methods: Sequence[str]) -> str:
    """SFT and RL run facts: steps, losses, gradient norms, invalid rollouts."""
    rows = []
    for m in methods:
        sft = results / "sft" / m / "loss.json"
        if sft.is_file():
            d = _read_json(sft)
            valid = [e.get("loss") for e in d.get("valid", [])]
            rows.append(
                [
                    "SFT",
                    m,
                    f"{fmt_int(d.get('global_step'))} of {fmt_int(d.get('max_steps'))}",
                    fmt_float(d.get("train_runtime_s"), 1),
                    f"best valid loss {fmt_float(d.get('best_eval_loss'))}; "
                    f"last {fmt_float(valid[-1] if valid else None)}; "
                    f"stopped early: {'yes' if d.get('stopped_early') else 'no'}",
                ]
            )
        rl = results / "rl" / m / "rl_log.json"
        if rl.is_file():
            d = _read_json(rl)
            norms = [_number(g) for g in _grad_norms(d.get("log_history", []))]
            bad = sum(1 for g in norms if g is None)
            finite = [g for g in norms if g is not None]
            span = f"{min(finite):.3g}-{max(finite):.3g}" if finite else NA
            rows.append(
                [
                    "SFT+RL",
                    m,
                    fmt_int(d.get("global_step")),
                    fmt_float(d.get("train_runtime"), 1),
                    f"{d.get('rollout', NA)} rollouts, G={d.get('num_generations', NA)}; "
                    f"invalid completions {fmt_int(d.get('invalid_completions'))}; "
                    f"logged grad norms {span} ({bad} non-finite)",
                ]
            )
    if not rows:
        return "_No training summaries found._"
    header = ["stage", "SID method", "steps", "train time (s)", "facts"]
    return "From `sft/<method>/loss.json` and `rl/<method>/rl_log.json`.\n\n" + md_table(
        header, rows, "llrrl"
    )


# ------------------------------------------------------------------ (b) run time
def split_job(job: str) -> tuple[str, str]:
    """``"sft/train_sft.rqvae"`` -> ``("train_sft", "rqvae")``; wildcards joined by ', '."""
    name = job.rsplit("/", 1)[-1]
    rule, _, rest = name.partition(".")
    return rule, ", ".join(p for p in rest.split(".") if p)


def job_json(results: Path, job: str) -> Path | None:
    """The JSON output of a benchmarked job that could record its peak GPU memory."""
    rule, wild = split_job(job)
    parts = wild.split(", ") if wild else []
    if rule == "embed_items":
        return results / "embed" / "embed_stats.json"
    if rule == "build_sids" and len(parts) == 1:
        return results / "sid" / parts[0] / "sid_stats.json"
    if rule == "train_sft" and len(parts) == 1:
        return results / "sft" / parts[0] / "loss.json"
    if rule == "train_rl" and len(parts) == 1:
        return results / "rl" / parts[0] / "rl_log.json"
    if rule == "evaluate_generative" and len(parts) == 2:
        return results / "eval" / parts[0] / parts[1] / "metrics.json"
    if rule == "evaluate_generative_valid" and len(parts) == 2:
        return results / "eval" / parts[0] / parts[1] / "valid" / "metrics.json"
    if rule == "baseline_sasrec":
        return results / "baselines" / "sasrec" / "metrics.json"
    return None


def peak_gpu_memory(results: Path, job: str) -> str:
    """``peak_gpu_memory_mb`` from the job's JSON output, else ``n/a``."""
    path = job_json(results, job)
    if path is None or not path.is_file():
        return NA
    try:
        value = _read_json(path).get(GPU_MEMORY_KEY)
    except (ValueError, AttributeError):
        return NA
    return fmt_float(value, 1)


def runtime_section(results: Path) -> str:
    bench = results / "benchmarks"
    if not bench.is_dir():
        return _missing(bench)
    table = collect_benchmarks(bench)
    shared = results.parent / "models" / "benchmarks"  # the backbone conversion, shared
    if shared.is_dir():
        extra = collect_benchmarks(shared)
        extra["job"] = "models/" + extra["job"]
        extra["stage"] = "models"
        table = pd.concat([extra, table], ignore_index=True) if not table.empty else extra
    if table.empty:
        return f"_No benchmark files under `{bench}`._"
    rank = {s: i for i, s in enumerate(JOB_STAGE_ORDER)}
    table = table.assign(_o=table["stage"].map(lambda s: rank.get(s, len(rank))))
    table = table.sort_values(["_o", "job"], kind="stable")
    rows = []
    for r in table.to_dict("records"):
        rule, wild = split_job(r["job"])
        rows.append(
            [
                r["stage"] or "-",
                rule,
                wild or "-",
                fmt_float(r["s"], 1),
                fmt_float(r["cpu_time"], 1),
                fmt_float(r["max_rss"], 1),
                peak_gpu_memory(results, r["job"]),
            ]
        )
    header = ["stage", "rule", "wildcards", "wall time (s)", "CPU time (s)"]
    header += ["peak RSS (MB)", "peak GPU memory (MB)"]
    total = float(table["s"].sum())
    return (
        f"From the Snakemake benchmark files under `{bench}` (mean over repeats; RSS as "
        f"measured by Snakemake; GPU memory from `{GPU_MEMORY_KEY}` in the job's JSON "
        f"output, `{NA}` where the job does not record it).\n\n"
        + md_table(header, rows, "lllrrrr")
        + f"\n\nSum of job wall times: {total:,.1f} s ({total / 3600:.2f} h); jobs that ran "
        "in parallel overlap, so the run itself may have been shorter."
    )


# ------------------------------------------------------------------ (c) decode speed
def decode_section(path: Path) -> str:
    """Throughput of our trie decoder vs the upstream-style reference (benchmarks/decode.py)."""
    if not path.is_file():
        raise FileNotFoundError(f"decode benchmark JSON not found: {path}")
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise ValueError(
            f"{path}: expected benchmarks/decode.py --json-out output ('results' list)"
        )
    meta = data.get("meta", {})
    facts = [f"{k}: {meta[k]}" for k in DECODE_META_KEYS if k in meta]
    rows = []
    has_generate_path = any("ours_generate_prompts_per_s" in r for r in data["results"])
    for r in data["results"]:
        row = [
            fmt_int(r.get("batch_size")),
            fmt_int(r.get("beams")),
            fmt_float(r.get("ours_prompts_per_s"), 2),
        ]
        if has_generate_path:
            row.append(fmt_float(r.get("ours_generate_prompts_per_s"), 2))
        row += [
            fmt_float(r.get("reference_prompts_per_s"), 2),
            fmt_float(r.get("floor_prompts_per_s"), 2),
            fmt_float(r.get("ours_vs_reference"), 2) + "x",
            fmt_float(r.get("ours_vs_floor"), 2) + "x",
            fmt_float(r.get("processor_ms_per_sid_ours"), 1)
            + " / "
            + fmt_float(r.get("processor_ms_per_sid_reference"), 1),
            f"{fmt_int(r.get('rows_identical'))}/{fmt_int(r.get('batch_size'))}",
        ]
        if has_generate_path:
            row.append(
                " / ".join(
                    fmt_float(r.get(f"peak_mb_{k}"), 0)
                    for k in ("ours", "ours_generate", "reference", "floor")
                )
            )
        rows.append(row)
    header = ["batch", "beams", "ours (prompts/s)"]
    if has_generate_path:
        header.append("ours via generate (prompts/s)")
    header += ["upstream-style (prompts/s)", "unconstrained (prompts/s)"]
    header += ["speed-up vs upstream-style", "ours vs unconstrained"]
    header += ["processor ms per SID (ours / upstream-style)", "same SIDs"]
    if has_generate_path:
        header.append("peak GPU MiB (ours / via generate / upstream-style / unconstrained)")
    return (
        f"From `{path}` (`benchmarks/decode.py --json-out`): constrained beam search with "
        "genrec's tensor trie against a re-implementation of upstream MiniOneRec's "
        "per-row Python processor, and unconstrained beam search as the floor. "
        + (
            "`ours` is the prefill-once decoder (`genrec.decode.prefill`, the default), "
            "`ours via generate` the same trie through Hugging Face's `generate`. "
            if has_generate_path
            else ""
        )
        + "Speed-up = reference time / our time; ours vs unconstrained = unconstrained "
        "time / our time (1.00x: the constraint costs nothing).\n\n"
        + (f"Setup: {'; '.join(facts)}.\n\n" if facts else "")
        + md_table(header, rows, "rr" + "r" * (len(header) - 2))
    )


def _bench_json(path: Path, key: str, producer: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"benchmark JSON not found: {path}")
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f"{path}: expected {producer} output (a '{key}' list)")
    return data


def _notes(data: Mapping) -> str:
    notes = data.get("notes") or []
    return "".join(f"\n\nNote: {n}" for n in notes)


def sft_throughput_section(path: Path) -> str:
    """SFT samples/s per batch order and LM-head span (benchmarks/sft_throughput.py)."""
    data = _bench_json(path, "rows", "benchmarks/sft_throughput.py --out")
    header = [
        "variant", "steps timed", "samples/s", "x grouped", "real tokens/s",
        "padded positions", "LM-head positions", "GPU busy", "peak GPU MiB",
        "train loss (epoch)", "valid loss (epoch)",
    ]  # fmt: skip
    rows = []
    for r in data["rows"]:
        if "error" in r:
            continue
        rows.append(
            [
                r["variant"] + (" (one epoch)" if "epoch_valid_loss" in r else " (first steps)"),
                fmt_int(r.get("steps_timed")),
                fmt_float(r.get("samples_per_s"), 1),
                fmt_float(r.get("samples_per_s_vs_grouped"), 2) + "x",
                fmt_int(r.get("real_tokens_per_s")),
                fmt_float(r.get("padded_share"), 3),
                fmt_float(r.get("head_positions_share"), 3),
                fmt_float(r.get("profile_gpu_busy_share"), 2),
                fmt_int(r.get("peak_gpu_mb")),
                fmt_float(r.get("epoch_train_loss")),
                fmt_float(r.get("epoch_valid_loss")),
            ]
        )
    setup = (
        f"{data.get('device', NA)}, torch {data.get('torch', NA)}, batch "
        f"{data.get('batch_size', NA)}, cutoff_len {data.get('cutoff_len', NA)}, backbone "
        f"`{data.get('base_model', NA)}`"
    )
    return (
        f"From `{path}` (`benchmarks/sft_throughput.py`): the workflow's SFT code on the "
        "SFT datasets of this run, with the batch order (`padded`: random; `grouped`: "
        "transformers' length-grouped sampler, used since the first SFT version) and the "
        "LM-head span (full logits, or `+response`: logits only from the first response "
        "position on, `genrec.sft.loss`, the default now). First-steps rows time steps "
        "10-60 (the length-grouped sampler puts the longest batches first); epoch rows "
        "one whole epoch from the same initial model and seed. Padded / LM-head "
        "positions: shares of the batch's padded positions; GPU busy: CUDA kernel time / "
        "wall time over 5 profiled steps (below 1: the host is the bottleneck)."
        f"\n\nSetup: {setup}.\n\n" + md_table(header, rows, "l" + "r" * 10) + _notes(data)
    )


def eval_decoders_section(path: Path) -> str:
    """evaluate_generative wall time per decoder on one model (benchmarks/eval_decoders.py)."""
    data = _bench_json(path, "rows", "benchmarks/eval_decoders.py --out")
    rows = [
        [
            r["decoder"],
            fmt_int(r.get("n")),
            fmt_int(r.get("num_beams")),
            fmt_float(r.get("wall_s"), 1),
            fmt_float(r.get("HR@10")),
            fmt_float(r.get("NDCG@10")),
            fmt_int(r.get("invalid")),
            fmt_int(r.get("peak_gpu_memory_mb")),
        ]
        for r in data["rows"]
    ]
    header = ["decoder", "prompts", "beams", "wall time (s)", "HR@10", "NDCG@10", "invalid"]
    header.append("peak GPU MiB")
    facts = []
    if "speedup" in data:
        facts.append(f"speed-up {fmt_float(data['speedup'], 2)}x")
    if "ranked_lists_differing" in data:
        facts.append(f"ranked lists that differ: {data['ranked_lists_differing']}")
    return (
        f"From `{path}` (`benchmarks/eval_decoders.py`): `genrec.eval.generative.evaluate` "
        f"(what the `evaluate_generative` rule runs, model load included) on "
        f"`{data.get('model', NA)}`, {data.get('split', NA)} split, once per "
        "`eval.decoder`: `generate` (every beam prefills the prompt through Hugging Face's "
        "`generate`) and `prefill` (the prompt once, its KV cache copied to the beams; the "
        "default)."
        + (f" {'; '.join(facts)}." if facts else "")
        + "\n\n"
        + md_table(header, rows, "l" + "r" * 7)
        + _notes(data)
    )


# ------------------------------------------------------------------ (d) environment
def gather_environment() -> dict:
    """Versions and hardware of the machine running this function."""
    from importlib import metadata

    env = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ENV_PACKAGES:
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[pkg] = "not installed"
    env["cpu_count"] = os.cpu_count()
    try:
        import torch

        if torch.cuda.is_available():
            env["cuda_device"] = torch.cuda.get_device_name(0)
            env["cuda_device_count"] = torch.cuda.device_count()
            env["cuda"] = torch.version.cuda
        else:
            env["cuda_device"] = "none (CPU only)"
    except ImportError:
        env["cuda_device"] = "unknown (torch not importable)"
    return env


def environment_section(env: Mapping, source: str) -> str:
    rows = [
        [k, json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v]
        for k, v in env.items()
    ]
    return f"{source}\n\n" + md_table(["item", "value"], rows)


# ------------------------------------------------------------------ (e) data / SIDs
def data_section(stats_path: Path) -> str:
    if not stats_path.is_file():
        return _missing(stats_path)
    stats = _read_json(stats_path)
    final, split = stats.get("final", {}), stats.get("split", {})
    summary = [
        ["users", fmt_int(final.get("users"))],
        ["items", fmt_int(final.get("items"))],
        ["interactions", fmt_int(final.get("interactions"))],
        ["density", fmt_float(final.get("density"), 5)],
        ["mean sequence length", fmt_float(final.get("mean_sequence_length"), 2)],
        ["split method", split.get("method", NA)],
        ["train / valid / test samples"]
        + [" / ".join(fmt_int(split.get(s)) for s in ("train", "valid", "test"))],
        ["max history", fmt_int(stats.get("max_history"))],
        ["raw format", stats.get("format", NA)],
    ]
    steps = [
        [
            s.get("step", "?"),
            fmt_int(s.get("users")),
            fmt_int(s.get("items")),
            fmt_int(s.get("interactions")),
        ]
        for s in stats.get("steps", [])
    ]
    out = f"From `{stats_path}`.\n\n" + md_table(["", "value"], summary, "lr")
    if steps:
        out += "\n\nFiltering steps:\n\n" + md_table(
            ["step", "users", "items", "interactions"], steps, "lrrr"
        )
    return out


def sid_section(results: Path, methods: Sequence[str]) -> str:
    header = ["SID method", "codebooks", "collision rate (before resolution)"]
    header += ["unique SID ratio", "items moved", "items with an extra level"]
    header += ["max SID length", "reconstruction MSE"]
    rows, missing = [], []
    for m in methods:
        path = results / "sid" / m / "sid_stats.json"
        if not path.is_file():
            missing.append(str(path))
            rows.append([m] + [NA] * (len(header) - 1))
            continue
        s = _read_json(path)
        sizes = s.get("codebook_sizes")
        rows.append(
            [
                m,
                " x ".join(map(str, sizes)) if sizes else NA,
                fmt_float(s.get("collision_rate_before")),
                fmt_float(s.get("unique_sid_ratio")),
                fmt_int(s.get("n_reassigned")),
                fmt_int(s.get("n_extra_level")),
                fmt_int(s.get("max_sid_length")),
                fmt_float(s.get("reconstruction_mse"), 6),
            ]
        )
    if not rows:
        return "_No SID methods in the metrics table._"
    out = (
        f"From `{results / 'sid'}/<method>/sid_stats.json`. Collision rate = 1 - distinct "
        "code tuples / items, before collision resolution; unique SID ratio = the same "
        "after it (1.0: every item has its own SID).\n\n"
        + md_table(header, rows, "ll" + "r" * (len(header) - 2))
    )
    if missing:
        out += "\n\nNot found: " + ", ".join(f"`{p}`" for p in missing) + "."
    return out


# ------------------------------------------------------------------ page
def render_page(
    results_dir: str | Path,
    dataset: str,
    decode_bench: str | Path | None = None,
    environment: Mapping | None = None,
    environment_source: str | None = None,
    title: str | None = None,
    gather: Callable[[], dict] = gather_environment,
    now: _dt.datetime | None = None,
    sft_bench: str | Path | None = None,
    eval_bench: str | Path | None = None,
) -> str:
    """The whole page as a string (reads files only; writes nothing).

    ``environment`` is a recorded environment (``environment_source`` says where it
    came from); without it ``gather()`` describes the current machine.
    """
    results = Path(results_dir) / dataset
    table = load_metrics(results / "metrics.csv")
    methods = list(dict.fromkeys(m for m in map(_sid, table["sid_method"]) if m))
    if environment is None:
        stamp = (now or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
        environment = gather()
        environment_source = (
            f"Gathered when this page was generated ({stamp}), on the machine that ran "
            "`genrec.report.results`; the workflow does not record its own environment, "
            "so this may differ from the machine that produced the results."
        )
    sections = [
        f"# {title or f'Results: {dataset}'}",
        f"Generated by `python -m genrec.report.results` from `{results}`; every number "
        "below is read from the files named in its section.",
        "## Recommendation quality",
        quality_section(table),
        "## Against SASRec",
        versus_sasrec_section(table),
        "## SFT and SFT+RL on the valid and the test split",
        valid_section(results, methods),
        "## Training",
        training_section(results, methods),
        "## Pretrained backbone",
        backbone_section(Path(results_dir)),
        "## Data set",
        data_section(results / "data" / "stats.json"),
        "## Semantic IDs",
        sid_section(results, methods),
        "## Run time and memory per job",
        runtime_section(results),
    ]
    if decode_bench is not None:
        sections += ["## Constrained decoding speed", decode_section(Path(decode_bench))]
    if eval_bench is not None:
        sections += ["## Evaluation time per decoder", eval_decoders_section(Path(eval_bench))]
    if sft_bench is not None:
        sections += ["## SFT throughput", sft_throughput_section(Path(sft_bench))]
    sections += [
        "## Software and hardware",
        environment_section(environment, environment_source or "Recorded environment."),
    ]
    return "\n\n".join(sections) + "\n"


def write_page(text: str, out: str | Path) -> Path:
    """Write ``text`` to ``out`` atomically (temporary sibling, then rename)."""
    out = Path(out)
    with atomic_path(out) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return out


def write_results_page(
    results_dir: str | Path,
    dataset: str,
    out: str | Path,
    decode_bench: str | Path | None = None,
    environment_json: str | Path | None = None,
    title: str | None = None,
    gather: Callable[[], dict] = gather_environment,
    sft_bench: str | Path | None = None,
    eval_bench: str | Path | None = None,
) -> Path:
    """Render the page and write it to ``out``; on any error ``out`` is left untouched."""
    env = source = None
    if environment_json is not None:
        path = Path(environment_json)
        if not path.is_file():
            raise FileNotFoundError(f"environment JSON not found: {path}")
        env = _read_json(path)
        if not isinstance(env, dict):
            raise ValueError(f"{path}: expected a JSON object")
        source = f"Recorded by the run, from `{path}`."
    text = render_page(
        results_dir, dataset, decode_bench, env, source, title, gather,
        sft_bench=sft_bench, eval_bench=eval_bench,
    )  # fmt: skip
    return write_page(text, out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m genrec.report.results",
        description="Write a Markdown results page from a run's result files.",
    )
    p.add_argument("--results-dir", default="results", help="the workflow's results/ directory")
    p.add_argument("--dataset", required=True, help="dataset name (results/<dataset>/)")
    p.add_argument("--out", required=True, help="Markdown file to write, e.g. docs/results.md")
    p.add_argument("--decode-bench", default=None, help="JSON from benchmarks/decode.py --json-out")
    p.add_argument("--sft-bench", default=None, help="JSON from benchmarks/sft_throughput.py")
    p.add_argument("--eval-bench", default=None, help="JSON from benchmarks/eval_decoders.py")
    p.add_argument(
        "--environment",
        default=None,
        help="JSON object with the run's versions/hardware (default: gather them now)",
    )
    p.add_argument("--title", default=None, help="page title (default: 'Results: <dataset>')")
    args = p.parse_args(argv)
    try:
        out = write_results_page(
            args.results_dir,
            args.dataset,
            args.out,
            decode_bench=args.decode_bench,
            environment_json=args.environment,
            title=args.title,
            sft_bench=args.sft_bench,
            eval_bench=args.eval_bench,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
