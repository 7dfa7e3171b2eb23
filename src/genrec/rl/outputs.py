"""The RL stage outputs: the policy (model + tokenizer), the log history with run facts
(JSON) and the training curves (PNG)."""

from __future__ import annotations

import logging

from genrec.distributed import peak_gpu_memory_mb
from genrec.io import atomic_path, write_json
from genrec.rl.plot import plot_curves

log = logging.getLogger(__name__)


def write_outputs(
    policy,
    tokenizer,
    history,
    global_step,
    facts,
    rollout,
    runtime,
    out_model,
    out_history,
    out_curves,
) -> None:
    """Write the policy to ``out_model``, ``facts`` + run counters + ``history`` to
    ``out_history`` (JSON) and the curves of ``history`` to ``out_curves`` (PNG)."""
    from genrec.lm import write_prompt_limit

    with atomic_path(out_model, directory=True) as tmp:
        policy.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_prompt_limit(tmp, rollout.max_prompt_length)
    summary = {
        **facts,
        "global_step": global_step,
        "rollout_calls": rollout.calls,
        "invalid_completions": rollout.invalid,
        "train_runtime": runtime,
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
        "log_history": history,
    }
    write_json(summary, out_history)
    method = facts.get("sid_method")
    plot_curves(history, out_curves, title=f"GRPO ({method})" if method else "GRPO")
    log.info("RL done: %d steps; model -> %s", global_step, out_model)
