"""Helpers shared by the SID tests (a unique module name: tests/sid is on sys.path for them)."""

import numpy as np
import pandas as pd


def items_table(n: int, title: str = "title {}", description: str = "desc {}") -> pd.DataFrame:
    """An ``items.parquet``-shaped table of ``n`` items; ``title``/``description`` are
    formatted with the item id."""
    return pd.DataFrame(
        {
            "item_id": np.arange(n, dtype=np.int64),
            "source_id": [f"P{i}" for i in range(n)],
            "title": [title.format(i) for i in range(n)],
            "description": [description.format(i) for i in range(n)],
            "brand": ["b"] * n,
            "categories": [["c"]] * n,
        }
    )
