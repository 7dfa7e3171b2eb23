"""SFT training on CPU (genrec.sft.train) with the LM helpers (genrec.lm)."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import pytest
import torch
from kill_helpers import run_killed_after_checkpoint
from lm_helpers import DynamoGraphs, tiny_qwen2
from safetensors.torch import load_file
from sft_helpers import make_tables, tiny_lm, tiny_sft_data, tiny_sft_train, tiny_tasks
from transformers import TrainerCallback

from genrec import prompts
from genrec.lm import (
    encode_prompt,
    load_model_and_tokenizer,
    sid_token_ids,
    train_scratch_tokenizer,
)
from genrec.sft.train import train_sft


def _run(paths, out, params, **kw):
    return train_sft(
        paths["datasets"],
        paths["sids"],
        out / "model",
        out / "loss.json",
        out / "loss.png",
        out / "ckpt",
        params,
        **kw,
    )


def _weights(model_dir):
    return load_file(str(model_dir / "model.safetensors"))


def test_loss_goes_down_and_model_reloads_and_generates(sft_inputs, tmp_path):
    summary = _run(sft_inputs, tmp_path, tiny_sft_train())
    saved = json.loads((tmp_path / "loss.json").read_text())
    assert saved["global_step"] == 20 and saved["resumed_from_step"] == 0
    valid = [e["loss"] for e in saved["valid"]]
    assert saved["valid"][0]["step"] == 0  # validated before the first step (eval_on_start)
    # ... so its loss is the untrained model's: close to uniform over the vocabulary
    vocab = len(load_model_and_tokenizer(tmp_path / "model")[1])
    assert 0.7 * math.log(vocab) < valid[0] < 1.3 * math.log(vocab)
    assert min(valid) < valid[0] - 0.5  # validation loss of the untrained model vs best
    assert saved["train"][-1]["loss"] < saved["train"][0]["loss"] - 0.5
    assert summary["best_eval_loss"] == pytest.approx(min(valid))
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "ckpt").exists()  # removed after success (keep_checkpoints: false)

    model, tok = load_model_and_tokenizer(tmp_path / "model")
    sids = make_tables()["sids"]
    per_item = sid_token_ids(tok, sids)  # every SID code is a token of the saved model
    assert model.get_input_embeddings().weight.shape[0] >= len(tok)
    ids = torch.tensor([encode_prompt(tok, prompts.sid_next(sids.sid.tolist()[:3]))])
    out = model.generate(
        ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False
    )
    assert out.shape[1] > ids.shape[1]
    assert len(per_item) == len(sids)


class _Crash(TrainerCallback):
    """Simulates a killed job: raises once the checkpoint at ``step`` is written."""

    def __init__(self, step):
        self.step = step

    def on_save(self, args, state, control, **kw):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"killed after checkpoint {self.step}")


class _StartStep(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_train_begin(self, args, state, control, **kw):
        self.steps.append(state.global_step)


def test_killed_run_resumes_from_last_checkpoint(sft_inputs, tmp_path):
    params = tiny_sft_train()
    with pytest.raises(KeyboardInterrupt):
        _run(sft_inputs, tmp_path / "a", params, callbacks=[_Crash(10)])
    assert (tmp_path / "a" / "ckpt" / "checkpoint-10").is_dir()
    assert not (tmp_path / "a" / "model").exists()
    start = _StartStep()
    # how batches are collated does not make it another run: it resumes
    resumed = params.replace(dataloader_workers=1)
    summary = _run(sft_inputs, tmp_path / "a", resumed, callbacks=[start])
    assert start.steps == [10]
    assert summary["resumed_from_step"] == 10 and summary["global_step"] == 20
    # training steps 1..10 come from the first run's state, 11..20 from the rerun
    assert [e["step"] for e in summary["train"]] == [1, *range(2, 21, 2)]

    # a changed config starts afresh instead of resuming
    with pytest.raises(KeyboardInterrupt):
        _run(sft_inputs, tmp_path / "b", params, callbacks=[_Crash(10)])
    changed = tiny_sft_train(lm=tiny_lm(scratch={"intermediate_size": 48}))
    start = _StartStep()
    summary = _run(sft_inputs, tmp_path / "b", changed, callbacks=[start])
    assert start.steps == [0] and summary["resumed_from_step"] == 0


def _trainer_state(checkpoint):
    """trainer_state.json of ``checkpoint`` less wall-clock figures (and the run's path)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    timing = ("_runtime", "_per_second")
    state["log_history"] = [
        {k: v for k, v in e.items() if not k.endswith(timing)} for e in state["log_history"]
    ]
    state["best_model_checkpoint"] = Path(state["best_model_checkpoint"]).name
    return state


def test_sigkilled_job_resumes_to_the_same_model(sft_inputs, tmp_path):
    """A job SIGKILLed right after a checkpoint in its second epoch and rerun ends with the
    uninterrupted run's weights (bit for bit), loss curves, best checkpoint and
    early-stopping state: the length-grouped order of the resumed epoch, the evaluations
    and the patience counter are those of the uninterrupted run (also when the rerun
    collates in a DataLoader worker)."""
    from genrec.sft.dataset import build_sft_datasets

    # sid_next alone: 110 examples, 14 steps an epoch; checkpoints every 4 steps
    datasets = tmp_path / "datasets"
    off = dict.fromkeys(["sid_to_title", "title_to_sid", "title_history_to_sid"], 0)
    data = tiny_sft_data(tasks=tiny_tasks(**off, sid_history_to_title=0))
    p = sft_inputs
    build_sft_datasets(p["train"], p["valid"], p["items"], p["sids"], datasets, data)
    inputs = {**sft_inputs, "datasets": datasets}
    params = tiny_sft_train(
        max_steps=24,
        eval_steps=4,
        logging_steps=3,
        early_stopping_patience=3,
        keep_checkpoints=True,
    )
    straight = _run(inputs, tmp_path / "straight", params)
    assert straight["global_step"] == 24 and straight["train"][-1]["epoch"] > 1

    out = tmp_path / "killed"
    args = [inputs["datasets"], inputs["sids"], out / "model", out / "loss.json"]
    args += [out / "loss.png", out / "ckpt", params]
    assert run_killed_after_checkpoint(train_sft, 16, *args) == -signal.SIGKILL
    assert (out / "ckpt" / "checkpoint-16").is_dir() and not (out / "model").exists()
    # the rerun collates in a DataLoader worker (it may: not part of the fingerprint)
    resumed = _run(inputs, out, params.replace(dataloader_workers=1))
    assert resumed["resumed_from_step"] == 16 and resumed["global_step"] == 24

    a, b = _weights(tmp_path / "straight" / "model"), _weights(out / "model")
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    keys = ("train", "valid", "train_loss", "best_eval_loss", "best_checkpoint", "stopped_early")
    for key in keys:
        assert resumed[key] == straight[key], key
    # the last checkpoint's state: log, best metric and step, EarlyStoppingCallback counter
    last = _trainer_state(tmp_path / "straight" / "ckpt" / "checkpoint-24")
    assert last["stateful_callbacks"]["EarlyStoppingCallback"]["attributes"]
    assert _trainer_state(out / "ckpt" / "checkpoint-24") == last


def test_same_seed_same_model(sft_inputs, tmp_path):
    params = tiny_sft_train(max_steps=6, eval_steps=3)
    _run(sft_inputs, tmp_path / "a", params)
    _run(sft_inputs, tmp_path / "b", params)
    a, b = _weights(tmp_path / "a" / "model"), _weights(tmp_path / "b" / "model")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_freeze_llm_trains_only_sid_rows(sft_inputs, tmp_path):
    lm = tiny_lm(freeze_llm=True, scratch={"tie_word_embeddings": False})
    _run(sft_inputs, tmp_path, tiny_sft_train(lm, max_steps=6, eval_steps=3, keep_checkpoints=True))
    before = _weights(tmp_path / "ckpt" / "init")
    after = _weights(tmp_path / "model")
    sid_ids = json.loads((tmp_path / "ckpt" / "init" / "genrec_sid_tokens.json").read_text())[
        "sid_token_ids"
    ]
    rows = torch.zeros(before["model.embed_tokens.weight"].shape[0], dtype=torch.bool)
    rows[sid_ids] = True
    for name in before:
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            assert torch.equal(before[name][~rows], after[name][~rows]), name
            assert not torch.equal(before[name][rows], after[name][rows]), name
        else:
            assert torch.equal(before[name], after[name]), name


def test_pretrained_checkpoint_directory(sft_inputs, tmp_path):
    """lm.base_model pointing at a save_pretrained directory (stand-in for a HF download)."""
    tok = train_scratch_tokenizer(["Steel bolt, 10 pack", "Nitrile glove"] * 10, vocab_size=300)
    model = tiny_qwen2(tok, layers=1, heads=2, kv_heads=1, tie_word_embeddings=False)
    base = tmp_path / "base"
    model.save_pretrained(base)
    tok.save_pretrained(base)
    lm = tiny_lm(base_model=str(base), freeze_llm=True)
    _run(sft_inputs, tmp_path, tiny_sft_train(lm, max_steps=4, eval_steps=2))
    trained, trained_tok = load_model_and_tokenizer(tmp_path / "model")
    sids = make_tables()["sids"]
    assert trained_tok.convert_ids_to_tokens(list(range(len(tok)))) == tok.convert_ids_to_tokens(
        list(range(len(tok)))
    )
    assert len(trained_tok) == len(tok) + sum(1 for _ in {t for ts in sids.tokens for t in ts})
    emb = trained.get_input_embeddings().weight
    assert emb.shape[0] == len(trained_tok)
    assert torch.equal(emb[: len(tok)], model.get_input_embeddings().weight)  # frozen original rows


def test_rank_entry_point_runs_in_process(sft_inputs, tmp_path):
    """What `accelerate launch -m genrec.distributed FILE` runs per rank, in this process."""
    from genrec.distributed import main as rank_main
    from genrec.params import encode

    params = tiny_sft_train(max_steps=2, eval_steps=2)
    kwargs = {
        "datasets_dir": str(sft_inputs["datasets"]),
        "sids_parquet": str(sft_inputs["sids"]),
        "model_dir": str(tmp_path / "model"),
        "loss_json": str(tmp_path / "loss.json"),
        "loss_png": str(tmp_path / "loss.png"),
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "params": encode(params),  # as genrec.distributed.launch writes it
    }
    spec = {"entry": "genrec.sft.train:train_rank", "kwargs": kwargs}
    (tmp_path / "args.json").write_text(json.dumps(spec))
    rank_main([str(tmp_path / "args.json")])
    assert json.loads((tmp_path / "loss.json").read_text())["global_step"] == 2
    assert (tmp_path / "model" / "config.json").is_file()


@pytest.mark.gpu
def test_gpu_training_all_devices(sft_inputs, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    n = torch.cuda.device_count()
    params = tiny_sft_train(per_device_batch_size=4, global_batch_size=8)
    summary = _run(sft_inputs, tmp_path, params, num_gpus=n)
    assert summary["world_size"] == n
    assert summary["global_step"] == 20
    assert summary["peak_gpu_memory_mb"] > 0  # recorded for the results page
    valid = [e["loss"] for e in summary["valid"]]
    assert min(valid) < valid[0]
    model, _ = load_model_and_tokenizer(tmp_path / "model", device="cuda")
    assert next(model.parameters()).dtype == (
        torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    )


def test_one_prompt_length_rule_for_sft_rl_and_evaluation(sft_inputs, tmp_path):
    """A long title-history prompt is cut to the same ids in SFT, RL rollouts and
    evaluation: the limit SFT used is stored with the model and read back."""
    import pandas as pd

    from genrec.lm import encode_example, read_prompt_limit
    from genrec.rl.rollout import ConstrainedRollout

    _run(sft_inputs, tmp_path, tiny_sft_train(max_steps=2, eval_steps=None, cutoff_len=64))
    sids = pd.read_parquet(sft_inputs["sids"])
    limit = read_prompt_limit(tmp_path / "model")
    assert limit == 64 - sids["tokens"].map(len).max() - 1
    model, tok = load_model_and_tokenizer(tmp_path / "model")
    long_prompt = prompts.title_history_to_sid(
        [f"a very long product title {i}" for i in range(40)]
    )
    assert len(encode_prompt(tok, long_prompt)) > 3 * limit
    sft_ids = encode_example(tok, long_prompt, sids.sid[0], 64, limit)["input_ids"]
    rollout = ConstrainedRollout(tok, sid_token_ids(tok, sids), max_prompt_length=limit)
    eval_ids = encode_prompt(tok, long_prompt, read_prompt_limit(tmp_path / "model"))
    assert len(eval_ids) == limit
    assert sft_ids[:limit] == eval_ids == rollout.encode(long_prompt)
    full = encode_prompt(tok, long_prompt)
    head = encode_prompt(tok, long_prompt[: long_prompt.index("### Input:\n") + 11])
    # the instruction and input header stay, the oldest history goes, the end stays
    assert eval_ids[: len(head)] == head
    assert eval_ids[len(head) :] == full[len(full) - (limit - len(head)) :]


def test_compiled_layers_train_the_same_model(sft_inputs, tmp_path):
    """sft.compile: same steps, losses and (up to float rounding) weights as eager."""
    import torch._dynamo

    eager = _run(sft_inputs, tmp_path / "eager", tiny_sft_train(max_steps=4, eval_steps=2))
    torch._dynamo.reset()
    with DynamoGraphs() as graphs:
        compiled = _run(
            sft_inputs,
            tmp_path / "compiled",
            tiny_sft_train(max_steps=4, eval_steps=2, compile=True),
        )
    assert graphs.compiled >= 1  # the layers did run compiled
    assert compiled["global_step"] == eager["global_step"] == 4
    for kind in ("train", "valid"):
        got = [e["loss"] for e in compiled[kind]]
        assert got == pytest.approx([e["loss"] for e in eager[kind]], rel=1e-4)
    a, b = _weights(tmp_path / "eager" / "model"), _weights(tmp_path / "compiled" / "model")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-3, atol=1e-4)


def test_batch_widths_padded_to_a_multiple_train_the_same_model(sft_inputs, tmp_path, monkeypatch):
    """sft.pad_to_multiple_of: every batch is a multiple of 16 wide; padding is masked, so
    the losses and weights are those of batches padded to their longest example."""
    import genrec.sft.train as sft_train

    plain = _run(sft_inputs, tmp_path / "plain", tiny_sft_train(max_steps=4, eval_steps=2))
    widths, make = [], sft_train.make_trainer

    def recording_widths(*args, **kwargs):
        trainer = make(*args, **kwargs)
        step = trainer.training_step

        def counted(model, inputs, *a, **kw):
            widths.append(inputs["input_ids"].shape[1])
            return step(model, inputs, *a, **kw)

        trainer.training_step = counted
        return trainer

    monkeypatch.setattr(sft_train, "make_trainer", recording_widths)
    params = tiny_sft_train(max_steps=4, eval_steps=2, pad_to_multiple_of=16)
    padded = _run(sft_inputs, tmp_path / "padded", params)
    assert len(widths) == 4 and all(w % 16 == 0 for w in widths)
    for kind in ("train", "valid"):
        got = [e["loss"] for e in padded[kind]]
        assert got == pytest.approx([e["loss"] for e in plain[kind]], rel=1e-4)
    a, b = _weights(tmp_path / "plain" / "model"), _weights(tmp_path / "padded" / "model")
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-3, atol=1e-4)


