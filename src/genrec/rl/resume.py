"""Resuming an RL run: the fingerprint of its settings and inputs, the checkpoint to
resume from, and whether that checkpoint already ends the run.

Checkpoints live in ``checkpoint_dir`` (undeclared by the workflow); it carries a
fingerprint of the training parameters and inputs, and checkpoints of another
fingerprint are removed.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from genrec import checkpoint
from genrec.rl.params import RlParams

log = logging.getLogger(__name__)

# Parameters that do not change the trained model.
_UNTRAINED = ("save_steps", "logging_steps")


def fingerprint(params: RlParams, inputs) -> tuple[str, dict]:
    """(digest, settings): the hash of ``params`` (less logging/saving cadence) and ``inputs``."""
    settings = {k: v for k, v in params.to_dict().items() if k not in _UNTRAINED}
    return checkpoint.fingerprint(settings, inputs), settings


def prepare_checkpoint_dir(checkpoint_dir: Path, digest: str, settings: dict) -> str | None:
    """The checkpoint to resume from, or None; stale checkpoints (other params) are removed."""
    from transformers.trainer_utils import get_last_checkpoint

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if not checkpoint.stamped_with(checkpoint_dir, digest):
        stale = list(checkpoint_dir.glob("checkpoint-*"))
        if stale:
            log.warning("%s holds checkpoints of another RL run; starting afresh", checkpoint_dir)
        for sub in stale:
            shutil.rmtree(sub)
    checkpoint.stamp(checkpoint_dir, digest, settings)
    last = get_last_checkpoint(str(checkpoint_dir))
    if last:
        log.info("resuming from %s", last)
    return last


def finished_state(resume: str | None) -> dict | None:
    """The trainer state of checkpoint ``resume`` when it is the end of its run, else None."""
    if resume is None:
        return None
    path = Path(resume) / "trainer_state.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if state.get("max_steps", 0) > 0 and state.get("global_step", 0) >= state["max_steps"]:
        return state
    return None
