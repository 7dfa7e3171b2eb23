"""SFT-stage parameters (torch-free: built when Snakemake builds the DAG).

Two objects, one per rule, so that a change to a training key does not rebuild
the task datasets and vice versa: :class:`SftDataParams` (``build_sft_datasets``)
and :class:`SftTrainParams` (``train_sft``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genrec.lm.params import LmParams
from genrec.params import Params, ParamsError, check_multiple
from genrec.schema import schema_defaults


@dataclass(frozen=True)
class SftDataParams(Params):
    """``sft.tasks`` (examples per task from the train split: None = all, 0 = off),
    ``sft.max_valid_samples`` and the resolved ``sft.seed`` of the sampling."""

    SECTION = "sft"
    tasks: dict[str, Any]
    max_valid_samples: int | None
    seed: int

    def task_limits(self) -> dict[str, int | None]:
        """Task name -> ``max_samples``."""
        return {name: spec["max_samples"] for name, spec in self.tasks.items()}


@dataclass(frozen=True)
class SftTrainParams(Params):
    """The training keys of ``sft`` plus the ``lm`` section (config/README.md)."""

    SECTION = "sft"
    cutoff_len: int
    epochs: float
    max_steps: int | None
    learning_rate: float
    scheduler: str
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    per_device_batch_size: int
    per_device_eval_batch_size: int
    global_batch_size: int
    eval_steps: int | None
    logging_steps: int
    early_stopping_patience: int
    bf16: Any
    dataloader_workers: int
    pad_to_multiple_of: int
    compile: bool
    cuda_graphs: bool
    keep_checkpoints: bool
    seed: int
    lm: LmParams

    def __post_init__(self):
        check_multiple(
            "global_batch_size", self.global_batch_size,
            "sft.per_device_batch_size", self.per_device_batch_size,
        )  # fmt: skip
        if self.cuda_graphs and not self.compile:
            raise ParamsError("cuda_graphs", "needs sft.compile: true (graphs of compiled layers)")

    @classmethod
    def from_config(cls, config: Mapping) -> SftTrainParams:
        return cls.from_section(config["sft"], lm=LmParams.from_config(config))

    @classmethod
    def defaults(cls, lm: LmParams | None = None, **overrides: Any) -> SftTrainParams:  # type: ignore[override]
        return cls.from_section(schema_defaults("sft", **overrides), lm=lm or LmParams.defaults())

    def fingerprint_fields(self) -> dict:
        """What determines the training run: not ``keep_checkpoints``, nor how batches are
        collated (``dataloader_workers``, ``pad_to_multiple_of``: padding is masked) or the
        layers run (``compile``, ``cuda_graphs``), so a run interrupted under one setting
        resumes under another."""
        d = self.to_dict()
        execution = ("dataloader_workers", "pad_to_multiple_of", "compile", "cuda_graphs")
        for key in ("keep_checkpoints", *execution):
            d.pop(key)
        return d
