"""Report parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.params import Params


@dataclass(frozen=True)
class ReportParams(Params):
    """``report``: ``sort_by`` (a metrics.csv column to order rows by, descending; None =
    input order) and the ``dpi`` of the plots."""

    SECTION = "report"
    sort_by: str | None
    dpi: int
