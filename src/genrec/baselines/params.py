"""Baseline parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genrec.params import Params
from genrec.schema import schema_defaults


@dataclass(frozen=True)
class PopularityParams(Params):
    """``baselines.popularity``: ``count`` = ``target`` (train targets) or
    ``interactions`` (distinct train interactions)."""

    SECTION = "baselines.popularity"
    count: str


@dataclass(frozen=True)
class SasrecParams(Params):
    """``baselines.sasrec`` without ``enabled``, with its null/auto values resolved:
    ``max_len`` (null -> the dataset's ``data.max_history``), ``device`` (auto ->
    ``cuda`` when the rule is given GPUs, ``resources.gpu.sasrec > 0``, else ``cpu``),
    ``seed`` (resolved at validation, :func:`genrec.schema.resolve_seeds`)."""

    SECTION = "baselines.sasrec"
    hidden_size: int
    num_blocks: int
    num_heads: int
    dropout: float
    max_len: int
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    eval_k: int
    seed: int
    device: str

    def __post_init__(self):
        if self.seed is None:
            raise ValueError("baselines.sasrec.seed is null: validate the config first")
        if self.max_len is None or self.max_len < 1:
            raise ValueError(f"baselines.sasrec.max_len must be >= 1, got {self.max_len}")
        if self.device == "auto":
            raise ValueError("baselines.sasrec.device 'auto' must be resolved (from_section)")

    @classmethod
    def from_section(  # type: ignore[override]
        cls, section: Mapping, max_history: int | None = None, gpus: int = 0, **extra: Any
    ) -> SasrecParams:
        """``section`` with ``max_len: null`` -> ``max_history`` and ``device: auto`` ->
        ``cuda`` if ``gpus > 0`` else ``cpu``."""
        resolved = dict(section)
        if resolved.get("max_len") is None:
            resolved["max_len"] = None if max_history is None else int(max_history)
        if resolved.get("device") == "auto":
            resolved["device"] = "cuda" if gpus > 0 else "cpu"
        return super().from_section(resolved, **extra)

    @classmethod
    def from_config(cls, config: Mapping, dataset: str) -> SasrecParams:
        from genrec.data.params import DataParams

        return cls.from_section(
            config["baselines"]["sasrec"],
            max_history=DataParams.from_config(config, dataset).max_history,
            gpus=config["resources"]["gpu"]["sasrec"],
        )

    @classmethod
    def defaults(  # type: ignore[override]
        cls, max_history: int = 10, gpus: int = 0, **overrides: Any
    ) -> SasrecParams:
        section = schema_defaults(cls.SECTION, **overrides)
        return cls.from_section(section, max_history=max_history, gpus=gpus)
