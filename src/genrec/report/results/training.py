"""Training sections: SFT and RL run facts (``loss.json``, ``history.json``) and the
converted pretrained backbone (``models/*/genrec_base_model.json``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from genrec.report.results.markdown import NA, as_number, fmt_float, fmt_int, md_table, read_json


def backbone_section(results_dir: Path) -> str:
    """Converted pretrained backbones (``models/<name>/genrec_base_model.json``)."""
    metas = sorted(Path(results_dir).glob("models/*/genrec_base_model.json"))
    if not metas:
        return "_No pretrained backbone under `models/` (the LM was trained from scratch)._"
    rows = []
    for path in metas:
        d = read_json(path)
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
            d = read_json(sft)
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
        rl = results / "rl" / m / "history.json"
        if rl.is_file():
            d = read_json(rl)
            norms = [as_number(g) for g in _grad_norms(d.get("log_history", []))]
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
    return "From `sft/<method>/loss.json` and `rl/<method>/history.json`.\n\n" + md_table(
        header, rows, "llrrl"
    )
