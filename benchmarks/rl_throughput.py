"""GRPO training throughput: the RL settings of ddeec84 against the config's, one run.

Both variants train the same SFT model on the same prompts with the workflow's own
code (:func:`genrec.rl.train.train_grpo`: trl's GRPOTrainer, trie-constrained beam
rollouts with G = ``num_generations`` candidates, the same rewards):

  ddeec84     the ``rl`` section of config/amazon18-industrial.yaml at ddeec84: 8 prompts
              per optimizer step (64 completions per micro-step x 2 accumulation steps),
              one rollout call per step, trl's shuffled prompt order
  config      the ``rl`` section of ``--config`` (larger rollout batches and micro-batches,
              length-grouped prompt order, ...), trained on the ddeec84 variant's prompts
  config-mix  (``--mix``) the same, on the config's own prompt mixture

Each variant trains ``--prompts`` prompts (rounded to whole optimizer steps). Its
prompts/s is timed from the end of optimizer step ``--warmup`` to the end of the last
step (wall clock, ``TrainerCallback.on_step_end``), so start-up, compilation and the
final save are outside it; checkpoints are not written during the timed steps (their
cadence differs between the configs; the whole-job time of the workflow run shows it).
``speedup`` = config prompts/s / ddeec84 prompts/s. Peak GPU memory per variant.

Without a trained SFT model at hand, ``--random-policy BACKBONE`` trains a policy of the
backbone's architecture and tokenizer (a converted backbone directory such as
``results/models/smollm2-135m``; only its ``config.json`` and tokenizer files are read)
with seeded random weights and the SID tokens added as SFT adds them
(:func:`genrec.lm.model.build_model_and_tokenizer`, the config's ``lm`` section). Every
GRPO step then does the same work as with the trained model (the same prompts and
token counts, G beam rollouts of a SID's length through the same trie, the same
scoring and backward passes); only the rewards differ. The JSON records which policy
ran (``policy``).

    python benchmarks/rl_throughput.py --config config/amazon18-industrial.yaml \\
        --results results/amazon18-industrial --method rqvae --prompts 960 \\
        --json-out docs/results/rl_throughput_h200.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import yaml
from transformers import TrainerCallback

from genrec.config import validate_config
from genrec.io import write_json
from genrec.report.results.environment import gather_environment

# config/amazon18-industrial.yaml's rl section at ddeec84 (the baseline), on top
# of the config's own rewards / beta / learning rate, which ddeec84 shares
DDEEC84 = {
    "beta": 0.04,
    "learning_rate": 1.0e-5,
    "num_generations": 16,
    "rollout": "beam",
    "per_device_batch_size": 64,
    "gradient_accumulation_steps": 2,
    "group_by_length": False,
    "shared_prompt_scoring": False,  # ddeec84 scored every row in full
    "gradient_checkpointing": True,  # trl's default, which ddeec84 kept
    "sync_ref_model": False,
    "prompts": {"sid_next": 2000, "title_to_sid": 0, "title_history_to_sid": 0},
    "prompt_selection": "recent",
    "rewards": {"rule": 1.0, "ranking": 1.0, "semantic": 0.0, "cf": 0.0},
    "logging_steps": 10,
}


class StepClock(TrainerCallback):
    """Wall-clock time at the end of every optimizer step."""

    def __init__(self):
        self.times: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())


def prompts_per_step(rl: dict) -> int:
    return rl["per_device_batch_size"] * rl["gradient_accumulation_steps"] // rl["num_generations"]


def run_variant(name: str, rl: dict, ns, workdir: Path) -> dict:
    from genrec.rl.params import RlParams
    from genrec.rl.train import train_grpo

    per_step = prompts_per_step(rl)
    steps = max(ns.warmup + 2, round(ns.prompts / per_step))
    rl = {**rl, "max_steps": steps, "save_steps": steps + 1}
    params = RlParams.from_section(rl)
    res = Path(ns.results)
    out = workdir / name
    clock = StepClock()
    extra = {}
    if rl["rewards"].get("semantic"):
        extra["embeddings"] = res / "embed" / "embeddings.npy"
    if rl["rewards"].get("cf"):
        extra["sasrec_model"] = res / "baselines" / "sasrec" / "model.pt"
        extra["sasrec_config"] = res / "baselines" / "sasrec" / "sasrec_config.json"
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    train_grpo(
        sft_model=ns.model or res / "sft" / ns.method / "model",
        train=res / "data" / "train.parquet",
        items=res / "data" / "items.parquet",
        sids=res / "sid" / ns.method / "sids.parquet",
        out_model=out / "model",
        out_history=out / "history.json",
        out_curves=out / "curves.png",
        params=params,
        checkpoint_dir=out / "checkpoints",
        num_gpus=1 if torch.cuda.is_available() else 0,
        sid_method=ns.method,
        callbacks=(clock,),
        **extra,
    )
    history = json.loads((out / "history.json").read_text())
    timed = clock.times[ns.warmup :]
    elapsed = timed[-1] - timed[0]
    n_prompts = (len(timed) - 1) * per_step
    rewards = [h["reward"] for h in history["log_history"] if "reward" in h]
    return {
        "variant": name,
        "prompts_per_step": per_step,
        "completions_per_micro_step": rl["per_device_batch_size"],
        "gradient_accumulation_steps": rl["gradient_accumulation_steps"],
        "group_by_length": rl["group_by_length"],
        "shared_prompt_scoring": rl["shared_prompt_scoring"],
        "gradient_checkpointing": rl["gradient_checkpointing"],
        "prompt_mix": {k: v for k, v in history["prompt_counts"].items()},
        "steps": steps,
        "steps_timed": len(timed) - 1,
        "prompts_timed": n_prompts,
        "timed_s": round(elapsed, 3),
        "prompts_per_s": round(n_prompts / elapsed, 2),
        "warmup_s": round(clock.times[ns.warmup] - clock.times[0], 3)
        if len(clock.times) > ns.warmup
        else None,
        "invalid_completions": history["invalid_completions"],
        "rollout_calls": history["rollout_calls"],
        "mean_reward": round(sum(rewards) / len(rewards), 5) if rewards else None,
        "peak_gpu_memory_mb": history["peak_gpu_memory_mb"],
    }


def random_policy(backbone: Path, sids: Path, config: dict, out: Path, seed: int) -> Path:
    """A policy directory: ``backbone``'s architecture and tokenizer, seeded random
    weights, SID tokens added and embeddings grown as for SFT. Returns its path."""
    import pandas as pd
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from genrec.lm.model import build_model_and_tokenizer
    from genrec.lm.params import LmParams

    torch.manual_seed(seed)
    base = out / "random-backbone"
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(backbone))
    model.save_pretrained(base)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(base)
    lm = LmParams.from_config(config)
    model, tokenizer, _ = build_model_and_tokenizer(
        lm, pd.read_parquet(sids), seed=seed, base_model_dir=base
    )
    policy = out / "random-policy"
    model.save_pretrained(policy)
    tokenizer.save_pretrained(policy)
    return policy


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="config whose rl section is the new variant")
    p.add_argument("--results", required=True, help="results/<dataset> of a workflow run")
    p.add_argument("--method", required=True, help="SID method (sft/<method>/model)")
    p.add_argument("--model", default=None, help="policy to train (default: the run's SFT model)")
    p.add_argument(
        "--random-policy",
        default=None,
        metavar="BACKBONE",
        help="train a seeded random-weight policy of this backbone's architecture instead",
    )
    p.add_argument("--prompts", type=int, default=960, help="prompts per variant")
    p.add_argument("--warmup", type=int, default=2, help="optimizer steps before timing")
    p.add_argument("--mix", action="store_true", help="also time the config's own prompt mix")
    p.add_argument("--json-out", default=None)
    ns = p.parse_args(argv)

    config = yaml.safe_load(Path(ns.config).read_text())
    validate_config(config, Path(__file__).resolve().parents[1] / "config" / "schema.yaml")
    new = {k: v for k, v in config["rl"].items() if k != "enabled"}
    old = {**new, **DDEEC84}
    same_prompts = {**new, "prompts": old["prompts"], "prompt_selection": old["prompt_selection"]}
    variants = [("ddeec84", old), ("config", same_prompts)]
    if ns.mix:
        variants.append(("config-mix", new))
    rows = []
    with tempfile.TemporaryDirectory(prefix="rl_throughput_") as tmp:
        if ns.random_policy:
            sids = Path(ns.results) / "sid" / ns.method / "sids.parquet"
            ns.model = random_policy(Path(ns.random_policy), sids, config, Path(tmp), 0)
        policy = str(ns.model or Path(ns.results) / "sft" / ns.method / "model")
        for name, rl in variants:
            rows.append(run_variant(name, rl, ns, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    env = gather_environment()
    result = {
        "device": env.get("cuda_device"),
        "torch": env.get("torch"),
        "transformers": env.get("transformers"),
        "trl": env.get("trl"),
        "model": policy,
        "policy": (
            f"random weights, architecture and tokenizer of {ns.random_policy}"
            if ns.random_policy
            else "trained"
        ),
        "prompts_per_variant": ns.prompts,
        "warmup_steps": ns.warmup,
        "rows": rows,
        "speedup": round(rows[1]["prompts_per_s"] / rows[0]["prompts_per_s"], 3),
    }
    print(f"speedup (config / ddeec84 prompts/s, same prompts): {result['speedup']}x")
    if ns.json_out:
        write_json(result, ns.json_out)
    return result


if __name__ == "__main__":
    main()
