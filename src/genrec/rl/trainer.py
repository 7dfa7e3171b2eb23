"""trl's ``GRPOTrainer`` made safe for left-padded prompts, and divergence guards.

**Why right-alignment.** trl scores a completion by running the model over
``[left-padded prompt | completion]``. Every pad position at the start of a
row is a query that may attend to no key at all: a fully masked attention row.
On CUDA, PyTorch's SDPA kernels turn such rows into NaN activations; the loss
never reads those positions, but their NaNs reach every weight gradient through
the backward matrix products (0 x NaN = NaN). That was the GRPO failure on the
GPU: ``grad_norm`` NaN from the first logged step, then a model that emits a
single code. Eager attention fills masked scores with a finite minimum instead,
which is why it trained. :class:`SafeGRPOTrainer` rotates each row left by its
number of leading pads before the forward pass, so the padding sits at the end,
where a pad query still sees the real tokens before it and no row is fully
masked, then gathers the completion log-probabilities back in trl's layout.
Rotary position embeddings depend only on relative positions, so real tokens
get the same attention as before (and the same positions that generation used:
counted from the first real token). The fast SDPA path stays in use.

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
        width = input_ids.shape[1]
        ids = rotate_left(input_ids, lead)
        mask = rotate_left(attention_mask, lead)
        # scores of every position but the first: out[:, j] belongs to rotated token j + 1
        logps, entropies, aux = super()._get_per_token_logps_and_entropies(
            model, ids, mask, width - 1, *args, **kwargs
        )
        # completion token t sits at width - keep + t, i.e. at width - keep + t - lead rotated
        pos = torch.arange(width - logits_to_keep, width, device=lead.device)[None, :]
        idx = (pos - lead[:, None] - 1).to(logps.device)
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