def test_cuda_graphs_need_a_gpu_job_without_accumulation(sft_inputs, tmp_path):
    """sft.cuda_graphs fails before any work (not even the initial model is built) on a
    job without a GPU, and with gradient accumulation, naming the keys."""
    from genrec.sft.train import check_cuda_graphs

    params = tiny_sft_train(compile=True, cuda_graphs=True)
    with pytest.raises(RuntimeError, match="sft.cuda_graphs: true needs the SFT job on a CUDA"):
        _run(sft_inputs, tmp_path / "run", params)
    assert not (tmp_path / "run").exists()
    accumulating = tiny_sft_train(
        compile=True, cuda_graphs=True, per_device_batch_size=4, global_batch_size=8
    )
    with pytest.raises(RuntimeError, match="cannot accumulate gradients: sft.global_batch_size 8"):
        check_cuda_graphs(accumulating, world_size=1, use_gpu=True)
    check_cuda_graphs(accumulating, world_size=2, use_gpu=True)  # 4 x 2 GPUs: no accumulation


@pytest.mark.parametrize("base", ["scratch", "checkpoint"])
def test_padded_vocabulary_trains_and_decodes_only_items(sft_inputs, tmp_path, base):
    """lm.vocab_multiple_of: 64 rows per block, the extra rows are never a token; with
    DataLoader workers the run is the same as without (same batches)."""
    from genrec.decode import SidTrie, constrained_generate

    if base == "checkpoint":
        tok = train_scratch_tokenizer(["Steel bolt, 10 pack", "Nitrile glove"] * 10, vocab_size=300)
        base_dir = tmp_path / "base"
        tiny_qwen2(tok, layers=1, heads=2, kv_heads=1).save_pretrained(base_dir)
        tok.save_pretrained(base_dir)
        lm = tiny_lm(base_model=str(base_dir), vocab_multiple_of=64)
    else:
        lm = tiny_lm(vocab_multiple_of=64)
    params = tiny_sft_train(lm, max_steps=4, eval_steps=2)
    one = _run(sft_inputs, tmp_path / "one", params)
    two = _run(sft_inputs, tmp_path / "two", params.replace(dataloader_workers=2))
    assert [e["loss"] for e in two["train"]] == [e["loss"] for e in one["train"]]

    model, tok = load_model_and_tokenizer(tmp_path / "one" / "model")
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows % 64 == 0 and len(tok) <= rows < len(tok) + 64
    assert model.get_output_embeddings().weight.shape[0] == rows
    sids = make_tables()["sids"]
    trie = SidTrie.from_sids_table(sids, tok)
    prompt = encode_prompt(tok, prompts.sid_next(sids.sid.tolist()[:3]))
    out = constrained_generate(model, tok, [prompt], trie, num_beams=6, num_return_sequences=6)
    assert set(out.item_ids.view(-1).tolist()) <= set(sids.item_id.tolist())
