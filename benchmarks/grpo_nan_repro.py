"""Reproduce the GRPO NaN on CUDA and check the fix (a GPU experiment, not a test).

Scratch Qwen2 (config/amazon18-industrial.yaml's lm.scratch, ~35M), one SFT epoch on
the Industrial data (results/amazon18-industrial/{data,sid} of a workflow run), then
20 GRPO steps with the same seed and batches, twice: with trl's own left-padded
scoring (GRPOTrainer) and with genrec.rl.trainer.SafeGRPOTrainer (right-aligned).
Run from the repository root on a GPU machine:

    python benchmarks/grpo_nan_repro.py

Measured on one H200 (2026-12-01): trl left-padded -> TrainingDiverged at step 12
(gradient norm NaN); right-aligned -> 20 steps, gradient norms 0-0.41.
"""

import json
import time
from pathlib import Path

import yaml
from trl import GRPOTrainer

import genrec.rl.trainer as rl_trainer
from genrec.config import validate_config
from genrec.lm.params import LmParams
from genrec.logging import setup_logging
from genrec.rl.params import RlParams
from genrec.rl.train import train_grpo
from genrec.sft.dataset import build_sft_datasets
from genrec.sft.params import SftDataParams, SftTrainParams
from genrec.sft.train import train_sft

RESULTS = Path("results/amazon18-industrial")
WORK = Path("/tmp/grpo_nan_repro")
METHOD = "rqvae"


def main() -> None:
    setup_logging(None)
    cfg = validate_config(
        yaml.safe_load(open("config/amazon18-industrial.yaml")), "config/schema.yaml"
    )
    lm = LmParams.from_config(cfg).replace(base_model="scratch")
    sft = SftTrainParams.from_config(cfg).replace(
        epochs=1, eval_steps=None, early_stopping_patience=0, learning_rate=5e-4, seed=42, lm=lm
    )
    sft_data = SftDataParams.from_config(cfg).replace(seed=42)
    sids = RESULTS / "sid" / METHOD / "sids.parquet"
    data = RESULTS / "data"
    start = time.time()
    build_sft_datasets(
        data / "train.parquet", data / "valid.parquet", data / "items.parquet", sids,
        WORK / "ds", sft_data,
    )  # fmt: skip
    train_sft(
        WORK / "ds", sids, WORK / "sft", WORK / "loss.json", WORK / "loss.png",
        WORK / "ckpt", sft, num_gpus=1,
    )  # fmt: skip
    print("SFT", round(time.time() - start), "s", flush=True)
    rl = RlParams.from_config(cfg).replace(
        seed=42, max_steps=20, logging_steps=1, save_steps=1000, learning_rate=5e-5,
        prompt_selection="random",
        prompts={"sid_next": 800, "title_to_sid": 100, "title_history_to_sid": 100},
    )  # fmt: skip
    safe = rl_trainer.SafeGRPOTrainer
    for label, cls in (("trl left-padded", GRPOTrainer), ("right-aligned", safe)):
        rl_trainer.SafeGRPOTrainer = cls  # train_grpo imports the class when it runs
        out = WORK / label.replace(" ", "_")
        try:
            train_grpo(
                WORK / "sft", data / "train.parquet", data / "items.parquet", sids,
                out / "model", out / "log.json", out / "curves.png", rl,
                checkpoint_dir=out / "ckpt", num_gpus=1, sid_method=METHOD,
            )  # fmt: skip
            history = json.loads((out / "log.json").read_text())["log_history"]
            norms = [round(e["grad_norm"], 3) for e in history if "grad_norm" in e]
            print(label, "finished; grad norms", norms, flush=True)
        except Exception as err:  # noqa: BLE001 (the outcome is the result)
            print(label, "FAILED:", type(err).__name__, str(err)[:200], flush=True)
        finally:
            rl_trainer.SafeGRPOTrainer = safe


if __name__ == "__main__":
    main()
