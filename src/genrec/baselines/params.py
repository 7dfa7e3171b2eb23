"""Config slices for the baseline rules (torch-free: imported when Snakemake builds the DAG)."""

from __future__ import annotations


def sasrec_params(section: dict, max_history: int, seed: int, gpus: int = 0) -> dict:
    """The ``baselines.sasrec`` config slice with its null/auto values resolved.

    ``max_len: null`` -> the dataset's ``data.max_history``; ``seed: null`` -> the
    top-level seed; ``device: auto`` -> ``cuda`` when the rule is given GPUs
    (``resources.gpu.sasrec > 0``), else ``cpu``. ``enabled`` is dropped.
    """
    out = {k: v for k, v in section.items() if k != "enabled"}
    if out.get("max_len") is None:
        out["max_len"] = int(max_history)
    if out.get("seed") is None:
        out["seed"] = int(seed)
    if out.get("device", "auto") == "auto":
        out["device"] = "cuda" if gpus > 0 else "cpu"
    return out
