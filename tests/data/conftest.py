"""Helpers for the data-stage tests: write small raw files in each Amazon layout."""

import gzip
import json
from pathlib import Path

import pytest

from genrec.data.params import DataParams
from genrec.schema import load_schema, schema_defaults


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
    """The data-stage parameters: the schema defaults with small k-cores."""
    return DataParams.defaults(user_k=2, item_k=2)


def synthetic_block(**overrides) -> dict:
    """A complete ``datasets.<name>.synthetic`` block: schema defaults + ``overrides``.

    ``schema_defaults`` walks ``properties`` only; the block sits under the datasets'
    ``additionalProperties``, so it is looked up here and validated the same way.
    """
    block = load_schema()["properties"]["datasets"]["additionalProperties"]["properties"]
    return schema_defaults("synthetic", {"properties": block}, **overrides)


@pytest.fixture
def synthetic():
    """``synthetic(**overrides)``: see :func:`synthetic_block`."""
    return synthetic_block


@pytest.fixture
def amazon():
    """``amazon.write(path, records, gz=, literal=)``, ``amazon.reviews_2018()``, ``amazon.meta_2018()``."""
    from types import SimpleNamespace

    return SimpleNamespace(write=write_lines, reviews_2018=reviews_2018, meta_2018=meta_2018)
