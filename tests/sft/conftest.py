"""Fixtures for the SFT tests (helpers live in tests/sft_helpers.py: a unique module name)."""

from __future__ import annotations

import pytest
from sft_helpers import make_tables, tiny_sft_data, write_tables


@pytest.fixture
def tables():
    return make_tables()


@pytest.fixture
def sft_inputs(tmp_path, tables):
    """Parquet inputs plus built SFT datasets under tmp_path."""
    from genrec.sft.dataset import build_sft_datasets

    paths = write_tables(tables, tmp_path)
    paths["datasets"] = tmp_path / "datasets"
    build_sft_datasets(
        paths["train"],
        paths["valid"],
        paths["items"],
        paths["sids"],
        paths["datasets"],
        tiny_sft_data(),
    )
    return paths
