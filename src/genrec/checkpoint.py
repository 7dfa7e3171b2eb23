"""Trainer checkpoint directories that survive a killed job, but not a changed run.

SFT and RL keep Trainer checkpoints in a path no rule declares (Snakemake deletes
declared outputs before a job), so a rerun can resume. A fingerprint of the
settings and the input files' bytes is stamped into the directory; a rerun whose
fingerprint differs must not resume from it.
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
