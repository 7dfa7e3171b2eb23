"""Wall time of ``evaluate_generative`` with each decoder on one trained model.

Runs :func:`genrec.eval.generative.evaluate` (the workflow's evaluation) on the
same model and split with ``eval.decoder: generate`` (every beam prefills its
prompt through ``model.generate``) and ``eval.decoder: prefill`` (prompt once,
KV cache copied to the beams), and reports the wall time of each, the ratio,
the metrics and how many ranked lists differ (ties may swap)::

    python benchmarks/eval_decoders.py --config config/amazon18-industrial.yaml \\
        --results results/amazon18-industrial --method rqvae --stage sft \\
        --split test --gpus 1 --out eval_decoders.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from genrec.config import validate_config


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--results", type=Path, required=True, help="results/<dataset>")
    parser.add_argument("--method", default="rqvae")
    parser.add_argument("--stage", default="sft", choices=["sft", "rl"])
    parser.add_argument("--split", default="test", choices=["valid", "test"])
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--decoders", nargs="+", default=["generate", "prefill"])
    parser.add_argument("--out", type=Path, default=None)
    ns = parser.parse_args(argv)
    from genrec.eval.generative import evaluate
    from genrec.eval.params import EvalParams
    from genrec.logging import setup_logging

    setup_logging(None)
    config = yaml.safe_load(Path(ns.config).read_text())
    validate_config(config, Path(__file__).resolve().parents[1] / "config" / "schema.yaml")
    res = ns.results
    model = res / ns.stage / ns.method / "model"
    sids = res / "sid" / ns.method / "sids.parquet"
    samples = res / "data" / f"{ns.split}.parquet"
    rows, preds = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for decoder in ns.decoders:
            params = EvalParams.from_config(config, ns.split).replace(decoder=decoder)
            out_p, out_m = Path(tmp) / f"{decoder}.parquet", Path(tmp) / f"{decoder}.json"
            start = time.perf_counter()
            metrics = evaluate(
                model, sids, samples, out_p, out_m, params, ns.stage, ns.method, ns.split, ns.gpus
            )
            wall = time.perf_counter() - start
            preds[decoder] = pd.read_parquet(out_p)["predictions"].map(list).tolist()
            rows.append(
                {
                    "decoder": decoder,
                    "wall_s": round(wall, 1),
                    "n": metrics["n"],
                    "num_beams": metrics["num_beams"],
                    "invalid": metrics["invalid"],
                    "HR@10": metrics.get("HR@10"),
                    "NDCG@10": metrics.get("NDCG@10"),
                    "peak_gpu_memory_mb": metrics.get("peak_gpu_memory_mb"),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    result = {"model": str(model), "split": ns.split, "rows": rows}
    if len(rows) == 2:
        a, b = (preds[r["decoder"]] for r in rows)
        result["ranked_lists_differing"] = sum(x != y for x, y in zip(a, b, strict=True))
        result["speedup"] = round(rows[0]["wall_s"] / rows[1]["wall_s"], 2)
    print(json.dumps(result, indent=1))
    if ns.out:
        ns.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
