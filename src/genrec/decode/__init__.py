"""Trie-constrained decoding of Semantic IDs (beam search and sampling)."""

from genrec.decode.generate import (
    ConstrainedOutput,
    constrained_generate,
    generation_config,
    left_pad,
)
from genrec.decode.processor import TrieConstrainedLogitsProcessor
from genrec.decode.trie import SidTrie

__all__ = [
    "ConstrainedOutput",
    "SidTrie",
    "TrieConstrainedLogitsProcessor",
    "constrained_generate",
    "generation_config",
    "left_pad",
]
