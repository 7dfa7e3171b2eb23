"""Config slices for the baseline rules (torch-free: imported when Snakemake builds the DAG)."""

from __future__ import annotations


def sasrec_params(section: dict, max_history: int, gpus: int = 0) -> dict:
    """The validated ``baselines.sasrec`` config section with its null/auto values resolved.

    ``max_len: null`` -> the dataset's ``data.max_history``; ``device: auto`` ->
    ``cuda`` when the rule is given GPUs (``resources.gpu.sasrec > 0``), else
    ``cpu``. ``enabled`` is dropped. The seed comes resolved from the validated
    config (:func:`genrec.config.resolve_seeds`); a null seed is refused.
    """
    out = {k: v for k, v in section.items() if k != "enabled"}
    if out["max_len"] is None:
        out["max_len"] = int(max_history)
    if out["seed"] is None:
        raise ValueError("baselines.sasrec.seed is null: validate the config first")
    if out["device"] == "auto":
        out["device"] = "cuda" if gpus > 0 else "cpu"
    return out
