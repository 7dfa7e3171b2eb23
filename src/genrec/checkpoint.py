"""Trainer checkpoint directories that survive a killed job, but not a changed run.

SFT and RL keep Trainer checkpoints in a path no rule declares (Snakemake deletes
declared outputs before a job), so a rerun can resume. A fingerprint of the
settings and the input files' bytes is stamped into the directory; a rerun whose
fingerprint differs must not resume from it.

A resumed run must also end as the uninterrupted one would: :func:`log_at_checkpoints`
and :func:`run_train_loss` cover what a Trainer checkpoint does not hold (the
losses summed since the last log).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from genrec.io import hash_path, write_json

STAMP = "genrec_fingerprint.json"


def fingerprint(settings: Mapping, inputs: Iterable[str | Path | None] = ()) -> str:
    """SHA-256 of ``settings`` (as sorted JSON) followed by the bytes of every input path
    (files and directories, :func:`genrec.io.hash_path`; None entries are skipped)."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in inputs:
        if path is not None:
            hash_path(h, Path(path))
    return h.hexdigest()


def stamped_with(checkpoint_dir: str | Path, digest: str) -> bool:
    """Whether ``checkpoint_dir`` was stamped with ``digest``."""
    stamp = Path(checkpoint_dir) / STAMP
    return stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") == digest


def stamp(checkpoint_dir: str | Path, digest: str, settings: Mapping | None = None) -> None:
    """Record ``digest`` (and the settings it covers, for a reader) in ``checkpoint_dir``."""
    record = {"fingerprint": digest}
    if settings is not None:
        record["settings"] = dict(settings)
    write_json(record, Path(checkpoint_dir) / STAMP)


def log_at_checkpoints():
    """A ``TrainerCallback`` that makes the Trainer log at every checkpoint step.

    What the Trainer (and trl) sum up between two logs (the training loss, trl's
    reward and KL metrics) is not part of a checkpoint: when checkpoints fall between
    logging steps, a resumed run's first log would average fewer steps than the
    uninterrupted run's. Logging at each checkpoint (also in an uninterrupted run)
    makes every logged value cover the same steps in both.
    """
    from transformers import TrainerCallback

    class LogAtCheckpoints(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if control.should_save:
                control.should_log = True
            return control

        on_epoch_end = on_step_end  # save_strategy "epoch" decides there

    return LogAtCheckpoints()


def run_train_loss(log_history: Iterable[Mapping]) -> float | None:
    """The mean training loss per optimizer step of the whole run, from the logged losses.

    Each logged ``loss`` is the mean since the log before; the Trainer's own
    ``training_loss`` covers the steps of the last process only (a resumed run's).
    None when nothing was logged.
    """
    total, last = 0.0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            total += float(entry["loss"]) * (entry["step"] - last)
            last = entry["step"]
    return total / last if last else None


class EpochSampler:
    """A wrapper of a training sampler that knows the epoch the Trainer is in (the Trainer
    calls :meth:`set_epoch` before each epoch), so that a subclass's ``__iter__`` can give
    epoch ``e`` the order of an uninterrupted run also in a process that resumed in it."""

    def __init__(self, sampler):
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        raise NotImplementedError("a subclass orders each epoch")
