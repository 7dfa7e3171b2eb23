"""Item text for the encoder: chosen fields of ``items.parquet``, cleaned and joined."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

FIELDS = ("title", "description", "brand", "categories")
_TAG_RE = re.compile(r"<[^>]+>")
_WS_RE = re.compile(r"\s+")


def clean_text(text) -> str:
    """Unescape HTML entities, drop tags, collapse whitespace; ``None``/NaN give ``""``."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = html.unescape(str(text))
    text = _TAG_RE.sub(" ", text)
    return _WS_RE.sub(" ", text).strip()


def _field_text(field: str, value) -> str:
    if field == "categories":
        if value is None or isinstance(value, float):
            return ""
        parts = [clean_text(v) for v in list(value)]
        parts = [p for p in parts if p]
        return f"Categories: {', '.join(parts)}" if parts else ""
    text = clean_text(value)
    if field == "brand" and text:
        return f"Brand: {text}"
    return text


def item_texts(items: pd.DataFrame, fields: Sequence[str] = ("title", "description")) -> list[str]:
    """One text per row of ``items``: the non-empty cleaned ``fields`` joined with ``". "``.

    Raises ``ValueError`` for an unknown field or one missing from the table.
    """
    for f in fields:
        if f not in FIELDS:
            raise ValueError(f"embed.fields: unknown field {f!r} (choose from {list(FIELDS)})")
        if f not in items.columns:
            raise ValueError(f"items table has no column {f!r} (needed by embed.fields)")
    out = []
    for row in items[list(fields)].itertuples(index=False):
        parts = [_field_text(f, v) for f, v in zip(fields, row, strict=True)]
        out.append(". ".join(p.rstrip(".") for p in parts if p))
    return out
