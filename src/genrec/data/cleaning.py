"""Item text cleaning: HTML tags removed, entities unescaped, whitespace folded."""

from __future__ import annotations

import html

import pandas as pd
import pyarrow as pa

_TAG = r"<[^<>]*>"
# a tag right before closing punctuation, or right after an opening bracket, leaves no space
_TAG_BEFORE_PUNCT = r"<[^<>]*>(?=\s*[,.;:!?)\]])"
_TAG_AFTER_OPEN = r"(?<=[(\[])<[^<>]*>"


# The items table (items.parquet) of both engines.
ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.int64()),
        ("source_id", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("brand", pa.string()),
        ("categories", pa.list_(pa.string())),
    ]
)


def clean_text(values: pd.Series) -> pd.Series:
    """Clean a Series of strings (None/NaN become "").

    Entities are unescaped first so that escaped markup (``&lt;br&gt;``) is
    removed as a tag too; then tags become spaces (none before closing
    punctuation or after an opening bracket: ``<b>Gloves</b>, 100 ct`` ->
    ``Gloves, 100 ct``) and whitespace runs fold to one space.
    """
    s = pd.Series(values, dtype=object).fillna("").astype(str)
    s = s.map(html.unescape)
    s = s.str.replace(_TAG_BEFORE_PUNCT, "", regex=True)
    s = s.str.replace(_TAG_AFTER_OPEN, "", regex=True)
    s = s.str.replace(_TAG, " ", regex=True)
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return s.astype(object)


def clean_categories(values: pd.Series) -> pd.Series:
    """Clean each category name; drop empty ones and duplicates (order kept)."""
    lengths = values.map(len)
    flat = pd.Series([c for cats in values for c in cats], dtype=object)
    cleaned = clean_text(flat).tolist()
    out, pos = [], 0
    for n in lengths:
        out.append(list(dict.fromkeys(c for c in cleaned[pos : pos + n] if c)))
        pos += n
    return pd.Series(out, index=values.index, dtype=object)


def clean_items(items: pd.DataFrame) -> pd.DataFrame:
    """Clean ``title``, ``description``, ``brand`` and ``categories`` of a metadata table."""
    out = items.copy()
    for col in ("title", "description", "brand"):
        out[col] = clean_text(out[col]).to_numpy()
    out["categories"] = clean_categories(out["categories"]).to_numpy()
    return out


def title_mask(titles: pd.Series, max_words: int) -> pd.Series:
    """True where a cleaned title is non-empty and has at most ``max_words`` words."""
    n_words = titles.str.split().str.len().fillna(0)
    return (n_words > 0) & (n_words <= max_words)
