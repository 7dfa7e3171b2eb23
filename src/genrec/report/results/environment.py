"""Software and hardware section: a recorded environment, or one gathered now."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping

from genrec.report.results.markdown import md_table

ENV_PACKAGES = ("torch", "transformers", "trl", "accelerate", "datasets", "snakemake", "genrec")


def gather_environment() -> dict:
    """Versions and hardware of the machine running this function."""
    from importlib import metadata

    env = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ENV_PACKAGES:
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[pkg] = "not installed"
    env["cpu_count"] = os.cpu_count()
    try:
        import torch

        if torch.cuda.is_available():
            env["cuda_device"] = torch.cuda.get_device_name(0)
            env["cuda_device_count"] = torch.cuda.device_count()
            env["cuda"] = torch.version.cuda
        else:
            env["cuda_device"] = "none (CPU only)"
    except ImportError:
        env["cuda_device"] = "unknown (torch not importable)"
    return env


def environment_section(env: Mapping, source: str) -> str:
    rows = [
        [k, json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v]
        for k, v in env.items()
    ]
    return f"{source}\n\n" + md_table(["item", "value"], rows)
