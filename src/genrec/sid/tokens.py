"""The SID token format shared by every stage (docs/design.md).

Level ``l`` of an item's code is written ``<{LEVEL_LETTERS[l]}_{code}>``; the SID
string is the concatenation of its tokens, e.g. ``<a_12><b_3><c_200>``. A
disambiguation level is just the next letter (``<d_1>``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LEVEL_LETTERS = "abcdefgh"
_TOKEN_RE = re.compile(r"<([a-z])_(\d+)>")


def code_token(level: int, code: int) -> str:
    """The token of ``code`` at ``level`` (0-based), e.g. ``code_token(1, 3) == "<b_3>"``."""
    if not 0 <= level < len(LEVEL_LETTERS):
        raise ValueError(f"SID level {level} out of range (at most {len(LEVEL_LETTERS)} levels)")
    if code < 0:
        raise ValueError(f"SID code must be non-negative, got {code} at level {level}")
    return f"<{LEVEL_LETTERS[level]}_{int(code)}>"


def codes_to_tokens(codes: Sequence[int]) -> list[str]:
    """Token list of one item's codes."""
    return [code_token(level, int(c)) for level, c in enumerate(codes)]


def codes_to_sid(codes: Sequence[int]) -> str:
    """SID string of one item's codes."""
    return "".join(codes_to_tokens(codes))


def parse_tokens(tokens: Sequence[str] | str) -> list[int]:
    """Codes of a token list (or a SID string); the level letters must be a, b, c, ... in order.

    Raises ``ValueError`` naming the offending token.
    """
    if isinstance(tokens, str):
        found = _TOKEN_RE.findall(tokens)
        if "".join(f"<{a}_{b}>" for a, b in found) != tokens:
            raise ValueError(f"not a SID string: {tokens!r}")
        tokens = [f"<{a}_{b}>" for a, b in found]
    codes = []
    for level, tok in enumerate(tokens):
        m = _TOKEN_RE.fullmatch(str(tok).strip())
        if m is None:
            raise ValueError(f"not a SID token: {tok!r}")
        if level >= len(LEVEL_LETTERS) or m.group(1) != LEVEL_LETTERS[level]:
            raise ValueError(f"SID token {tok!r} at position {level} has the wrong level letter")
        codes.append(int(m.group(2)))
    if not codes:
        raise ValueError("empty SID")
    return codes
