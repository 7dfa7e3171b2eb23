"""Data-stage parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from genrec.params import Params, ParamsError
from genrec.schema import dataset_data_config


@dataclass(frozen=True)
class TimeWindow(Params):
    """``data.time_window``: ``start`` inclusive, ``end`` exclusive (ISO dates, None =
    open); widen the start by ``widen_step_days`` while fewer than ``min_items`` remain."""

    SECTION = "data.time_window"
    start: str | None
    end: str | None
    min_items: int
    widen_step_days: int


@dataclass(frozen=True)
class SplitParams(Params):
    """``data.split``: ``chronological`` (ratios by target time) or ``leave_one_out``."""

    SECTION = "data.split"
    method: str
    ratios: tuple[float, ...]

    def __post_init__(self):
        if abs(sum(self.ratios) - 1.0) > 1e-6:
            raise ParamsError("ratios", f"{list(self.ratios)} must sum to 1")


@dataclass(frozen=True)
class DataParams(Params):
    """The effective ``data`` section of one dataset (global section merged with the
    dataset's ``data`` override; a dataset's ``format`` wins)."""

    SECTION = "data"
    format: str
    on_bad_line: str
    engine: str
    time_window: TimeWindow
    user_k: int
    item_k: int
    max_title_words: int
    max_history: int
    split: SplitParams

    @classmethod
    def from_config(cls, config: Mapping, dataset: str) -> DataParams:
        return cls.from_section(dataset_data_config(config, dataset))
