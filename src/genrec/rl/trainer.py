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

**Resume.** trl's ``RepeatSampler`` seeds its generator once and draws the next
permutation every time an epoch starts, so a run resumed in epoch ``e > 0`` drew
epoch 0's order again. :class:`EpochReplaySampler` replays the seeded generator to
epoch ``e`` (the Trainer calls ``set_epoch``): a resumed run trains on the batches
of the uninterrupted one.

**Guards.** :class:`DivergenceGuard` stops training with
:class:`TrainingDiverged` when a loss or gradient norm is not finite, before the
optimizer applies the step; nothing is written afterwards.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from transformers import TrainerCallback
from trl import GRPOTrainer

from genrec.checkpoint import EpochSampler
from genrec.io import atomic_path, write_json

#: file in each GRPO checkpoint with the run's counters (:class:`RunCounters`)
COUNTERS = "genrec_run_counters.json"
#: file in each GRPO checkpoint with the reference model, when ``sync_ref_model`` moves it
REF_MODEL = "genrec_ref_model.safetensors"


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


def cache_keyword(module) -> str:
    """The keyword a model's forward takes its KV cache by: ``cache`` in newer
    transformers releases, ``past_key_values`` before (and deprecated after)."""
    import inspect

    params = inspect.signature(type(module).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def shared_prompt_logps(
    model, module, input_ids, attention_mask, logits_to_keep, compute_entropy, autocast
):
    """Per-token log-probabilities (and entropies) of the completions in
    ``input_ids = [left-padded prompt | completion]`` (trl's layout, ``logits_to_keep``
    completion columns), running every distinct prompt through the model once.

    GRPO scores G completions of each prompt, and a prompt is most of a row (a SID
    history of ~100 tokens before a 4-token SID), so trl's row-by-row scoring runs the
    same prompt G times. Here the distinct prompts (``torch.unique`` over the masked
    prompt columns) are right-aligned and run once with a KV cache, all but their last
    token; the cache is expanded to the rows (``index_select``, differentiable, so the
    gradients of all G rows reach the shared prompt pass); a second pass runs each row's
    ``[last prompt token | completion]`` at positions ``len - 1, len, ...`` through the
    fused LM head. Attention sees the same tokens at the same relative positions as the
    full-row scoring, and no query row is fully masked. ``model`` runs the second pass
    (the wrapped model, as trl calls it), ``module`` (its unwrapped module) the first.

    Returns ``(logps, entropies or None)`` of shape ``[B, logits_to_keep]``, or None
    when a prompt has fewer than 2 real tokens (the caller scores such batches row by row).
    """
    width = input_ids.shape[1] - logits_to_keep
    p_mask = attention_mask[:, :width].to(torch.long)
    lengths = p_mask.sum(dim=1)
    if width < 2 or bool((lengths < 2).any()):
        return None
    prompts = input_ids[:, :width].masked_fill(p_mask == 0, -1)
    uniq, inverse = torch.unique(prompts, dim=0, return_inverse=True)
    # one row per distinct prompt: its first occurrence
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    first = torch.full((len(uniq),), input_ids.shape[0], device=input_ids.device)
    first = first.scatter_reduce(0, inverse, rows, reduce="amin")
    lead = leading_pads(p_mask[first])
    ids = rotate_left(input_ids[first, :width], lead)
    mask = rotate_left(p_mask[first], lead)
    u_len = lengths[first]
    cols = torch.arange(width, device=ids.device)[None, :]
    last_col = (u_len - 1)[:, None]
    last_tok = ids.gather(1, last_col)  # [U, 1]
    # the prefix: every real token but the last (which starts the second pass)
    pre_mask = mask.masked_fill(cols == last_col, 0)
    pre_ids = ids.masked_fill(pre_mask == 0, int(input_ids[0, 0]))
    from transformers import DynamicCache

    # filled in place by the forward pass (a training config has use_cache off); the
    # keyword is `past_key_values` up to transformers 5.2x, `cache` after it
    cache = DynamicCache(config=module.config)
    given = {cache_keyword(module): cache}
    with autocast():
        module(
            input_ids=pre_ids,
            attention_mask=pre_mask,
            position_ids=cols.expand(len(uniq), -1),
            use_cache=True,
            logits_to_keep=1,
            **given,
        )
    if cache.get_seq_length() != width:
        raise RuntimeError(
            f"the prompt pass filled {cache.get_seq_length()} of {width} cache slots"
        )
    cache.reorder_cache(inverse)
    c_ids = input_ids[:, width:]
    c_mask = attention_mask[:, width:].to(torch.long)
    tokens = torch.cat([last_tok[inverse], c_ids], dim=1)
    full_mask = torch.cat([pre_mask[inverse], torch.ones_like(c_mask[:, :1]), c_mask], dim=1)
    positions = (u_len - 1)[inverse][:, None] + torch.arange(logits_to_keep + 1, device=ids.device)[
        None, :
    ]
    labels = torch.cat(
        [torch.full_like(c_ids[:, :1], -100), c_ids.masked_fill(c_mask == 0, -100)], dim=1
    )
    with autocast():
        out = model(
            input_ids=tokens,
            attention_mask=full_mask,
            position_ids=positions,
            labels=labels,
            fused_lm_head=True,
            **given,
        )
    return out.log_probs, (out.entropy if compute_entropy else None)


class EpochReplaySampler(EpochSampler):
    """trl's ``RepeatSampler`` (shuffled, seeded) whose order in epoch ``e`` is the
    ``e + 1``-th permutation of its seeded generator, whatever the process iterated
    before: the order an uninterrupted run (one iteration per epoch) gets, also in a
    process that resumed in epoch ``e``. An unshuffled or unseeded sampler is left as is."""

    def __iter__(self):
        s = self.sampler
        if s.shuffle and s.seed is not None:
            s.generator.manual_seed(s.seed)
            for _ in range(self.epoch):  # the permutations of the epochs before
                torch.randperm(s.num_samples, generator=s.generator)
        return iter(s)


class SafeGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose forward passes never contain a fully masked attention row,
    and that scores exactly the completion tokens.

    Rows are rotated as the module doc says; the labels handed to trl's fused LM head
    (``add_fused_lm_head``: log-probabilities of the labelled positions only, no logits
    tensor) are each row's completion positions and nothing else, so scoring costs the
    same whatever the spread of prompt lengths in a batch (a mix of short title prompts
    and long title histories included). Text models only: a multimodal input is refused.

    Run counters (:class:`genrec.rl.rollout.ConstrainedRollout`'s generate calls and
    invalid completions, and the training time) are written into every checkpoint
    (:data:`COUNTERS`) and read back on resume, so a resumed or already-finished run
    reports the totals of the whole run.
    """

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **multimodal,
    ):
        given = sorted(k for k, v in multimodal.items() if v is not None)
        if given:
            raise ValueError(f"genrec's GRPO scoring is for text models; got {given}")
        if getattr(self, "shared_prompt_scoring", False) and not compute_aux_loss:
            step = batch_size or input_ids.shape[0]
            parts = [
                shared_prompt_logps(
                    model,
                    self.accelerator.unwrap_model(model),
                    input_ids[s : s + step],
                    attention_mask[s : s + step],
                    logits_to_keep,
                    compute_entropy,
                    self.accelerator.autocast,
                )
                for s in range(0, input_ids.shape[0], step)
            ]
            if all(p is not None for p in parts):
                return (
                    torch.cat([p[0] for p in parts], dim=0),
                    torch.cat([p[1] for p in parts], dim=0) if compute_entropy else None,
                    None,
                )
        lead = leading_pads(attention_mask)
        ids = rotate_left(input_ids, lead)
        mask = rotate_left(attention_mask, lead)
        width = ids.shape[1]
        # completion token t of row i sits at column width - keep + t - lead[i] after the
        # rotation; the fused head's output column c - 1 scores the token at column c
        first = width - logits_to_keep - lead
        cols = torch.arange(width, device=ids.device)[None, :]
        score = (cols >= first[:, None]) & (mask == 1)
        idx = first[:, None] - 1 + torch.arange(logits_to_keep, device=ids.device)[None, :]
        step = batch_size or ids.shape[0]
        logps, entropies, aux = [], [], []
        for start in range(0, ids.shape[0], step):
            sl = slice(start, start + step)
            labels = ids[sl].masked_fill(~score[sl], -100)
            kwargs = {"output_router_logits": True} if compute_aux_loss else {}
            with self.accelerator.autocast():
                out = model(
                    input_ids=ids[sl], attention_mask=mask[sl], labels=labels,
                    fused_lm_head=True, **kwargs,
                )  # fmt: skip
            logps.append(out.log_probs.gather(1, idx[sl]))
            if compute_entropy:
                entropies.append(out.entropy.gather(1, idx[sl]))
            if compute_aux_loss:
                aux.append(out.aux_loss)
        return (
            torch.cat(logps, dim=0),
            torch.cat(entropies, dim=0) if compute_entropy else None,
            torch.stack(aux).mean() if compute_aux_loss else None,
        )

    def _get_train_sampler(self, dataset=None):
        return EpochReplaySampler(super()._get_train_sampler(dataset))

    # ---------------------------------------------------------------- run counters
    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        folder = Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        if not folder.is_dir() or not self.is_world_process_zero():
            return
        counters = getattr(self, "run_counters", None)
        if counters is not None:
            write_json(counters.snapshot(), folder / COUNTERS)
        if self.args.sync_ref_model and self.ref_model is not None:
            # the reference model moves with the policy (TR-DPO): a resume needs it back
            from safetensors.torch import save_file

            state = self.accelerator.unwrap_model(self.ref_model).state_dict()
            with atomic_path(folder / REF_MODEL) as tmp:
                save_file({k: v.detach().cpu().clone().contiguous() for k, v in state.items()}, tmp)

    def restore_ref_model(self, checkpoint: str | Path | None) -> None:
        """Load the synced reference model that ``checkpoint`` saved (``sync_ref_model``
        runs); nothing to do for a fresh run or without reference-model updates."""
        if checkpoint is None or not self.args.sync_ref_model or self.ref_model is None:
            return
        path = Path(checkpoint) / REF_MODEL
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the checkpoint has no reference model, but rl.sync_ref_model "
                "updates it during training; delete the checkpoint directory to start afresh"
            )
        from safetensors.torch import load_file

        ref = self.accelerator.unwrap_model(self.ref_model)
        ref.load_state_dict(load_file(path, device=str(next(ref.parameters()).device)))


def _finite_or_zero(value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


class RunCounters:
    """Totals of a GRPO run over all the processes that trained it (resumes included):
    rollout generate calls, invalid completions and training seconds.

    ``rollout`` is the run's :class:`~genrec.rl.rollout.ConstrainedRollout` (its
    counters start at 0 in every process); ``start(resumed_from)`` adds what the
    checkpoint recorded (a checkpoint without the file, written before counters
    existed, makes the totals unknown: None); ``load(resumed_from)`` alone does that
    without counting time (a finished run that only writes its outputs).
    """

    def __init__(self, rollout):
        self.rollout = rollout
        self.base = {"rollout_calls": 0, "invalid_completions": 0, "train_seconds": 0.0}
        self.known = True
        self._t0 = None

    def load(self, resumed_from: str | Path | None) -> None:
        """Start from the totals that checkpoint ``resumed_from`` recorded (None: a fresh run)."""
        if resumed_from is not None:
            path = Path(resumed_from) / COUNTERS
            if path.is_file():
                saved = json.loads(path.read_text())
                self.base = {k: saved.get(k, v) for k, v in self.base.items()}
            else:
                self.known = False

    def start(self, resumed_from: str | Path | None) -> None:
        """:meth:`load`, then count this process's training seconds from now on."""
        import time

        self.load(resumed_from)
        self._t0 = time.perf_counter()

    def snapshot(self) -> dict:
        """The totals now (None where unknown)."""
        import time

        elapsed = 0.0 if self._t0 is None else time.perf_counter() - self._t0
        if not self.known:
            return {"rollout_calls": None, "invalid_completions": None, "train_seconds": None}
        return {
            "rollout_calls": self.base["rollout_calls"] + self.rollout.calls,
            "invalid_completions": self.base["invalid_completions"] + self.rollout.invalid,
            "train_seconds": _finite_or_zero(self.base["train_seconds"]) + elapsed,
        }


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number (e.g. a string): nothing to check


class TimeLimit(TrainerCallback):
    """Stop training after the first optimizer step that ends ``seconds`` after training
    began (``rl.max_train_minutes``); the run then ends as at its last step (the model is
    written). ``stopped`` tells whether the limit ended it. Under several processes rank
    0's clock decides for all of them (one broadcast per step), so no rank stops alone."""

    def __init__(self, seconds: float, clock=time.monotonic):
        self.seconds = float(seconds)
        self.clock = clock
        self.start: float | None = None
        self.stopped = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = self.clock()

    def on_step_end(self, args, state, control, **kwargs):
        over = self.start is not None and self.clock() - self.start >= self.seconds
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([int(over)], device=args.device)  # the backend's device
            torch.distributed.broadcast(flag, src=0)
            over = bool(flag.item())
        if over and state.global_step < state.max_steps:
            self.stopped = True
            control.should_training_stop = True


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
