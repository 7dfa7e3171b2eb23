"""Multi-GPU launching: one Snakemake job, N processes via ``accelerate launch``.

A stage entry point takes ``num_processes`` (the rule's ``resources.gpu``).
With 0 or 1 it runs in-process; with N > 1 it re-runs its own module under
``accelerate launch --num_processes N -m <module> <args>``; each rank works on
its shard and rank 0 gathers (see :func:`shard_bounds`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)


def launch(
    module: str, args: Sequence[str], num_processes: int, mixed_precision: str = "no"
) -> None:
    """Run ``python -m module args`` under ``accelerate launch`` with ``num_processes`` ranks.

    Raises ``RuntimeError`` (with the exit code) when the launched job fails.
    """
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
    cmd += ["-m", module, *map(str, args)]
    log.info("launching: %s", " ".join(cmd))
    env = dict(os.environ)
    # NVLink multicast can take shared GPUs out of service; keep it off.
    env.setdefault("NCCL_NVLS_ENABLE", "0")
    env.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"`accelerate launch` of {module} failed with exit code {proc.returncode}"
        )


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
