"""Language-model parameters (torch-free: built when Snakemake builds the DAG)."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.params import Params


@dataclass(frozen=True)
class ScratchLM(Params):
    """``lm.scratch``: the tiny Qwen2 trained from scratch and its BPE vocabulary size."""

    SECTION = "lm.scratch"
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    tokenizer_vocab_size: int


@dataclass(frozen=True)
class LmParams(Params):
    """``lm``: ``base_model`` (``scratch``, a known backbone name, a ``.gguf`` file or a
    checkpoint directory), the ``scratch`` shape, ``freeze_llm`` (train only the SID
    rows of the embeddings) and the inference ``dtype``."""

    SECTION = "lm"
    base_model: str
    scratch: ScratchLM
    freeze_llm: bool
    vocab_multiple_of: int
    dtype: str
