"""rules/sft.smk end to end on tiny inputs: datasets -> trained model, logs, benchmarks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sft_helpers import make_tables, write_tables

OVERRIDE = """
lm:
  scratch: {hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1,
            intermediate_size: 64, max_position_embeddings: 256, tokenizer_vocab_size: 400}
sft:
  tasks: {title_history_to_sid: {max_samples: 20}, sid_history_to_title: {max_samples: 20}}
  max_valid_samples: 16
  cutoff_len: 128
  max_steps: 6
  eval_steps: 3
  per_device_batch_size: 8
  global_batch_size: 16
"""


@pytest.mark.slow
def test_sft_rules_build_datasets_and_train(tmp_path, wrapper_workflow, snakemake):
    wrapper_workflow(tmp_path, rules=("sft",))
    (tmp_path / "override.yaml").write_text(OVERRIDE)
    tables = make_tables()
    data = tmp_path / "results/demo/data"
    data.mkdir(parents=True)
    write_tables({k: tables[k] for k in ("train", "valid", "items")}, data)
    sid = tmp_path / "results/demo/sid/rqkmeans"
    sid.mkdir(parents=True)
    tables["sids"].to_parquet(sid / "sids.parquet", index=False)

    target = "results/demo/sft/rqkmeans/loss.json"
    args = ["--configfile", "override.yaml"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = snakemake(tmp_path, *args, "--", target, check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]

    out = tmp_path / "results/demo/sft/rqkmeans"
    loss = json.loads((out / "loss.json").read_text())
    assert loss["global_step"] == 6 and loss["global_batch_size"] == 16
    assert (out / "model" / "config.json").is_file() and (
        out / "model" / "tokenizer.json"
    ).is_file()
    assert (out / "loss.png").stat().st_size > 0
    assert (out / "datasets" / "dataset_dict.json").is_file()
    for rule in ("build_sft_datasets", "train_sft"):
        assert (tmp_path / f"results/demo/logs/sft/{rule}.rqkmeans.log").stat().st_size > 0
        assert (tmp_path / f"results/demo/benchmarks/sft/{rule}.rqkmeans.tsv").is_file()
    assert (
        "SFT done: 6 steps"
        in (tmp_path / "results/demo/logs/sft/train_sft.rqkmeans.log").read_text()
    )
    assert not Path(tmp_path / "checkpoints/demo/sft/rqkmeans").exists()

    # nothing left to do on a rerun with the same config
    dry = snakemake(tmp_path, *args, "-n", "--", target, check=False, env=env)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
