"""trl's ``GRPOTrainer`` made safe for left-padded prompts, and divergence guards.

**Why right-alignment.** trl scores a completion by running the model over
``[left-padded prompt | completion]``: every pad position at the start of a row is
a query with no key to attend to (a fully masked attention row). With a trained
model under SDPA on CUDA this is where GRPO broke. Measured on one H200
(``benchmarks/grpo_nan_repro.py``: scratch Qwen2 from the old GPU config, one SFT
epoch on Amazon Industrial, then GRPO with the same seed and batches): trl's own
left-padded scoring gave a NaN gradient norm at step 12; the right-aligned scoring
below ran all 20 steps with gradient norms 0-0.41. Eager attention, which fills
masked scores with a finite minimum, had also trained. (Random-weight models of
the same shapes gave finite gradients in both layouts, so the trigger needs the
trained weights' activations; the kernel-level mechanism is not pinned down.)
:class:`SafeGRPOTrainer` rotates each row left by its number of leading pads
before the forward pass, so the padding sits at the end, where a pad query still
sees the real tokens before it and no row is fully masked, then gathers the
completion log-probabilities back in trl's layout. Rotary position embeddings
depend only on relative positions, so real tokens get the same attention as
before (and the same positions that generation used: counted from the first real
token). The fast SDPA path stays in use.

**Guards.** :class:`DivergenceGuard` stops training with
:class:`TrainingDiverged` when a loss or gradient norm is not finite, before the
optimizer applies the step; nothing is written afterwards.
"""

from __future__ import annotations

import math

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer


class TrainingDiverged(RuntimeError):
    """A non-finite loss or gradient: the run must not produce a model."""


def leading_pads(attention_mask: torch.Tensor) -> torch.Tensor:
    """Per row, the number of 0s before the first 1 (``[B]`` long; a row of 0s gives its width)."""
    mask = attention_mask.to(torch.long)
    seen = mask.cumsum(dim=1) > 0
    return (~seen).sum(dim=1)


def rotate_left(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Row ``i`` of ``x`` ([B, L]) rotated left by ``shifts[i]`` positions."""
    width = x.shape[1]
    idx = (torch.arange(width, device=x.device)[None, :] + shifts[:, None]) % width
    return x.gather(1, idx)


class SafeGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose forward passes never contain a fully masked attention row."""

    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
    ):
        lead = leading_pads(attention_mask)
        if not bool((lead > 0).any()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        ids = rotate_left(input_ids, lead)
        mask = rotate_left(attention_mask, lead)
        # completion token t of row i sits at width - keep + t - lead[i] after the rotation,
        # so the last keep + max(lead) positions hold every row's completion
        span = logits_to_keep + int(lead.max())
        logps, entropies, aux = super()._get_per_token_logps_and_entropies(
            model, ids, mask, span, *args, **kwargs
        )
        # out[:, j] scores rotated position width - span + j: completion token t of row i
        # is at j = max(lead) - lead[i] + t
        t = torch.arange(logits_to_keep, device=lead.device)[None, :]
        idx = (int(lead.max()) - lead[:, None] + t).to(logps.device)
        logps = logps.gather(1, idx)
        if entropies is not None:
            entropies = entropies.gather(1, idx.to(entropies.device))
        return logps, entropies, aux


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number (e.g. a string): nothing to check


class DivergenceGuard(TrainerCallback):
    """Raise :class:`TrainingDiverged` on a non-finite gradient norm or logged loss.

    Gradients are checked before every optimizer step (one reduction over all
    gradients), logged ``loss`` / ``grad_norm`` values at every log.
    """

    def __init__(self, stage: str = "training"):
        self.stage = stage

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if model is None:
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if not grads:
            return
        norms = torch._foreach_norm(grads)
        total = torch.stack([n.float() for n in norms]).norm()
        if not torch.isfinite(total):
            raise TrainingDiverged(
                f"{self.stage} diverged at step {state.global_step + 1}: the gradient norm is "
                f"{float(total)}; no model is written. Lower the learning rate, or check the "
                "attention implementation (see genrec.rl.trainer)"
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "grad_norm"):
            if logs and key in logs and not _finite(logs[key]):
                raise TrainingDiverged(
                    f"{self.stage} diverged at step {state.global_step}: logged {key} = "
                    f"{logs[key]}; no model is written"
                )
