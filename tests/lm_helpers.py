"""Tiny random Qwen2 models, WordLevel tokenizers and SID tables for the decode, eval and
SFT tests (a helper module, importable as ``lm_helpers``: tests/ is on sys.path through
tests/conftest.py; the ``tiny`` fixture built from these is in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

LETTERS = "abcdefgh"
WORDS = ["###", "Instruction:", "Input:", "Response:", "Given", "the", "items", "user", ","]


def make_sids(n_items: int, codes: int = 4, levels: int = 3, seed: int = 0) -> pd.DataFrame:
    """A ``sids.parquet``-shaped table; colliding code tuples get a 4th level (variable length)."""
    rng = np.random.default_rng(seed)
    seen: dict[tuple, int] = {}
    rows = []
    for _ in range(n_items):
        codes_ = tuple(int(c) for c in rng.integers(0, codes, size=levels))
        k = seen.get(codes_, 0)
        seen[codes_] = k + 1
        full = list(codes_) + ([k] if k > 0 else [])
        rows.append(full)
    # the first item of a collided tuple also gets the extra level (no SID is a prefix of another)
    counts = {tuple(r[:levels]): 0 for r in rows}
    for r in rows:
        counts[tuple(r[:levels])] += 1
    out = []
    for item, r in enumerate(rows):
        if counts[tuple(r[:levels])] > 1 and len(r) == levels:
            r = r + [0]
        tokens = [f"<{LETTERS[lv]}_{c}>" for lv, c in enumerate(r)]
        out.append({"item_id": item, "codes": r, "tokens": tokens, "sid": "".join(tokens)})
    return pd.DataFrame(out)


def make_tokenizer(sids: pd.DataFrame):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0, "<|pad|>": 1, "<|unk|>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>", unk_token="<|unk|>"
    )
    tokenizer.add_tokens(sorted({t for row in sids["tokens"] for t in row}))
    tokenizer.padding_side = "left"
    return tokenizer


def tiny_qwen2(
    tokenizer, layers: int = 2, heads: int = 4, kv_heads: int = 2, seed: int | None = None, **config
):
    """A random Qwen2ForCausalLM over ``tokenizer``'s vocabulary: 32 wide, MLP 64, ``layers``
    deep; ``seed`` seeds torch first; ``config`` adds Qwen2Config fields."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if seed is not None:
        torch.manual_seed(seed)
    return Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            intermediate_size=64,
            **config,
        )
    )


def make_model(tokenizer, seed: int = 0, **config):
    """``tiny_qwen2`` in eval mode with the tokenizer's pad/EOS ids; ``config`` adds Qwen2Config
    fields (e.g. ``initializer_range=0.5`` for peaked logits)."""
    return tiny_qwen2(
        tokenizer,
        seed=seed,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **config,
    ).eval()


class DynamoGraphs:
    """Context manager: ``.compiled`` = the graphs Dynamo compiled inside the block."""

    def __enter__(self):
        from torch._dynamo.utils import counters

        self._stats = counters["stats"]
        self._start = self._stats["unique_graphs"]
        return self

    def __exit__(self, *exc):
        self.compiled = self._stats["unique_graphs"] - self._start
        return False
