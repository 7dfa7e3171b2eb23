"""A training job killed for real right after a checkpoint (a helper module for the SFT and
RL resume tests, importable as ``kill_helpers``: tests/ is on sys.path through
tests/conftest.py).

:func:`run_killed_after_checkpoint` runs a training entry point (``train_sft``,
``train_grpo``: anything that takes ``callbacks``) in a fresh process that sends
itself SIGKILL as soon as the Trainer has written the checkpoint of a given step:
no exception, no ``finally`` block, no atexit handler runs, as when a cluster
preempts the job. The parent then reruns the job the way Snakemake would.
"""

from __future__ import annotations

import multiprocessing
import os
import signal

from transformers import TrainerCallback


class KillAfterCheckpoint(TrainerCallback):
    """SIGKILL this process once the checkpoint of ``step`` is on disk (``on_save`` runs
    after the Trainer wrote it: weights, optimizer, scheduler, RNG and trainer state)."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def _child(entry, threads, step, args, kwargs):
    import torch

    torch.set_num_threads(threads)  # the parent's: same float reductions in both processes
    entry(*args, callbacks=[KillAfterCheckpoint(step)], **kwargs)
    os._exit(3)  # the run ended without reaching the checkpoint of `step`


def run_killed_after_checkpoint(entry, step: int, *args, timeout: float = 600, **kwargs) -> int:
    """Run ``entry(*args, callbacks=[...], **kwargs)`` in a spawned process killed right
    after the checkpoint of ``step``; return its exit code (``-SIGKILL`` when killed)."""
    import torch

    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no state of this one
    proc = ctx.Process(target=_child, args=(entry, torch.get_num_threads(), step, args, kwargs))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        raise TimeoutError(f"{entry.__name__} ran past {timeout} s")
    return proc.exitcode
