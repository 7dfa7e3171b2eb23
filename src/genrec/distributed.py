"""Multi-GPU launching: one Snakemake job, N processes via ``accelerate launch``.

One protocol for every stage (embedding, SFT, RL, evaluation). A stage entry
point takes the rule's GPU count; with more than one GPU it calls
:func:`launch` with the name of a per-rank function (``"module:function"``) and
that function's keyword arguments. :func:`launch` writes them to a JSON file
and runs ``accelerate launch -m genrec.distributed <file>``; every rank then
runs :func:`main`, which sets up logging and calls the function. Ranks shard
the work (:func:`shard_bounds`, or the Trainer's own data-parallel sampler) and
rank 0 gathers and writes the outputs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genrec import params as params_codec
from genrec.params import Params

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """``value`` with paths as strings and parameter objects as tagged records (the
    launch file is JSON; :func:`main` turns the records back into the objects)."""
    if isinstance(value, Params):
        return params_codec.encode(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _revive(value: Any) -> Any:
    """The inverse of :func:`_jsonable` for parameter objects, at any depth."""
    if params_codec.is_encoded(value):
        return params_codec.decode(value)
    if isinstance(value, dict):
        return {k: _revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value


def launch(
    entry: str,
    kwargs: Mapping[str, Any],
    num_processes: int,
    args_file: str | Path,
    mixed_precision: str = "no",
) -> None:
    """Run ``entry(**kwargs)`` on ``num_processes`` ranks under ``accelerate launch``.

    ``entry`` is ``"package.module:function"``; ``kwargs`` must be JSON-serialisable
    (paths become strings; :class:`genrec.params.Params` objects arrive as the same
    objects) and are written to ``args_file``. With one process and
    several GPUs visible, the rank sees only the first (a process that sees several
    GPUs makes ``Trainer`` wrap the model in ``DataParallel``). Raises
    ``RuntimeError`` with the exit code when a rank fails.
    """
    module, _, func = entry.partition(":")
    if not module or not func:
        raise ValueError(f"launch entry must be 'module:function', got {entry!r}")
    args_file = Path(args_file)
    args_file.parent.mkdir(parents=True, exist_ok=True)
    args_file.write_text(json.dumps({"entry": entry, "kwargs": _jsonable(dict(kwargs))}))
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(num_processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        mixed_precision,
        "--dynamo_backend",
        "no",
    ]
    if num_processes > 1:
        cmd.append("--multi_gpu")
    cmd += ["-m", "genrec.distributed", str(args_file)]
    log.info("launching %s: %s", entry, " ".join(cmd))
    env = dict(os.environ)
    # NVLink multicast can take shared GPUs out of service; keep it off.
    env.setdefault("NCCL_NVLS_ENABLE", "0")
    env.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
    if num_processes == 1 and visible_gpus() > 1:
        visible = env.get("CUDA_VISIBLE_DEVICES")
        env["CUDA_VISIBLE_DEVICES"] = visible.split(",")[0] if visible else "0"
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"`accelerate launch` of {entry} failed with exit code {proc.returncode}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """One rank: ``python -m genrec.distributed ARGS_FILE`` (what :func:`launch` runs)."""
    from genrec.logging import setup_logging

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("args_file", help="JSON written by genrec.distributed.launch")
    ns = parser.parse_args(argv)
    spec = json.loads(Path(ns.args_file).read_text())
    module, _, func = spec["entry"].partition(":")
    setup_logging(None)
    getattr(importlib.import_module(module), func)(**_revive(spec["kwargs"]))


def rank_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) of this process (0, 1, 0 outside ``accelerate launch``)."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def needs_launch(num_gpus: int) -> bool:
    """Whether a training entry point given ``num_gpus`` must run under :func:`launch`:
    several GPUs, or one GPU while this process sees several (``Trainer`` would wrap the
    model in ``DataParallel``: a global batch N times the configured one, and refused by
    ``GRPOTrainer``), and this process is not a launched rank already."""
    _, world_size, _ = rank_info()
    launched = world_size > 1 or "LOCAL_RANK" in os.environ
    return not launched and (num_gpus > 1 or (num_gpus == 1 and visible_gpus() > 1))


def visible_gpus() -> int:
    """CUDA devices this process can see (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous [start, end) slice of ``n`` items for ``rank`` of ``world_size``."""
    per, extra = divmod(n, world_size)
    start = rank * per + min(rank, extra)
    return start, start + per + (1 if rank < extra else 0)


def pick_device(num_gpus: int) -> str:
    """``cuda`` when the rule was given GPUs and CUDA is available, else ``cpu``."""
    import torch

    if num_gpus > 0 and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def peak_gpu_memory_mb() -> float | None:
    """Peak GPU memory this process allocated through torch (MiB), or None without CUDA.

    Stages store it in their JSON summaries as ``peak_gpu_memory_mb``; with several
    ranks it is rank 0's peak (the ranks do the same work on equal shards).
    """
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


if __name__ == "__main__":
    main()
