"""GRPO scoring without fully masked attention rows, and the divergence guards."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from genrec.rl.trainer import (
    DivergenceGuard,
    EpochReplaySampler,
    SafeGRPOTrainer,
    TrainingDiverged,
    leading_pads,
    rotate_left,
    shared_prompt_logps,
)


def _tiny_model(attn: str, arch: str = "qwen2", hidden: int = 32):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    config_cls, model_cls = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "llama": (LlamaConfig, LlamaForCausalLM),  # SmolLM2's architecture
    }[arch]
    cfg = config_cls(
        vocab_size=64,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        attn_implementation=attn,
    )
    model = model_cls(cfg)
    add_fused_lm_head(model, outputs=("log_probs", "entropy"))
    return model


def _bare_trainer():
    """A SafeGRPOTrainer shell with just what the scoring method reads."""
    trainer = object.__new__(SafeGRPOTrainer)
    trainer.accelerator = SimpleNamespace(autocast=_no_autocast, is_main_process=True)
    return trainer


class _no_autocast:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _batch():
    """Left-padded prompts (lengths 5, 3, 7) + right-padded completions (3, 2, 3 tokens)."""
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(3, 64, (3, 7), generator=g)
    pmask = torch.ones(3, 7, dtype=torch.long)
    pmask[0, :2] = 0
    pmask[1, :4] = 0
    comp = torch.randint(3, 64, (3, 3), generator=g)
    cmask = torch.ones(3, 3, dtype=torch.long)
    cmask[1, 2] = 0
    ids = torch.cat([prompt, comp], 1).masked_fill(torch.cat([pmask, cmask], 1) == 0, 0)
    return ids, torch.cat([pmask, cmask], 1), 3


def test_rotation_helpers():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0], [0, 1, 1, 1]])
    assert leading_pads(mask).tolist() == [2, 0, 1]
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    assert rotate_left(x, leading_pads(mask)).tolist() == [
        [3, 4, 1, 2],
        [5, 6, 7, 8],
        [10, 11, 12, 9],
    ]


def test_scoring_sees_no_leading_pad_and_matches_trl_layout():
    """Same completion log-probs and entropies as trl's own left-padded pass (eager
    attention, where masked rows are finite), while the model only ever receives rows
    whose first position is a real token: no query without a key to attend to."""
    model = _tiny_model("eager")
    model.eval()
    ids, mask, keep = _batch()
    trainer = _bare_trainer()
    seen = []
    hook = model.model.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["attention_mask"].clone()), with_kwargs=True
    )
    with torch.no_grad():
        safe_lp, safe_ent, _ = trainer._get_per_token_logps_and_entropies(
            model, ids, mask, keep, compute_entropy=True
        )
    hook.remove()
    assert seen and all(int(leading_pads(m).max()) == 0 for m in seen)
    with torch.no_grad():
        ref_lp, ref_ent, _ = super(SafeGRPOTrainer, trainer)._get_per_token_logps_and_entropies(
            model, ids, mask, keep, compute_entropy=True
        )
    assert safe_lp.shape == ref_lp.shape == (3, keep)
    real = mask[:, -keep:].bool()
    torch.testing.assert_close(safe_lp[real], ref_lp[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(safe_ent[real], ref_ent[real], atol=1e-5, rtol=1e-5)


def test_scoring_labels_exactly_the_completion_tokens():
    """The fused LM head is asked for the completion tokens only (no prompt token of a row
    shorter than the longest prompt), in one pass or in chunks, with the same result."""
    model = _tiny_model("eager")
    model.eval()
    ids, mask, keep = _batch()
    trainer = _bare_trainer()
    labelled = []
    hook = model.register_forward_pre_hook(
        lambda mod, args, kwargs: labelled.append((kwargs["labels"] != -100).sum(1)),
        with_kwargs=True,
    )
    with torch.no_grad():
        whole, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, keep)
        chunked, _, _ = trainer._get_per_token_logps_and_entropies(
            model, ids, mask, keep, batch_size=2
        )
    hook.remove()
    assert torch.cat(labelled[:1]).tolist() == mask[:, -keep:].sum(1).tolist() == [3, 2, 3]
    assert len(labelled) == 3  # one pass, then two chunks
    torch.testing.assert_close(whole, chunked)
    with pytest.raises(ValueError, match="text models"):
        trainer._get_per_token_logps_and_entropies(
            model, ids, mask, keep, pixel_values=torch.zeros(1)
        )


def test_scoring_gradients_are_finite_with_sdpa():
    model = _tiny_model("sdpa")
    ids, mask, keep = _batch()
    lp, _, _ = _bare_trainer()._get_per_token_logps_and_entropies(model, ids, mask, keep)
    (lp * mask[:, -keep:]).sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def _grouped_batch(g_size=4, lengths=(9, 5, 3, 2), keep=4, seed=1):
    """GRPO's layout: G rows per prompt (left-padded prompts of the given real lengths,
    right-padded completions, some shorter than ``keep``), the rows shuffled as trl
    shuffles a generation batch before splitting it into micro-batches."""
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    rows, masks = [], []
    for n in lengths:
        prompt = torch.randint(3, 64, (width,), generator=g)
        pmask = (torch.arange(width) >= width - n).long()
        for j in range(g_size):
            comp = torch.randint(3, 64, (keep,), generator=g)
            cmask = (torch.arange(keep) < keep - (j % 3)).long()
            rows.append(torch.cat([prompt, comp]))
            masks.append(torch.cat([pmask, cmask]))
    ids, mask = torch.stack(rows), torch.stack(masks)
    perm = torch.randperm(len(ids), generator=g)
    return ids.masked_fill(mask == 0, 0)[perm], mask[perm], keep


def _shared_trainer(model):
    trainer = _bare_trainer()
    trainer.accelerator = SimpleNamespace(
        autocast=_no_autocast, is_main_process=True, unwrap_model=lambda m: m
    )
    trainer.shared_prompt_scoring = True
    return trainer


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_shared_prompt_scoring_gives_the_row_scoring_values_and_gradients(arch, attn):
    """rl.shared_prompt_scoring: each distinct prompt runs once (4 prompt rows for 16
    completions, whatever the row order), and the completion log-probabilities,
    entropies and every parameter's gradient equal those of scoring each row in full."""
    model = _tiny_model(attn, arch)
    ids, mask, keep = _grouped_batch()
    real = mask[:, -keep:].bool()

    def run(trainer):
        model.zero_grad()
        widths = []
        hook = model.model.register_forward_pre_hook(
            lambda mod, args, kwargs: widths.append(tuple(kwargs["input_ids"].shape)),
            with_kwargs=True,
        )
        lp, ent, _ = trainer._get_per_token_logps_and_entropies(
            model, ids, mask, keep, compute_entropy=True
        )
        hook.remove()
        (lp[real].sum() + 0.5 * ent[real].sum()).backward()
        return lp, ent, [p.grad.clone() for p in model.parameters()], widths

    lp0, ent0, grads0, rows0 = run(_bare_trainer())
    lp1, ent1, grads1, rows1 = run(_shared_trainer(model))
    assert rows0 == [(16, 13)]  # every row in full
    assert rows1 == [(4, 9), (16, keep + 1)]  # 4 distinct prompts once, then the completions
    torch.testing.assert_close(lp1[real], lp0[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent1[real], ent0[real], atol=1e-5, rtol=1e-5)
    for a, b in zip(grads1, grads0, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_shared_prompt_scoring_chunks_and_falls_back_for_one_token_prompts():
    """Chunks of ``batch_size`` rows (trl's reference pass) give the unchunked values; a
    batch with a one-token prompt (no prefix to cache) is scored row by row instead."""
    model = _tiny_model("sdpa")
    model.eval()
    ids, mask, keep = _grouped_batch()
    trainer = _shared_trainer(model)
    with torch.no_grad():
        whole, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, keep)
        chunked, _, _ = trainer._get_per_token_logps_and_entropies(
            model, ids, mask, keep, batch_size=6
        )
    real = mask[:, -keep:].bool()
    torch.testing.assert_close(chunked[real], whole[real], atol=1e-5, rtol=1e-5)
    short_ids, short_mask, keep = _grouped_batch(lengths=(4, 1))
    assert shared_prompt_logps(
        model, model, short_ids, short_mask, keep, False, _no_autocast
    ) is None  # fmt: skip
    with torch.no_grad():
        lp, _, _ = trainer._get_per_token_logps_and_entropies(model, short_ids, short_mask, keep)
        ref, _, _ = _bare_trainer()._get_per_token_logps_and_entropies(
            model, short_ids, short_mask, keep
        )
    torch.testing.assert_close(lp, ref)


def test_epoch_replay_sampler_gives_each_epoch_the_uninterrupted_order():
    """Epoch e's order is what trl's seeded RepeatSampler gives on its (e + 1)-th pass in one
    process (so an uninterrupted run trains as before), also in a fresh process that starts
    in epoch e (a resumed run); unshuffled samplers stay sequential."""
    from trl.trainer.utils import RepeatSampler

    def sampler(shuffle=True):
        return RepeatSampler(range(12), mini_repeat_count=2, batch_size=3, shuffle=shuffle, seed=5)

    trl_order = sampler()
    passes = [list(trl_order) for _ in range(3)]
    assert passes[0] != passes[1] != passes[2]
    replay = EpochReplaySampler(sampler())
    in_one_process = []
    for epoch in range(3):
        replay.set_epoch(epoch)
        in_one_process.append(list(replay))
    assert in_one_process == passes and len(replay) == len(trl_order)
    resumed = EpochReplaySampler(sampler())
    resumed.set_epoch(2)
    assert list(resumed) == passes[2]
    sequential = EpochReplaySampler(sampler(shuffle=False))
    sequential.set_epoch(1)
    assert list(sequential) == list(sampler(shuffle=False))


def test_divergence_guard_stops_on_non_finite_gradient_and_loss():
    model = _tiny_model("sdpa")
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    guard = DivergenceGuard("GRPO")
    state = SimpleNamespace(global_step=4)
    guard.on_pre_optimizer_step(None, state, None, model=model)  # finite: passes
    next(model.parameters()).grad[0, 0] = math.nan
    with pytest.raises(TrainingDiverged, match="GRPO diverged at step 5: the gradient norm is nan"):
        guard.on_pre_optimizer_step(None, state, None, model=model)
    guard.on_log(None, state, None, logs={"loss": 0.3, "grad_norm": 1.0, "note": "x"})
    with pytest.raises(TrainingDiverged, match="logged grad_norm = inf"):
        guard.on_log(None, state, None, logs={"loss": 0.3, "grad_norm": math.inf})


def test_evaluation_of_a_model_with_only_invalid_predictions_fails(tmp_path):
    from genrec.eval.generative import finalize

    df = pd.DataFrame(
        {
            "user_id": [0, 1],
            "target": [3, 4],
            "predictions": [[-1, -1], [-1, -1]],
            "predicted_sids": [["", ""], ["", ""]],
        }
    )
    with pytest.raises(ValueError, match="all 4 predicted slots of 2 samples are invalid"):
        finalize(df, [1, 2], tmp_path / "p.parquet", tmp_path / "m.json", "rl", "rqvae", "test", 2)
    assert not list(tmp_path.iterdir())
    df["predictions"] = [[3, -1], [-1, -1]]
    metrics = finalize(
        df, [1, 2], tmp_path / "p.parquet", tmp_path / "m.json", "rl", "rqvae", "test", 2
    )
    assert metrics["invalid"] == 3 and np.isclose(metrics["HR@1"], 0.5)


def _grads_finite(model) -> bool:
    return all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.gpu
@pytest.mark.parametrize("arch", ["qwen2", "llama"])
@pytest.mark.parametrize("hidden", [32, 256])  # head_dim 8 and 64 (SmolLM2's and Qwen2's)
def test_cuda_sdpa_left_padding_nan_and_the_fix(capsys, arch, hidden):
    """On CUDA, trl's left-padded scoring under SDPA with bf16 autocast is where GRPO's
    gradients went NaN; the right-aligned scoring keeps them finite on the same batch."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    ids, mask, keep = (t.cuda() if torch.is_tensor(t) else t for t in _batch())
    trainer = _bare_trainer()
    trainer.accelerator = SimpleNamespace(
        autocast=lambda: torch.autocast("cuda", dtype=torch.bfloat16), is_main_process=True
    )
    results = {}
    for name, method in (
        ("trl left-padded", super(SafeGRPOTrainer, trainer)._get_per_token_logps_and_entropies),
        ("right-aligned", trainer._get_per_token_logps_and_entropies),
    ):
        model = _tiny_model("sdpa", arch, hidden).cuda()
        lp, _, _ = method(model, ids, mask, keep)
        (lp * mask[:, -keep:]).sum().backward()
        results[name] = _grads_finite(model)
    with capsys.disabled():
        print(f"\n{arch}, head_dim {hidden // 4}, CUDA SDPA, bf16: gradients finite {results}")
    assert results["right-aligned"]


@pytest.mark.gpu
def test_cuda_shared_prompt_scoring_matches_row_scoring_in_bf16():
    """On CUDA under the trainer's bf16 autocast (SDPA), shared-prompt scoring gives the
    row scoring's log-probabilities within bf16 rounding, and finite gradients."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    ids, mask, keep = (t.cuda() if torch.is_tensor(t) else t for t in _grouped_batch())
    model = _tiny_model("sdpa", "llama", 256).cuda()
    bf16 = SimpleNamespace(
        autocast=lambda: torch.autocast("cuda", dtype=torch.bfloat16),
        is_main_process=True,
        unwrap_model=lambda m: m,
    )
    row, shared = _bare_trainer(), _bare_trainer()
    row.accelerator = shared.accelerator = bf16
    shared.shared_prompt_scoring = True
    real = mask[:, -keep:].bool()
    lp0, _, _ = row._get_per_token_logps_and_entropies(model, ids, mask, keep)
    lp1, _, _ = shared._get_per_token_logps_and_entropies(model, ids, mask, keep)
    lp1[real].sum().backward()
    torch.testing.assert_close(lp1[real], lp0[real].detach(), atol=0.05, rtol=0.02)
    assert _grads_finite(model)
