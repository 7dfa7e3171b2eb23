"""Run time and memory per job: the Snakemake ``benchmark:`` TSVs, each attributed to its
rule and wildcards through the workflow manifest, and the peak GPU memory the job
recorded in its JSON outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from genrec.report.results.manifest import (
    DATASET_WILDCARD,
    MANIFEST,
    json_outputs,
    match_benchmark,
    read_manifest,
)
from genrec.report.results.markdown import NA, as_number, fmt_float, md_table, not_found, read_json
from genrec.report.runtime import collect_benchmarks

JOB_STAGE_ORDER = (
    "data", "embed", "sid", "models", "sft", "baselines", "rl", "evaluate", "report"
)  # fmt: skip
GPU_MEMORY_KEY = "peak_gpu_memory_mb"
UNKNOWN_RULE = "?"


def peak_gpu_memory(paths: Sequence[Path]) -> str:
    """``peak_gpu_memory_mb`` from the first of ``paths`` (a job's JSON outputs) that
    records it, else ``n/a``."""
    for path in paths:
        if not path.is_file():
            continue
        try:
            data = read_json(path)
        except ValueError:
            continue
        if isinstance(data, Mapping) and as_number(data.get(GPU_MEMORY_KEY)) is not None:
            return fmt_float(data[GPU_MEMORY_KEY], 1)
    return NA


def _benchmarks(bench: Path) -> pd.DataFrame:
    """:func:`collect_benchmarks` plus each file's path."""
    table = collect_benchmarks(bench)
    return table.assign(path=[bench / f"{job}.tsv" for job in table["job"]])


def runtime_section(results_dir: Path, dataset: str) -> str:
    """One row per benchmark file of ``dataset`` (and of the shared backbone conversion),
    in pipeline order; rule and wildcards from ``manifest.json``."""
    results_dir = Path(results_dir)
    results = results_dir / dataset
    bench = results / "benchmarks"
    if not bench.is_dir():
        return not_found(bench)
    table = _benchmarks(bench)
    shared = results_dir / "models" / "benchmarks"  # the backbone conversion, shared
    if shared.is_dir():
        extra = _benchmarks(shared)
        extra["job"] = "models/" + extra["job"]
        extra["stage"] = "models"
        table = pd.concat([extra, table], ignore_index=True) if not table.empty else extra
    if table.empty:
        return f"_No benchmark files under `{bench}`._"
    manifest_path = results / MANIFEST
    if not manifest_path.is_file():
        return (
            f"_Not available: `{manifest_path}` not found; it names the rule behind each "
            f"benchmark file (the workflow writes it: `snakemake ... {manifest_path}`)._"
        )
    manifest = read_manifest(manifest_path)
    rank = {s: i for i, s in enumerate(JOB_STAGE_ORDER)}
    table = table.assign(_o=table["stage"].map(lambda s: rank.get(s, len(rank))))
    table = table.sort_values(["_o", "job"], kind="stable")
    rows, unknown = [], []
    for r in table.to_dict("records"):
        hit = match_benchmark(manifest, results_dir, dataset, r["path"])
        if hit is None:
            rule, shown, gpu = UNKNOWN_RULE, "-", NA
            unknown.append(r["path"])
        else:
            rule, wildcards = hit
            shown = ", ".join(v for k, v in wildcards.items() if k != DATASET_WILDCARD) or "-"
            gpu = peak_gpu_memory(json_outputs(manifest, results_dir, rule, wildcards))
        rows.append(
            [
                r["stage"] or "-",
                rule,
                shown,
                fmt_float(r["s"], 1),
                fmt_float(r["cpu_time"], 1),
                fmt_float(r["max_rss"], 1),
                gpu,
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
        + _unknown_note(unknown, manifest_path)
    )


def _unknown_note(paths: Sequence[Path], manifest_path: Path) -> str:
    if not paths:
        return ""
    files = ", ".join(f"`{p}`" for p in paths)
    return (
        f"\n\nRule `{UNKNOWN_RULE}`: no rule in `{manifest_path}` declares {files} as its "
        "benchmark file (left by an older version of the workflow?)."
    )
