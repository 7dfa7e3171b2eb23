"""Benchmark sections, each from the JSON a script under ``benchmarks/`` writes:
constrained decoding speed (``decode.py --json-out``), evaluation time per decoder
(``eval_decoders.py``), SFT throughput (``sft_throughput.py``) and GRPO training
throughput (``rl_throughput.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from genrec.report.results.markdown import NA, as_number, fmt_float, fmt_int, md_table, read_json

DECODE_META_KEYS = "model_shape device dtype n_items levels codes torch threads".split()


def decode_section(path: Path) -> str:
    """Throughput of our trie decoder vs the upstream-style reference (benchmarks/decode.py)."""
    if not path.is_file():
        raise FileNotFoundError(f"decode benchmark JSON not found: {path}")
    data = read_json(path)
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
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f"{path}: expected {producer} output (a '{key}' list)")
    return data


def _notes(data: Mapping) -> str:
    notes = data.get("notes") or []
    return "".join(f"\n\nNote: {n}" for n in notes)


def sft_throughput_section(path: Path, explain: bool = True) -> str:
    """SFT samples/s per batch order and LM-head span (benchmarks/sft_throughput.py);
    ``explain=False`` leaves out the explanation of the columns (a later file)."""
    data = _bench_json(path, "rows", "benchmarks/sft_throughput.py --out")
    header = [
        "variant", "steps timed", "samples/s", "x ref", "real tokens/s",
        "padded positions", "LM-head positions", "GPU busy", "peak GPU MiB",
        "train loss (epoch)", "valid loss (epoch)",
    ]  # fmt: skip
    rows = []
    done = [r for r in data["rows"] if "error" not in r]
    for r in done:
        same = [o for o in done if ("epoch_valid_loss" in o) == ("epoch_valid_loss" in r)]
        ref = next((o for o in same if o["variant"] == "grouped"), same[0])
        num, den = as_number(r.get("samples_per_s")), as_number(ref.get("samples_per_s"))
        ratio = num / den if num is not None and den else None
        rows.append(
            [
                r["variant"] + (" (one epoch)" if "epoch_valid_loss" in r else " (first steps)"),
                fmt_int(r.get("steps_timed")),
                fmt_float(r.get("samples_per_s"), 1),
                fmt_float(ratio, 2) + "x" + (" (ref)" if r is ref else ""),
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
    if not explain:
        return (
            f"From `{path}` (same benchmark and columns).\n\nSetup: {setup}.\n\n"
            + md_table(header, rows, "l" + "r" * 10)
            + _notes(data)
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
        "wall time over 5 profiled steps (below 1: the host is the bottleneck). x ref: "
        "samples/s over the `grouped` row of the same kind (first steps / epoch) of this "
        "file, or its first row of that kind when it has no `grouped` row; `+fused`: the "
        "fused AdamW step (`adamw_torch_fused`), `+workers`: collation in DataLoader "
        "worker processes (2 in sft_fused_h200.json, 4 later; `sft.dataloader_workers`), "
        "`+nocache`: sft_compile_h200.json's name for the fused path without the KV cache "
        "its `+fused` row forced, "
        "`+compiled-layers`: `torch.compile` of each decoder layer (`sft.compile`), "
        "`+vocab64`: embedding rows padded to a multiple of 64 (`lm.vocab_multiple_of`), "
        "`+pad16` / `+pad64`: batch widths rounded up to a multiple of 16 / 64 "
        "(`sft.pad_to_multiple_of`), `+cudagraphs`: the compiled layers replayed as CUDA "
        "graphs (`sft.cuda_graphs`)."
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


def _yes_no(value) -> str:
    return NA if value is None else ("yes" if value else "no")


def rl_throughput_section(path: Path) -> str:
    """GRPO prompts/s per variant and the speed-up (benchmarks/rl_throughput.py)."""
    data = _bench_json(path, "rows", "benchmarks/rl_throughput.py --json-out")
    header = [
        "variant", "prompts / step", "completions / micro-step", "micro-steps",
        "length-grouped", "shared prompt pass", "gradient checkpointing", "prompts",
        "steps timed", "prompts/s", "peak GPU MiB", "invalid completions",
    ]  # fmt: skip
    rows = []
    for r in data["rows"]:
        mix = r.get("prompt_mix") or {}
        rows.append(
            [
                r.get("variant", NA),
                fmt_int(r.get("prompts_per_step")),
                fmt_int(r.get("completions_per_micro_step")),
                fmt_int(r.get("gradient_accumulation_steps")),
                _yes_no(r.get("group_by_length")),
                _yes_no(r.get("shared_prompt_scoring")),
                _yes_no(r.get("gradient_checkpointing")),
                ", ".join(f"{k} {fmt_int(v)}" for k, v in mix.items() if v) or NA,
                fmt_int(r.get("steps_timed")),
                fmt_float(r.get("prompts_per_s"), 2),
                fmt_int(r.get("peak_gpu_memory_mb")),
                fmt_int(r.get("invalid_completions")),
            ]
        )
    speedup = as_number(data.get("speedup"))
    facts = [
        f"{data.get('device', NA)}, torch {data.get('torch', NA)}, transformers "
        f"{data.get('transformers', NA)}, trl {data.get('trl', NA)}",
        f"policy: {data.get('policy', NA)}",
        f"{fmt_int(data.get('prompts_per_variant'))} prompts per variant, timed after "
        f"{fmt_int(data.get('warmup_steps'))} warm-up steps",
    ]
    return (
        f"From `{path}` (`benchmarks/rl_throughput.py`): GRPO training through the "
        "workflow's `train_grpo` (trl's GRPOTrainer, trie-constrained beam rollouts, the "
        "same rewards), once with the `rl` settings of ddeec84 and once with the config's, "
        "on the same prompts (the `config-mix` row, where present: the config's own "
        "prompt mixture). prompts/s from the end of the warm-up to the last optimizer step."
        f"\n\nSetup: {'; '.join(facts)}.\n\n"
        + md_table(header, rows, "l" + "r" * 11)
        + "\n\nSpeed-up (config / ddeec84 prompts/s, same prompts): "
        + (f"**{fmt_float(speedup, 2)}x**." if speedup is not None else f"{NA}.")
        + _notes(data)
    )
