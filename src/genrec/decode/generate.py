"""Constrained beam search / sampling over valid SIDs with Hugging Face ``generate``.

Decoding uses the project's own settings only. ``model.generate`` fills every field
the passed ``GenerationConfig`` leaves unset from ``model.generation_config``, the
checkpoint's ``generation_config.json`` (Qwen2.5-Instruct ships
``repetition_penalty`` 1.05-1.1; others carry ``no_repeat_ngram_size``,
``suppress_tokens``, ``bad_words_ids``, ``sequence_bias``, ...), and any of those
reorders or breaks SID beams. :func:`constrained_generate` therefore swaps in an
empty generation config (special-token ids only) for the duration of the call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, LogitsProcessorList

from genrec.decode.processor import TrieConstrainedLogitsProcessor
from genrec.decode.trie import SidTrie

DECODERS = ("prefill", "generate")


@dataclass
class ConstrainedOutput:
    """Result of :func:`constrained_generate` for ``n`` prompts and ``k`` returns each.

    ``sequences``: ``[n * k, T]`` generated token ids only (no prompt), EOS and
    padding included, on the model's device; rows of prompt ``i`` are
    ``i * k : (i + 1) * k``, best first for beam search.
    ``item_ids``: ``[n, k]`` int64 (CPU) item id of each generated SID, -1 if invalid.
    ``prompt_len``: the padded prompt length the sequences were cut at.
    """

    sequences: torch.Tensor
    item_ids: torch.Tensor
    prompt_len: int


def left_pad(prompts_ids: Sequence[Sequence[int]], pad_token_id: int, device=None):
    """``(input_ids, attention_mask)`` of the prompts, left-padded to the longest."""
    if len(prompts_ids) == 0:
        raise ValueError("no prompts to generate from")
    width = max(len(p) for p in prompts_ids)
    if width == 0:
        raise ValueError("empty prompt")
    ids = torch.full((len(prompts_ids), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(prompts_ids), width), dtype=torch.long)
    for i, p in enumerate(prompts_ids):
        if len(p):
            ids[i, width - len(p) :] = torch.as_tensor(list(p), dtype=torch.long)
            mask[i, width - len(p) :] = 1
    return ids.to(device), mask.to(device)


@contextlib.contextmanager
def clean_generation_config(model) -> Iterator[None]:
    """Give ``model`` a default ``GenerationConfig`` (its special-token ids only) meanwhile."""
    saved = model.generation_config
    clean = GenerationConfig(
        bos_token_id=getattr(saved, "bos_token_id", None),
        eos_token_id=getattr(saved, "eos_token_id", None),
        pad_token_id=getattr(saved, "pad_token_id", None),
    )
    model.generation_config = clean
    try:
        yield
    finally:
        model.generation_config = saved


def generation_config(
    trie: SidTrie,
    num_beams: int,
    num_return_sequences: int,
    pad_token_id: int,
    do_sample: bool = False,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    length_penalty: float = 0.0,
    min_new_tokens: int = 0,
) -> GenerationConfig:
    """The ``GenerationConfig`` of one SID per sequence (at most ``trie.max_len`` new tokens).

    Arguments as for :func:`constrained_generate`; ``min_new_tokens`` > 0 forces that
    many new tokens (``benchmarks/decode.py``'s unconstrained floor).
    """
    # Explicit values throughout: a `None` would be filled in from the model's own
    # generation config (e.g. a checkpoint's do_sample=True, top_k=20, top_p=0.8).
    if do_sample:
        extra = {
            "temperature": 1.0 if temperature is None else temperature,
            "top_k": 0 if top_k is None else top_k,
            "top_p": 1.0 if top_p is None else top_p,
        }
    else:  # the library defaults, which greedy/beam search ignore without warnings
        extra = {"temperature": 1.0, "top_k": 50, "top_p": 1.0}
    if num_beams > 1:
        extra["length_penalty"] = length_penalty
    return GenerationConfig(
        num_beams=num_beams,
        num_return_sequences=num_return_sequences,
        do_sample=do_sample,
        max_new_tokens=trie.max_len,
        min_new_tokens=min_new_tokens,
        eos_token_id=trie.eos_token_id,
        pad_token_id=pad_token_id,
        return_dict_in_generate=True,
        output_scores=False,
        **extra,
    )


@torch.no_grad()
def constrained_generate(
    model,
    tokenizer,
    prompts_ids: Sequence[Sequence[int]],
    trie: SidTrie,
    num_beams: int,
    num_return_sequences: int,
    do_sample: bool = False,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    length_penalty: float = 0.0,
    decoder: str = "prefill",
    **generate_kwargs,
) -> ConstrainedOutput:
    """Generate SIDs that are all valid items, for a batch of prompt token ids.

    ``prompts_ids``: prompt token ids (``genrec.lm.encode_prompt``, no EOS).
    Beam search (``do_sample=False``): ``num_return_sequences`` (<= ``num_beams``)
    distinct SIDs per prompt, best first. Sampling (``do_sample=True``, usually
    ``num_beams=1``): ``num_return_sequences`` samples per prompt; set the seed
    with ``torch.manual_seed`` beforehand for reproducible rollouts.
    ``temperature``/``top_k``/``top_p`` only act when sampling, after the trie
    mask (they never remove every valid token). ``length_penalty`` 0 ranks
    beams by total log-probability (as MiniOneRec). ``decoder`` ``prefill``
    (default) runs beam search with :func:`genrec.decode.prefill.prefill_beam_search`
    (each prompt through the model once, the same ranking as ``generate``);
    ``generate`` uses ``model.generate`` (sampling always does). Extra
    ``generate_kwargs`` go to ``model.generate``.
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if num_return_sequences > num_beams and not do_sample:
        raise ValueError(
            f"num_return_sequences ({num_return_sequences}) must not exceed num_beams ({num_beams})"
        )
    if not do_sample and num_beams > trie.n_items:
        raise ValueError(
            f"num_beams ({num_beams}) exceeds the number of items with a SID ({trie.n_items})"
        )
    device = model.device
    trie.to(device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else trie.eos_token_id
    input_ids, attention_mask = left_pad(prompts_ids, pad_id, device)
    prompt_len = input_ids.shape[1]
    if decoder == "prefill" and not do_sample and not generate_kwargs:
        from genrec.decode.prefill import prefill_beam_search

        sequences, _ = prefill_beam_search(
            model,
            input_ids,
            attention_mask,
            trie,
            num_beams,
            num_return_sequences,
            pad_id,
            length_penalty=length_penalty,
        )
        items = trie.lookup(sequences).view(len(prompts_ids), num_return_sequences).cpu()
        return ConstrainedOutput(sequences=sequences, item_ids=items, prompt_len=prompt_len)
    config = generation_config(
        trie,
        num_beams,
        num_return_sequences,
        pad_id,
        do_sample=do_sample,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        length_penalty=length_penalty,
    )
    processor = TrieConstrainedLogitsProcessor(trie, prompt_len)
    with clean_generation_config(model):
        out = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=config,
            logits_processor=LogitsProcessorList([processor]),
            **generate_kwargs,
        )
    sequences = out.sequences[:, prompt_len:]
    items = trie.lookup(sequences).view(len(prompts_ids), num_return_sequences).cpu()
    return ConstrainedOutput(sequences=sequences, item_ids=items, prompt_len=prompt_len)
