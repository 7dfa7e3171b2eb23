"""Which metrics.json files the summary table collects (used by rules/report.smk)."""

from __future__ import annotations

BASELINES = ("popularity", "sasrec")


def sid_methods(config: dict) -> list[str]:
    """Configured SID method names (``sid.methods`` as a list of names or a mapping)."""
    methods = config.get("sid", {}).get("methods", [])
    if isinstance(methods, dict):
        return list(methods)
    return [m if isinstance(m, str) else m["name"] for m in methods]


def generative_stages(config: dict) -> list[str]:
    """Evaluated generative stages: ``sft``, plus ``rl`` unless ``rl.enabled`` is false."""
    return ["sft", "rl"] if config.get("rl", {}).get("enabled", True) else ["sft"]


def enabled_baselines(config: dict) -> list[str]:
    section = config.get("baselines", {})
    return [b for b in BASELINES if section.get(b, {}).get("enabled", True)]


def baseline_metrics_files(config: dict, dataset: str) -> list[str]:
    return [f"results/{dataset}/baselines/{b}/metrics.json" for b in enabled_baselines(config)]


def metrics_files(config: dict, dataset: str) -> list[str]:
    """Every metrics.json that goes into ``results/{dataset}/metrics.csv``: the enabled
    baselines, then ``eval/{method}/{stage}`` for every SID method and generative stage."""
    files = baseline_metrics_files(config, dataset)
    files += [
        f"results/{dataset}/eval/{method}/{stage}/metrics.json"
        for method in sid_methods(config)
        for stage in generative_stages(config)
    ]
    return files


def predictions_files(config: dict, dataset: str, split: str = "test") -> list[str]:
    """The ``predictions.parquet`` beside each metrics file of ``split``: on test every
    model of :func:`metrics_files` (same order); on valid the generative ones."""
    return [
        f.replace("metrics.json", "predictions.parquet")
        for f in split_metrics_files(config, dataset, split)
    ]


def split_metrics_files(config: dict, dataset: str, split: str = "test") -> list[str]:
    """:func:`metrics_files` for ``test``; the generative models' valid-split evaluations
    (``eval/{method}/{stage}/valid/metrics.json``) for ``valid``."""
    if split == "test":
        return metrics_files(config, dataset)
    if split != "valid":
        raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
    return [
        f"results/{dataset}/eval/{method}/{stage}/valid/metrics.json"
        for method in sid_methods(config)
        for stage in generative_stages(config)
    ]
