"""Atomic output helpers: write to a temporary sibling, then rename.

A failing step never leaves a half-written file (or directory) at the
declared output path.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place on success.

    With ``directory=True`` the temporary path is an (empty) directory, for
    ``save_pretrained``/``save_to_disk`` outputs. On error the temporary is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def require_outputs(outputs: Mapping, names: Iterable[str], stage: str) -> dict[str, Path]:
    """The paths ``outputs`` gives for ``names``, checked before a stage does any work: a
    ValueError names every output without a path."""
    names = list(names)
    missing = [name for name in names if name not in outputs]
    if missing:
        raise ValueError(f"{stage}: no output path for {missing}")
    return {name: Path(outputs[name]) for name in names}


def hash_path(h, path: str | Path, with_names: bool = True) -> None:
    """Feed ``path`` into the hashlib object ``h``: a file's bytes, or a directory's files
    (sorted, each preceded by its relative name). ``with_names`` also prefixes a single
    file with its name (checkpoint fingerprints); without it a file hashes to its plain
    ``sha256sum``.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        elif with_names:
            h.update(f.name.encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)


def write_json(obj: Any, path: str | Path, indent: int = 2) -> None:
    """Write ``obj`` as JSON atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=indent, sort_keys=False)
            fh.write("\n")


def write_parquet(df, path: str | Path) -> None:
    """Write a pandas DataFrame to Parquet atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_npy(array, path: str | Path) -> None:
    """Write a numpy array atomically."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)
