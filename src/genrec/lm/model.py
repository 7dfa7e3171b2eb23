"""Causal LMs over SID tokens: scratch Qwen2 or a pretrained backbone.

``lm.base_model`` is either ``scratch`` (a Qwen2 config from ``lm.scratch`` and a
byte-level BPE tokenizer trained here on the item texts and prompts) or a
pretrained backbone (a known name such as ``smollm2-135m``, a ``.gguf`` file or
a local Hugging Face checkpoint directory), which the workflow first converts
into a plain model directory (:mod:`genrec.lm.base`). Either way every SID code
token is added to the tokenizer and the embeddings grow to cover it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from genrec.lm.params import LmParams, ScratchLM
from genrec.lm.tokenizer import add_sid_tokens, train_scratch_tokenizer

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_dtype(dtype: str, device: str = "cpu"):
    """``torch.dtype`` for ``dtype``; ``auto`` = bfloat16 on a bf16-capable GPU, else float32."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {DTYPES}")
    if dtype == "auto":
        if (
            str(device).startswith("cuda")
            and torch.cuda.is_available()
            and torch.cuda.is_bf16_supported()
        ):
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


def load_model_and_tokenizer(path: str | Path, device: str = "cpu", dtype: str = "auto"):
    """Load a ``save_pretrained`` model directory (SFT/RL output) for inference.

    Public helper for evaluation and RL. Returns ``(model, tokenizer)``: the
    model in eval mode on ``device`` with weights in ``dtype`` (``auto``:
    bfloat16 on a bf16-capable GPU, else float32), and the tokenizer with
    left padding (batched generation).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: not a model directory (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype, device))
    model.to(device)
    model.eval()
    return model, tokenizer


def embedding_rows(vocabulary: int, multiple_of: int = 1) -> int:
    """Embedding rows for ``vocabulary`` tokens: the next multiple of ``multiple_of``."""
    return -(-vocabulary // multiple_of) * multiple_of


def grow_embeddings(model, vocabulary: int, multiple_of: int, seed: int) -> int:
    """Grow ``model``'s embedding (and LM-head) rows to ``embedding_rows(vocabulary,
    multiple_of)`` when it has fewer; the new rows are drawn around the mean of the old
    ones (transformers' mean resizing), seeded with ``seed``. Returns the row count."""
    from transformers import set_seed

    if embedding_rows(vocabulary, multiple_of) > model.get_input_embeddings().weight.shape[0]:
        set_seed(seed)  # mean resizing draws the new rows at random
        model.resize_token_embeddings(
            vocabulary, pad_to_multiple_of=multiple_of, mean_resizing=True
        )
    return model.get_input_embeddings().weight.shape[0]


def _scratch_model(scratch: ScratchLM, tokenizer, seed: int, vocab_multiple_of: int = 1):
    from transformers import Qwen2Config, Qwen2ForCausalLM, set_seed

    config = Qwen2Config(
        vocab_size=embedding_rows(len(tokenizer), vocab_multiple_of),
        hidden_size=scratch.hidden_size,
        num_hidden_layers=scratch.num_hidden_layers,
        num_attention_heads=scratch.num_attention_heads,
        num_key_value_heads=scratch.num_key_value_heads,
        intermediate_size=scratch.intermediate_size,
        max_position_embeddings=scratch.max_position_embeddings,
        tie_word_embeddings=scratch.tie_word_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    set_seed(seed)
    model = Qwen2ForCausalLM(config)
    log.info(
        "scratch Qwen2: %.2fM parameters, vocabulary %d",
        sum(p.numel() for p in model.parameters()) / 1e6,
        len(tokenizer),
    )
    return model


def build_model_and_tokenizer(
    lm: LmParams,
    sids: pd.DataFrame,
    corpus: Iterable[str] | None = None,
    seed: int = 0,
    base_model_dir: str | Path | None = None,
):
    """The model to fine-tune and its tokenizer, with SID tokens added.

    ``lm``: :class:`~genrec.lm.params.LmParams` (the ``lm`` section). For ``base_model: scratch`` the
    tokenizer is trained on ``corpus`` (item texts and prompts, without SID
    tokens) and a Qwen2 model is initialised with ``seed``; otherwise model and
    tokenizer are loaded from ``base_model_dir``, the converted backbone
    (:func:`genrec.lm.base.convert_base_model`; a plain checkpoint directory
    works too), with float32 weights, and the embeddings are resized to the new
    vocabulary (new rows drawn around the mean of the old ones, seeded with ``seed``).
    Either way the embedding rows are padded to a multiple of ``lm.vocab_multiple_of``.
    EOS and pad ids stay those the backbone pinned. Returns ``(model, tokenizer, sid_ids)`` where ``sid_ids``
    are the token ids of all SID code tokens.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = lm.base_model
    if base != "scratch" and base_model_dir is None:
        base_model_dir = base  # a checkpoint directory used directly (library callers)
    if base == "scratch":
        if corpus is None:
            raise ValueError("lm.base_model 'scratch' needs a text corpus to train the tokenizer")
        tokenizer = train_scratch_tokenizer(corpus, lm.scratch.tokenizer_vocab_size)
        sid_ids = add_sid_tokens(tokenizer, sids)
        model = _scratch_model(lm.scratch, tokenizer, seed, lm.vocab_multiple_of)
    else:
        path = Path(base_model_dir)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"lm.base_model: {str(path)!r} is not a model directory with a config.json "
                "(is the backbone converted? see genrec.lm.base)"
            )
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype="float32")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        sid_ids = add_sid_tokens(tokenizer, sids)
        rows = grow_embeddings(model, len(tokenizer), lm.vocab_multiple_of, seed)
        log.info("loaded %s; vocabulary %d, embedding rows %d", path, len(tokenizer), rows)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.config.eos_token_id = tokenizer.eos_token_id
    tokenizer.padding_side = "left"
    return model, tokenizer, sid_ids


def freeze_llm(model, trainable_ids: Sequence[int]) -> list[str]:
    """Train only the rows of ``trainable_ids`` (the SID tokens) of the embeddings.

    Every other parameter stops requiring gradients; the input embedding and
    the output layer keep theirs, but a gradient hook zeroes every row outside
    ``trainable_ids``. With zero gradients and no weight decay (the trainer
    turns it off) Adam leaves those rows bit-identical. Returns the names of
    the parameters that still train.
    """
    import torch

    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    params = [emb] if out is None or out.weight is emb else [emb, out.weight]
    keep = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    ids = torch.as_tensor(sorted(set(trainable_ids)), dtype=torch.long)
    for p in params:
        mask = torch.zeros(p.shape[0], 1, dtype=p.dtype, device=p.device)
        mask[ids] = 1
        p.register_hook(lambda grad, mask=mask: grad * mask.to(grad.device, grad.dtype))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    log.info("freeze_llm: training %d embedding rows of %s", len(ids), names)
    return names
