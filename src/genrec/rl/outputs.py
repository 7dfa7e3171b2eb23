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
    counters,
    max_prompt_length,
    out_model,
    out_history,
    out_curves,
) -> None:
    """Write the policy to ``out_model``, ``facts`` + run counters + ``history`` to
    ``out_history`` (JSON) and the curves of ``history`` to ``out_curves`` (PNG).

    ``counters``: :meth:`genrec.rl.trainer.RunCounters.snapshot`, the totals of the
    whole run (every process that trained it; None where unknown).
    """
    from genrec.lm import write_prompt_limit

    with atomic_path(out_model, directory=True) as tmp:
        policy.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_prompt_limit(tmp, max_prompt_length)
    summary = {
        **facts,
        "global_step": global_step,
        "rollout_calls": counters["rollout_calls"],
        "invalid_completions": counters["invalid_completions"],
        "train_runtime": counters["train_seconds"],
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
        "log_history": history,
    }
    write_json(summary, out_history)
    method = facts.get("sid_method")
    plot_curves(history, out_curves, title=f"GRPO ({method})" if method else "GRPO")
    log.info("RL done: %d steps; model -> %s", global_step, out_model)
