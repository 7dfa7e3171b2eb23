"""Report parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.params import Params


@dataclass(frozen=True)
class BootstrapParams(Params):
    """``report.bootstrap``: resamples, seed and confidence level of the percentile
    bootstrap intervals (:mod:`genrec.eval.bootstrap`)."""

    SECTION = "report.bootstrap"
    samples: int
    seed: int
    level: float


@dataclass(frozen=True)
class ReportParams(Params):
    """``report``: ``sort_by`` (a metrics.csv column to order rows by, descending; None =
    input order), the ``dpi`` of the plots and the ``bootstrap`` intervals."""

    SECTION = "report"
    sort_by: str | None
    dpi: int
    bootstrap: BootstrapParams
