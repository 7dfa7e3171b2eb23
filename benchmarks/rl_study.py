"""GRPO settings study: train RL variants from one SFT model, score each on valid and test.

Each variant is the config's ``rl`` section with a few keys overridden; it trains
with :func:`genrec.rl.train.train_grpo` (the workflow's own code) from the SFT
model of a finished workflow run, then :func:`genrec.eval.generative.evaluate`
scores it on the valid and test splits with the config's ``eval`` settings.
Several variants may run at once on one GPU (separate processes)::

    python benchmarks/rl_study.py run --config config/amazon18-industrial.yaml \\
        --dataset amazon18-industrial --method rqvae --name lr3e-6 \\
        --set learning_rate=3e-6 --out results/rl_study
    python benchmarks/rl_study.py table --out results/rl_study --sft results/amazon18-industrial \\
        --method rqvae --markdown docs/rl_study.md

``table`` writes a Markdown table from the variants' ``study.json`` files (and
the SFT rows from the workflow's evaluation outputs, if present).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from genrec.config import validate_config
from genrec.io import atomic_path, write_json

KS = (10,)


def _value(text: str):
    return yaml.safe_load(text)


def _set(params: dict, assignment: str) -> None:
    key, _, text = assignment.partition("=")
    node = params
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    if leaf not in node:
        raise KeyError(f"--set {key}: rl has no key {leaf!r}")
    node[leaf] = _value(text)


def run(ns: argparse.Namespace) -> None:
    from genrec.eval.generative import evaluate
    from genrec.eval.params import EvalParams
    from genrec.logging import setup_logging
    from genrec.rl.params import RlParams
    from genrec.rl.train import train_grpo

    config = yaml.safe_load(Path(ns.config).read_text())
    validate_config(config, Path(__file__).resolve().parents[1] / "config" / "schema.yaml")
    params = dict(config["rl"])
    for assignment in ns.set or []:
        _set(params, assignment)
    res = Path("results") / ns.dataset
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
    metrics = {}
    for split in ("valid", "test"):
        metrics[split] = evaluate(
            out / "model",
            res / "sid" / ns.method / "sids.parquet",
            res / "data" / f"{split}.parquet",
            out / f"{split}_predictions.parquet",
            out / f"{split}_metrics.json",
            EvalParams.from_config(config, split),
            stage="rl",
            sid_method=ns.method,
            split=split,
            num_gpus=ns.gpus,
        )
    log = json.loads((out / "history.json").read_text())
    write_json(
        {
            "name": ns.name,
            "overrides": ns.set or [],
            "rl": params,
            "train_s": round(train_s, 1),
            "global_step": log["global_step"],
            "invalid_completions": log["invalid_completions"],
            "metrics": metrics,
        },
        out / "study.json",
    )


def _row(name: str, overrides: str, steps, train_s, valid: dict, test: dict) -> list[str]:
    def f(d, key):
        return "n/a" if not d or key not in d else f"{d[key]:.4f}"

    return [
        name,
        overrides,
        str(steps),
        train_s,
        f(valid, "HR@10"),
        f(valid, "NDCG@10"),
        f(test, "HR@10"),
        f(test, "NDCG@10"),
    ]


def table(ns: argparse.Namespace) -> None:
    header = ["variant", "overrides of `rl`", "steps", "train (s)"]
    header += ["valid HR@10", "valid NDCG@10", "test HR@10", "test NDCG@10"]
    rows = []
    sft = Path(ns.sft) / "eval" / ns.method / "sft"
    if (sft / "metrics.json").is_file():
        valid = json.loads((sft / "valid" / "metrics.json").read_text())
        test = json.loads((sft / "metrics.json").read_text())
        rows.append(_row("SFT (no RL)", "-", "-", "-", valid, test))
    for path in sorted(Path(ns.out).glob("*/study.json")):
        s = json.loads(path.read_text())
        rows.append(
            _row(
                s["name"],
                ", ".join(f"`{o}`" for o in s["overrides"]) or "(config as is)",
                s["global_step"],
                f"{s['train_s']:.0f}",
                s["metrics"]["valid"],
                s["metrics"]["test"],
            )
        )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    if ns.markdown:
        with atomic_path(ns.markdown) as tmp:
            tmp.write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train and score one variant")
    r.add_argument("--config", required=True)
    r.add_argument("--dataset", required=True)
    r.add_argument("--method", required=True)
    r.add_argument("--name", required=True)
    r.add_argument("--set", action="append", help="rl key=value (dots for nested keys)")
    r.add_argument("--out", default="results/rl_study")
    r.add_argument("--gpus", type=int, default=1)
    t = sub.add_parser("table", help="Markdown table of the finished variants")
    t.add_argument("--out", default="results/rl_study")
    t.add_argument("--sft", required=True, help="results/<dataset> of the workflow run")
    t.add_argument("--method", required=True)
    t.add_argument("--markdown", default=None)
    ns = parser.parse_args()
    run(ns) if ns.cmd == "run" else table(ns)


if __name__ == "__main__":
    main()
