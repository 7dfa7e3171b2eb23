"""CPU runs of the RL stage on a tiny scratch model: rollouts, GRPO steps, resume."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from genrec import prompts

N_ITEMS = 24


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A tiny 'SFT model' (scratch Qwen2 + BPE tokenizer + SID tokens) and its tables."""
    from genrec.baselines.sasrec import SASRec, SASRecConfig
    from genrec.lm import build_model_and_tokenizer
    from genrec.lm.params import LmParams

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("rl")
    rng = np.random.default_rng(0)
    items = pd.DataFrame(
        {"item_id": range(N_ITEMS), "title": [f"widget {i} model {i % 5}" for i in range(N_ITEMS)]}
    )
    codes = [[i // 6, (i // 2) % 3, i % 2] for i in range(N_ITEMS)]
    tokens = [[f"<{'abc'[lv]}_{c}>" for lv, c in enumerate(cs)] for cs in codes]
    sids = pd.DataFrame(
        {
            "item_id": range(N_ITEMS),
            "codes": codes,
            "tokens": tokens,
            "sid": ["".join(t) for t in tokens],
        }
    )
    rows = []
    for u in range(30):
        seq = rng.choice(N_ITEMS, size=4, replace=False).tolist()
        rows.append({"user_id": u, "history": seq[:3], "target": seq[3]})
    train = pd.DataFrame(rows)
    corpus = [
        prompts.sid_next(["x"]),
        prompts.title_to_sid("t"),
        prompts.title_history_to_sid(["t"]),
    ]
    corpus += items.title.tolist()
    lm = LmParams.defaults(
        base_model="scratch",
        scratch={
            "tokenizer_vocab_size": 300,
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "intermediate_size": 64,
            "max_position_embeddings": 512,
            "tie_word_embeddings": True,
        },
    )
    model, tokenizer, _ = build_model_and_tokenizer(lm, sids, corpus, seed=0)
    model.save_pretrained(root / "sft")
    tokenizer.save_pretrained(root / "sft")
    for name, df in (("train", train), ("items", items), ("sids", sids)):
        df.to_parquet(root / f"{name}.parquet")
    np.save(root / "emb.npy", rng.normal(size=(N_ITEMS, 8)).astype(np.float32))
    cfg = SASRecConfig(n_items=N_ITEMS, max_len=5, hidden_size=8, num_blocks=1, num_heads=1)
    torch.manual_seed(0)
    torch.save(SASRec(cfg).state_dict(), root / "sasrec.pt")
    (root / "sasrec.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    return SimpleNamespace(root=root, sids=sids, train=train, tokenizer=tokenizer)


def _fake_trainer(model, g, training=True):
    model.train(training)
    return SimpleNamespace(
        model=model,
        accelerator=SimpleNamespace(unwrap_model=lambda m: m, autocast=contextlib.nullcontext),
        num_generations=g,
        num_generations_eval=g,
    )


@pytest.mark.parametrize("mode", ["beam", "sample"])
def test_rollout_gives_g_valid_sids_per_prompt(demo, mode):
    from genrec.lm import load_model_and_tokenizer, sid_token_ids
    from genrec.rl.rollout import ConstrainedRollout

    model, tok = load_model_and_tokenizer(demo.root / "sft", dtype="float32")
    item_tokens = sid_token_ids(tok, demo.sids)
    rollout = ConstrainedRollout(tok, item_tokens, mode=mode, temperature=1.5)
    g = 6
    ps = [prompts.sid_next(demo.sids.sid[:2].tolist()), prompts.title_to_sid("widget 3 model 3")]
    torch.manual_seed(0)
    # an evaluation-mode call first: the next training call must still be constrained
    rollout([p for p in ps for _ in range(g)], _fake_trainer(model, g, training=False))
    out = rollout([p for p in ps for _ in range(g)], _fake_trainer(model, g))
    assert model.training  # the rollout restores the mode it found
    assert len(out["completion_ids"]) == len(out["item_id"]) == 2 * g
    eos = tok.eos_token_id
    for ids, item in zip(out["completion_ids"], out["item_id"], strict=True):
        assert item >= 0
        assert ids == item_tokens[item] + [eos]  # mapped by token ids, ends with EOS
    assert out["group"] == [0] * g + [1] * g
    for k in range(2):
        assert sorted(out["rank"][k * g : (k + 1) * g]) == list(range(g))
    if mode == "beam":
        assert len(set(out["item_id"][:g])) == g  # G distinct SIDs per prompt, in beam order
        assert out["rank"][:g] == list(range(g))
    assert out["prompt_ids"][0] == rollout.encode(ps[0]) == out["prompt_ids"][g - 1]
    assert rollout.invalid == 0
    with pytest.raises(ValueError, match="multiple of G"):
        rollout(ps, _fake_trainer(model, g))


def _params(**over):
    """RlParams of a two-step CPU run; a ``rewards`` override lists the rewards that run
    (the others get weight 0)."""
    from genrec.rl.params import RlParams

    p = {
        "beta": 0.04,
        "learning_rate": 1e-3,
        "epochs": 1,
        "max_steps": 2,
        "num_generations": 4,
        "rollout": "beam",
        "temperature": 1.0,
        "per_device_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "prompts": {"sid_next": 8, "title_to_sid": 4, "title_history_to_sid": 4},
        "rewards": {"rule": 1.0, "ranking": 1.0, "semantic": 0.5, "cf": 0.5},
        "save_steps": 1,
        "logging_steps": 1,
        "seed": 3,
    }
    if "rewards" in over:
        over["rewards"] = {name: 0.0 for name in p["rewards"]} | over["rewards"]
    p.update(over)
    return RlParams.defaults(**p)


def _job(demo, out, params, num_gpus=0, sft=None):
    """train_grpo's (args, kwargs) for a run into ``out``."""
    args = [sft or demo.root / "sft", demo.root / "train.parquet", demo.root / "items.parquet"]
    args += [demo.root / "sids.parquet", out / "model", out / "rl_log.json", out / "rl_curves.png"]
    kwargs = {
        "embeddings": demo.root / "emb.npy",
        "sasrec_model": demo.root / "sasrec.pt",
        "sasrec_config": demo.root / "sasrec.json",
        "checkpoint_dir": out / "ckpt",
        "sid_method": "toy",
        "num_gpus": num_gpus,
    }
    return [*args, params], kwargs


def _run(demo, out, params, num_gpus=0, sft=None):
    from genrec.rl.train import train_grpo

    args, kwargs = _job(demo, out, params, num_gpus, sft)
    train_grpo(*args, **kwargs)


def _weights(path):
    from transformers import AutoModelForCausalLM

    return {
        k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(path).state_dict().items()
    }


def test_grpo_steps_change_weights_log_rewards_and_resume(demo, tmp_path):
    out = tmp_path / "run"
    _run(demo, out, _params())
    before, after = _weights(demo.root / "sft"), _weights(out / "model")
    assert any(not torch.equal(before[k], after[k]) for k in before)

    logged = json.loads((out / "rl_log.json").read_text())
    assert logged["global_step"] == 2 and logged["invalid_completions"] == 0
    assert logged["rollout_calls"] == 2
    assert logged["prompt_counts"] == {"sid_next": 8, "title_to_sid": 4, "title_history_to_sid": 4}
    steps = [h for h in logged["log_history"] if "reward" in h]
    assert len(steps) == 2
    for name in ("rule", "ranking", "semantic"):
        assert all(np.isfinite(h[f"rewards/{name}/mean"]) for h in steps)
    # cf has no signal for title -> SID prompts (no history); a batch of only those logs None
    assert any(h["rewards/cf/mean"] is not None for h in steps)
    assert all("kl" in h for h in steps)
    assert (out / "rl_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "model" / "tokenizer.json").exists()

    # an interrupted job reruns: it resumes from the last checkpoint instead of retraining
    (out / "rl_log.json").unlink()
    _run(demo, out, _params())
    again = json.loads((out / "rl_log.json").read_text())
    assert again["resumed_from"].endswith("checkpoint-2")
    assert again["global_step"] == 2
    resumed = _weights(out / "model")
    assert all(torch.equal(after[k], resumed[k]) for k in after)


def test_sampling_rollouts_and_config_errors(demo, tmp_path):
    from genrec.params import ParamsError
    from genrec.rl.train import grpo_config

    out = tmp_path / "sample"
    _run(
        demo,
        out,
        _params(max_steps=1, rollout="sample", temperature=1.3, beta=0.0, rewards={"rule": 1.0}),
    )
    logged = json.loads((out / "rl_log.json").read_text())
    assert logged["global_step"] == 1 and logged["invalid_completions"] == 0
    assert "rewards/rule/mean" in logged["log_history"][0]
    with pytest.raises(ParamsError, match="per_device_batch_size: 6 is not a multiple of"):
        _params(per_device_batch_size=6)  # checked when the parameters are built
    assert grpo_config(_params(), tmp_path, "cpu").seed == 3  # the seed comes with the params
    # trl turns gradient checkpointing on by default; genrec's default keeps it off, and it
    # cannot be combined with the shared prompt pass (whose KV cache it would drop)
    assert grpo_config(_params(), tmp_path, "cpu").gradient_checkpointing is False
    with pytest.raises(ParamsError, match="gradient_checkpointing: cannot be combined"):
        _params(gradient_checkpointing=True)
    on = _params(gradient_checkpointing=True, shared_prompt_scoring=False)
    assert grpo_config(on, tmp_path, "cpu").gradient_checkpointing is True


@pytest.mark.gpu
@pytest.mark.parametrize("num_gpus", [1, 2])
def test_grpo_on_gpus(demo, tmp_path, num_gpus):
    """One GPU in process; two GPUs through `accelerate launch` (groups stay per device)."""
    if torch.cuda.device_count() < num_gpus:
        pytest.skip(f"needs {num_gpus} CUDA GPU(s), found {torch.cuda.device_count()}")
    out = tmp_path / f"gpu{num_gpus}"
    _run(demo, out, _params(), num_gpus=num_gpus)
    logged = json.loads((out / "rl_log.json").read_text())
    assert logged["global_step"] == 2 and logged["invalid_completions"] == 0
    # rank 0 generated for its own share: 16 completions per step over 2 GPUs = 8 each
    assert logged["rollout_calls"] == 2
    steps = [h for h in logged["log_history"] if "reward" in h]
    assert len(steps) == 2 and all(np.isfinite(h["rewards/rule/mean"]) for h in steps)
    before, after = _weights(demo.root / "sft"), _weights(out / "model")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_broken_policy_stops_grpo_before_any_model_is_written(demo, tmp_path):
    """An SFT model with non-finite weights yields no valid SID: the RL job fails with a
    clear error instead of training on garbage and saving a model that predicts nothing."""
    from transformers import AutoModelForCausalLM

    from genrec.rl.rollout import RolloutCollapsed

    broken = tmp_path / "broken_sft"
    model = AutoModelForCausalLM.from_pretrained(demo.root / "sft")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    model.save_pretrained(broken)
    demo.tokenizer.save_pretrained(broken)
    out = tmp_path / "run"
    with pytest.raises(
        RolloutCollapsed, match="every one of the 8 rollout completions is an invalid SID"
    ):
        _run(demo, out, _params(rewards={"rule": 1.0}), sft=broken)
    assert not (out / "model").exists() and not (out / "rl_log.json").exists()


def _history(path):
    """rl_log.json less wall-clock figures (the log's and the run's)."""
    logged = json.loads(path.read_text())
    del logged["train_runtime"]
    timing = ("_runtime", "_per_second", "step_time")
    logged["log_history"] = [
        {k: v for k, v in e.items() if not k.endswith(timing)} for e in logged["log_history"]
    ]
    return logged


def test_sigkilled_grpo_job_resumes_to_the_same_model_and_run_totals(demo, tmp_path):
    """SIGKILL the job right after the step-3 checkpoint, in its second epoch (trl's
    shuffled prompt order, sampled rollouts, two micro-steps per rollout call); the rerun
    resumes from it and ends with the weights (bit for bit), log and run totals of an
    uninterrupted 4-step run (the reference model synced at step 2 comes back from the
    checkpoint); a rerun on the finished checkpoint reports the same totals."""
    from kill_helpers import run_killed_after_checkpoint

    from genrec.rl.train import train_grpo
    from genrec.rl.trainer import COUNTERS, REF_MODEL

    params = _params(
        max_steps=4,
        save_steps=1,
        logging_steps=2,  # logs at every checkpoint too (checkpoint 3 falls between logs)
        rollout="sample",
        temperature=1.3,
        group_by_length=False,
        gradient_accumulation_steps=2,  # 4 prompts per step: 2 steps an epoch of 8
        sync_ref_model=True,  # the reference model moves at step 2: checkpoint-3 holds it
        ref_model_sync_steps=2,
        prompts={"sid_next": 4, "title_to_sid": 2, "title_history_to_sid": 2},
        rewards={"rule": 1.0, "ranking": 1.0},
    )
    _run(demo, tmp_path / "straight", params)
    straight = _history(tmp_path / "straight" / "rl_log.json")
    assert straight["log_history"][-2]["epoch"] > 1 and straight["rollout_calls"] == 4
    assert [e["step"] for e in straight["log_history"] if "loss" in e] == [1, 2, 3, 4]

    out = tmp_path / "killed"
    args, kwargs = _job(demo, out, params)
    assert run_killed_after_checkpoint(train_grpo, 3, *args, **kwargs) == -signal.SIGKILL
    assert (out / "ckpt" / "checkpoint-3").is_dir() and not (out / "model").exists()
    assert (out / "ckpt" / "checkpoint-3" / REF_MODEL).is_file()
    before = json.loads((out / "ckpt" / "checkpoint-3" / COUNTERS).read_text())
    assert before["rollout_calls"] == 3 and before["train_seconds"] > 0
    start = time.perf_counter()
    _run(demo, out, params)
    rerun_seconds = time.perf_counter() - start
    resumed = _history(out / "rl_log.json")
    assert resumed.pop("resumed_from").endswith("checkpoint-3")
    assert straight.pop("resumed_from") is None
    # the whole run's totals: the killed process's and the rerun's
    train_seconds = json.loads((out / "rl_log.json").read_text())["train_runtime"]
    assert before["train_seconds"] < train_seconds <= before["train_seconds"] + rerun_seconds
    assert resumed == straight  # log, steps, rollout calls, invalid completions, run facts
    weights = _weights(tmp_path / "straight" / "model")
    resumed_weights = _weights(out / "model")
    assert [k for k in weights if not torch.equal(weights[k], resumed_weights[k])] == []

    # a rerun finds the finished run's checkpoint: its whole-run totals, not zeros
    final = json.loads((out / "ckpt" / "checkpoint-4" / COUNTERS).read_text())
    (out / "rl_log.json").unlink()
    _run(demo, out, params)
    again = json.loads((out / "rl_log.json").read_text())
    assert again["resumed_from"].endswith("checkpoint-4")
    assert (again["rollout_calls"], again["invalid_completions"]) == (4, 0)
    assert before["train_seconds"] < again["train_runtime"] == final["train_seconds"]
    # the log the checkpoint holds: all but the Trainer's end-of-training summary entry
    assert _history(out / "rl_log.json")["log_history"] == straight["log_history"][:-1]


def test_time_limit_ends_grpo_after_the_step_that_crosses_it(demo, tmp_path):
    from genrec.rl.trainer import TimeLimit

    # the callback alone, on a fake clock: the step that ends past the limit stops training
    now = [0.0]
    limit = TimeLimit(90.0, clock=lambda: now[0])

    class State:
        global_step, max_steps = 3, 10

    class Control:
        should_training_stop = False

    limit.on_train_begin(None, State, Control)
    now[0] = 89.9
    limit.on_step_end(None, State, Control)
    assert not Control.should_training_stop and not limit.stopped
    now[0] = 90.0
    limit.on_step_end(None, State, Control)
    assert Control.should_training_stop and limit.stopped

    # a whole run: a limit far below one step's time ends it after its first of 3 steps;
    # the model is still written and history.json says why the run ended
    out = tmp_path / "limited"
    _run(demo, out, _params(max_steps=3, max_train_minutes=1e-6))
    logged = json.loads((out / "rl_log.json").read_text())
    assert logged["global_step"] == 1
    assert logged["stopped_by_time_limit"] is True and logged["max_train_minutes"] == 1e-6
    assert (out / "model" / "config.json").exists()
    from genrec.schema import ConfigError

    for bad in (0, "soon"):
        with pytest.raises(ConfigError, match="'rl.max_train_minutes'"):
            _params(max_train_minutes=bad)
