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
  ``sft/<method>/loss.json`` and ``rl/<method>/history.json``;
* the converted pretrained backbone, from ``{results}/models/*/genrec_base_model.json``;
* run time and memory per job, from the Snakemake ``benchmark:`` TSVs under
  ``{results}/{dataset}/benchmarks/`` and ``{results}/models/benchmarks/`` (``s``,
  ``cpu_time``, ``max_rss`` in MB), each attributed to its rule and wildcards through
  ``{results}/{dataset}/manifest.json`` (the rules' benchmark and JSON output patterns,
  written by the workflow: ``genrec.report.results.manifest``). Peak GPU memory is
  ``peak_gpu_memory_mb`` from the job's JSON outputs (embed, SID build, SFT, RL,
  evaluation and SASRec record it on a GPU; ``n/a`` for CPU runs and jobs without it);
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

Modules: ``markdown`` (number formatting, tables), ``quality`` (quality, vs SASRec, valid
split), ``training`` (training facts, backbone), ``jobs`` (run time and memory per job),
``manifest`` (the workflow manifest), ``benchmarks`` (decode, evaluation decoders, SFT
throughput), ``data`` (data set, SIDs), ``environment`` and ``page`` (render, write, CLI).
"""

from genrec.report.results.benchmarks import (
    DECODE_META_KEYS,
    decode_section,
    eval_decoders_section,
    sft_throughput_section,
)
from genrec.report.results.data import data_section, sid_section
from genrec.report.results.environment import (
    ENV_PACKAGES,
    environment_section,
    gather_environment,
)
from genrec.report.results.jobs import (
    GPU_MEMORY_KEY,
    JOB_STAGE_ORDER,
    peak_gpu_memory,
    runtime_section,
)
from genrec.report.results.manifest import (
    MANIFEST,
    json_outputs,
    match_benchmark,
    read_manifest,
    write_manifest,
)
from genrec.report.results.markdown import NA, fmt_float, fmt_int, md_table
from genrec.report.results.page import main, render_page, write_page, write_results_page
from genrec.report.results.quality import (
    BASELINE_ORDER,
    MODEL_NAMES,
    STAGE_ORDER,
    TARGET_RATIO,
    load_metrics,
    metric_ks,
    ordered_rows,
    quality_section,
    valid_section,
    versus_sasrec_section,
)
from genrec.report.results.training import backbone_section, training_section

__all__ = [
    "BASELINE_ORDER",
    "DECODE_META_KEYS",
    "ENV_PACKAGES",
    "GPU_MEMORY_KEY",
    "JOB_STAGE_ORDER",
    "MANIFEST",
    "MODEL_NAMES",
    "NA",
    "STAGE_ORDER",
    "TARGET_RATIO",
    "backbone_section",
    "data_section",
    "decode_section",
    "environment_section",
    "eval_decoders_section",
    "fmt_float",
    "fmt_int",
    "gather_environment",
    "json_outputs",
    "load_metrics",
    "main",
    "match_benchmark",
    "md_table",
    "metric_ks",
    "ordered_rows",
    "peak_gpu_memory",
    "quality_section",
    "read_manifest",
    "render_page",
    "runtime_section",
    "sft_throughput_section",
    "sid_section",
    "training_section",
    "valid_section",
    "versus_sasrec_section",
    "write_manifest",
    "write_page",
    "write_results_page",
]
