"""Helpers for the data-stage tests: write small raw files in each Amazon layout."""

import gzip
import json
from pathlib import Path

import pytest


def write_lines(path: Path, records, gz: bool = False, literal: bool = False) -> Path:
    """One record a line: JSON, or Python literal (``repr``) as in 2014 metadata."""
    lines = [r if isinstance(r, str) else (repr(r) if literal else json.dumps(r)) for r in records]
    text = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def reviews_2018(users=6, items=5, start=1_500_000_000):
    """Every user reviews every item, one day apart (a full bipartite graph)."""
    out = []
    for u in range(users):
        for i in range(items):
            out.append(
                {
                    "reviewerID": f"U{u}",
                    "asin": f"I{i}",
                    "unixReviewTime": start + 86400 * (u + i),
                    "overall": 5.0,
                }
            )
    return out


def meta_2018(items=5):
    return [
        {
            "asin": f"I{i}",
            "title": f"Item <b>{i}</b> &amp; co",
            "description": [f"first {i}", "second"],
            "brand": "Acme",
            "category": ["Top", f"Cat{i % 2}"],
        }
        for i in range(items)
    ]


@pytest.fixture
def params():
    return {
        "format": "auto",
        "on_bad_line": "error",
        "time_window": {"start": None, "end": None, "min_items": 0, "widen_step_days": 365},
        "user_k": 2,
        "item_k": 2,
        "max_title_words": 20,
        "max_history": 10,
        "split": {"method": "chronological", "ratios": [0.8, 0.1, 0.1]},
    }


@pytest.fixture
def amazon():
    """``amazon.write(path, records, gz=, literal=)``, ``amazon.reviews_2018()``, ``amazon.meta_2018()``."""
    from types import SimpleNamespace

    return SimpleNamespace(write=write_lines, reviews_2018=reviews_2018, meta_2018=meta_2018)
