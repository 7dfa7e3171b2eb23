"""Number formatting, Markdown tables and JSON reading shared by the page's sections."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

NA = "n/a"


def as_number(value) -> float | None:
    """``value`` as a float; None for None / NaN / non-numbers."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def fmt_float(value, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals; ``n/a`` for None / NaN / non-numbers."""
    v = as_number(value)
    return NA if v is None else f"{v:.{digits}f}"


def fmt_int(value) -> str:
    """``value`` rounded, with thousands separators; ``n/a`` as :func:`fmt_float`."""
    v = as_number(value)
    return NA if v is None else f"{int(round(v)):,}"


def _cell(value) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one char per column (``l``/``r``)."""
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def read_json(path: Path):
    """The parsed content of ``path``; a ValueError naming the path when it is not JSON."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def not_found(path: Path) -> str:
    """The note a section shows instead of its table when its file is absent."""
    return f"_Not available: `{path}` not found._"
