"""Output paths for tests that call a stage's library function directly (a helper
module, importable as ``outputs_helpers``: tests/ is on sys.path through
tests/conftest.py). The workflow's file names belong to the rules (rules/*.smk); these
unit tests name each file after its output (only the workflow tests use the rules'
names, through data_helpers.DATA_FILES)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def stage_outputs(outdir: str | Path, names: Iterable[str]) -> dict[str, Path]:
    """``{name: outdir / name}`` for each output name (a stage's ``OUTPUTS``).

    No suffix is needed: each output is written through a ``.tmp`` sibling with its
    format given (``savefig(format="png")``, ``np.savez`` into an open file), and
    parquet, npz and ``torch.load`` readers do not look at the name.
    """
    return {name: Path(outdir) / name for name in names}
