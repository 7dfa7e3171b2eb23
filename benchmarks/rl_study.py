"""GRPO settings study, chosen on the valid split: RL variants from one SFT model.

Each variant is the config's ``rl`` section with a few keys overridden; it trains with
:func:`genrec.rl.train.train_grpo` (the workflow's own code) from the SFT model of a
finished workflow run and :func:`genrec.eval.generative.evaluate` scores it on the
**valid** split only (the config's ``eval`` settings). Several variants may run at once
on one GPU (separate processes)::

    python benchmarks/rl_study.py run --config config/amazon18-industrial.yaml \\
        --dataset amazon18-industrial --method rqvae --name lr3e-5 \\
        --set learning_rate=3e-5 --set max_steps=100 --out results/rl_study

``table`` compares every variant with the SFT model on valid, sample by sample: the
paired bootstrap interval (:mod:`genrec.eval.bootstrap`, ``report.bootstrap`` of the
config) of SFT+RL - SFT for HR@10 and NDCG@10, against the workflow's own SFT valid
predictions (``eval/<method>/sft/valid/predictions.parquet``). The workflow's RL model
(``eval/<method>/rl/valid``) is the ``config`` row. The chosen row is the one with the
highest valid NDCG@10; only it (and SFT) is then scored on test, once::

    python benchmarks/rl_study.py table --config config/amazon18-industrial.yaml \\
        --results results/amazon18-industrial --method rqvae --out results/rl_study \\
        --test --markdown results/rl_study/table.md

(``--test`` evaluates the chosen study variant on test; when the chosen row is the
workflow's, its test metrics are the workflow's ``eval/<method>/rl/metrics.json``.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from genrec.config import validate_config
from genrec.io import atomic_path, write_json

SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
K = 10


def _load_config(path) -> dict:
    config = yaml.safe_load(Path(path).read_text())
    validate_config(config, SCHEMA)
    return config


def _set(params: dict, assignment: str) -> None:
    key, _, text = assignment.partition("=")
    node = params
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    if leaf not in node:
        raise KeyError(f"--set {key}: rl has no key {leaf!r}")
    node[leaf] = yaml.safe_load(text)


def _evaluate(model, res: Path, method: str, config: dict, split: str, out: Path, gpus: int):
    from genrec.eval.generative import evaluate
    from genrec.eval.params import EvalParams

    sub = out if split == "test" else out / "valid"
    return evaluate(
        model,
        res / "sid" / method / "sids.parquet",
        res / "data" / f"{split}.parquet",
        sub / "predictions.parquet",
        sub / "metrics.json",
        EvalParams.from_config(config, split),
        stage="rl",
        sid_method=method,
        split=split,
        num_gpus=gpus,
    )


def run(ns: argparse.Namespace) -> None:
    from genrec.logging import setup_logging
    from genrec.rl.params import RlParams
    from genrec.rl.train import train_grpo

    config = _load_config(ns.config)
    params = {k: v for k, v in config["rl"].items() if k != "enabled"}
    for assignment in ns.set or []:
        _set(params, assignment)
    res = Path(ns.results or Path("results") / ns.dataset)
    out = Path(ns.out) / ns.name
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(out / "study.log")
    extra = {}
    if params["rewards"].get("semantic"):
        extra["embeddings"] = res / "embed" / "embeddings.npy"
    if params["rewards"].get("cf"):
        extra["sasrec_model"] = res / "baselines" / "sasrec" / "model.pt"
        extra["sasrec_config"] = res / "baselines" / "sasrec" / "sasrec_config.json"
    start = time.perf_counter()
    train_grpo(
        sft_model=res / "sft" / ns.method / "model",
        train=res / "data" / "train.parquet",
        items=res / "data" / "items.parquet",
        sids=res / "sid" / ns.method / "sids.parquet",
        out_model=out / "model",
        out_history=out / "history.json",
        out_curves=out / "rl_curves.png",
        params=RlParams.from_section(params),
        checkpoint_dir=out / "checkpoints",
        num_gpus=ns.gpus,
        sid_method=ns.method,
        **extra,
    )
    train_s = time.perf_counter() - start
    valid = _evaluate(out / "model", res, ns.method, config, "valid", out, ns.gpus)
    log = json.loads((out / "history.json").read_text())
    write_json(
        {
            "name": ns.name,
            "overrides": ns.set or [],
            "rl": params,
            "train_s": round(train_s, 1),
            "global_step": log["global_step"],
            "prompt_counts": log["prompt_counts"],
            "invalid_completions": log["invalid_completions"],
            "valid": valid,
        },
        out / "study.json",
    )


def _trained_prompts(rl: dict, steps) -> int | None:
    """Prompts the run trained on: optimizer steps x prompts per step (one device)."""
    if steps is None:
        return None
    return (
        int(steps)
        * rl["per_device_batch_size"]
        * rl["gradient_accumulation_steps"]
        // rl["num_generations"]
    )


def rows(results: Path, method: str, out: Path, boot, config_rl: dict) -> list[dict]:
    """One row per variant (the workflow's RL model as ``config``), each with its paired
    valid interval against SFT; sorted as found (config first)."""
    from genrec.eval.bootstrap import gains, paired_interval
    from genrec.report.intervals import read_ranks

    sft_dir = results / "eval" / method / "sft" / "valid"
    sft = read_ranks(sft_dir / "predictions.parquet")
    found = []
    workflow = results / "eval" / method / "rl" / "valid"
    if (workflow / "predictions.parquet").is_file():
        history = json.loads((results / "rl" / method / "history.json").read_text())
        history = {**history, "rl": config_rl}
        found.append(("config", "(the config: the workflow's train_rl)", workflow, history))
    for path in sorted(out.glob("*/study.json")):
        s = json.loads(path.read_text())
        overrides = ", ".join(f"`{o}`" for o in s["overrides"]) or "(config as is)"
        found.append((s["name"], overrides, path.parent / "valid", s))
    table = []
    for name, overrides, valid_dir, facts in found:
        ranks = read_ranks(valid_dir / "predictions.parquet")
        if not (ranks["user_id"].equals(sft["user_id"]) and ranks["target"].equals(sft["target"])):
            raise ValueError(f"{valid_dir}: not the samples of {sft_dir}")
        row = {
            "name": name,
            "overrides": overrides,
            "steps": facts.get("global_step"),
            "prompts": _trained_prompts(facts["rl"], facts.get("global_step")),
        }
        for metric in ("HR", "NDCG"):
            a = gains(ranks["rank"].to_numpy(), K, metric)
            b = gains(sft["rank"].to_numpy(), K, metric)
            iv = paired_interval(a, b, "difference", boot.samples, boot.seed, boot.level)
            row[f"{metric}@{K}"] = float(a.mean())
            row[f"{metric}@{K}_delta"] = iv
        table.append(row)
    sft_row = {"name": "SFT (no RL)", "overrides": "-", "steps": None, "prompts": None}
    for metric in ("HR", "NDCG"):
        sft_row[f"{metric}@{K}"] = float(gains(sft["rank"].to_numpy(), K, metric).mean())
    return [sft_row, *table]


def _fmt_delta(iv) -> str:
    mark = " *" if iv.excludes(0.0) else ""
    return f"{iv.estimate:+.4f} [{iv.lo:+.4f}, {iv.hi:+.4f}]{mark}"


def table(ns: argparse.Namespace) -> None:
    from genrec.report.params import BootstrapParams
    from genrec.report.results.markdown import md_table

    config = _load_config(ns.config)
    boot = BootstrapParams.from_config(config)
    res, out = Path(ns.results), Path(ns.out)
    found = rows(res, ns.method, out, boot, config["rl"])
    variants = [r for r in found if "HR@10_delta" in r]
    if not variants:
        raise SystemExit(f"no RL variants with valid predictions under {out} or {res}")
    chosen = max(variants, key=lambda r: r[f"NDCG@{K}"])
    test = {}
    sft_test = res / "eval" / ns.method / "sft" / "metrics.json"
    if sft_test.is_file():
        test["SFT (no RL)"] = json.loads(sft_test.read_text())
    if ns.test:
        if chosen["name"] == "config":
            test["config"] = json.loads(
                (res / "eval" / ns.method / "rl" / "metrics.json").read_text()
            )
        else:
            test[chosen["name"]] = _evaluate(
                out / chosen["name"] / "model", res, ns.method, config, "test",
                out / chosen["name"], ns.gpus,
            )  # fmt: skip
    header = ["variant", "overrides of `rl`", "steps", "prompts trained", f"valid HR@{K}"]
    header += [f"valid NDCG@{K}", f"HR@{K} - SFT (valid)", f"NDCG@{K} - SFT (valid)"]
    header += [f"test HR@{K}", f"test NDCG@{K}"]
    body = []
    for r in found:
        t = test.get(r["name"], {})
        name = f"**{r['name']}** (chosen)" if r is chosen else r["name"]
        body.append(
            [
                name,
                r["overrides"],
                "-" if r["steps"] is None else str(r["steps"]),
                "-" if not r["prompts"] else f"{r['prompts']:,}",
                f"{r[f'HR@{K}']:.4f}",
                f"{r[f'NDCG@{K}']:.4f}",
                _fmt_delta(r[f"HR@{K}_delta"]) if f"HR@{K}_delta" in r else "-",
                _fmt_delta(r[f"NDCG@{K}_delta"]) if f"NDCG@{K}_delta" in r else "-",
                f"{t[f'HR@{K}']:.4f}" if t else "not read",
                f"{t[f'NDCG@{K}']:.4f}" if t else "not read",
            ]
        )
    text = md_table(header, body, "llrrrrrrrr") + "\n"
    summary = {
        "chosen": chosen["name"],
        "rows": [
            {k: (v.__dict__ if hasattr(v, "excludes") else v) for k, v in r.items()} for r in found
        ],
        "test": test,
    }
    if ns.markdown:
        with atomic_path(ns.markdown) as tmp:
            tmp.write_text(text)
        write_json(summary, Path(ns.markdown).with_suffix(".json"))
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train one variant and score it on valid")
    r.add_argument("--config", required=True)
    r.add_argument("--dataset", required=True)
    r.add_argument("--results", default=None, help="results/<dataset> (default results/DATASET)")
    r.add_argument("--method", required=True)
    r.add_argument("--name", required=True)
    r.add_argument("--set", action="append", help="rl key=value (dots for nested keys)")
    r.add_argument("--out", default="results/rl_study")
    r.add_argument("--gpus", type=int, default=1)
    t = sub.add_parser("table", help="valid-split table with paired intervals; test for the chosen")
    t.add_argument("--config", required=True)
    t.add_argument("--results", required=True, help="results/<dataset> of the workflow run")
    t.add_argument("--method", required=True)
    t.add_argument("--out", default="results/rl_study")
    t.add_argument("--test", action="store_true", help="score the chosen row on test (once)")
    t.add_argument("--gpus", type=int, default=1)
    t.add_argument("--markdown", default=None)
    ns = parser.parse_args()
    run(ns) if ns.cmd == "run" else table(ns)


if __name__ == "__main__":
    main()
