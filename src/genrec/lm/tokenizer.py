"""Tokenizers: the locally trained scratch tokenizer, SID tokens, prompt encoding.

Every SID code token (``<a_12>``, ``<b_3>``, ...) is added to the tokenizer with
``tokenizer.add_tokens`` as a *normal* added token (not a special token, which
``decode(skip_special_tokens=True)`` would drop). Added tokens are matched before
the pre-tokenizer runs, so an item's SID string such as ``"<a_12><b_3>"`` encodes
to exactly its code tokens, with byte-level BPE, WordLevel or sentencepiece-style
tokenizers alike (:func:`check_sid_encoding` verifies it).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
UNK_TOKEN = "<|unk|>"

SID_TOKEN_RE = re.compile(r"<([a-h])_(\d+)>")


def train_scratch_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE tokenizer (GPT-2/Qwen style) on ``texts``.

    Returns a ``transformers.PreTrainedTokenizerFast`` with pad/eos/unk tokens;
    no BOS is added. Byte-level BPE never produces an unknown token and
    ``decode`` restores the text exactly. Deterministic for the same texts.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN, UNK_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        clean_up_tokenization_spaces=False,
    )
    log.info("trained a byte-level BPE tokenizer: %d tokens", len(tokenizer))
    return tokenizer


def strip_sid_tokens(text: str) -> str:
    """``text`` without SID code tokens (the scratch tokenizer's corpus must not see them)."""
    return SID_TOKEN_RE.sub("", text)


def _token_key(token: str) -> tuple[str, int]:
    m = SID_TOKEN_RE.fullmatch(token)
    if m is None:
        raise ValueError(
            f"not a SID code token: {token!r} (expected '<letter_code>', e.g. '<a_12>')"
        )
    return m.group(1), int(m.group(2))


def sid_vocabulary(sids: pd.DataFrame) -> list[str]:
    """All distinct SID code tokens of a ``sids.parquet`` table, sorted by level then code."""
    tokens = {t for row in sids["tokens"] for t in row}
    return sorted(tokens, key=_token_key)


def add_sid_tokens(tokenizer, sids: pd.DataFrame) -> list[int]:
    """Add every SID code token of ``sids`` to ``tokenizer``; return their token ids.

    Tokens the vocabulary already holds are kept (``add_tokens`` skips them).
    Afterwards each item's SID encodes to exactly its code tokens (checked).
    """
    vocab = sid_vocabulary(sids)
    added = tokenizer.add_tokens(vocab)
    log.info(
        "added %d SID tokens (%d distinct codes); vocabulary %d", added, len(vocab), len(tokenizer)
    )
    check_sid_encoding(tokenizer, sids)
    return tokenizer.convert_tokens_to_ids(vocab)


def sid_token_ids(tokenizer, sids: pd.DataFrame) -> dict[int, list[int]]:
    """Per item the token ids of its SID: ``{item_id: [id_level0, id_level1, ...]}``.

    Public helper for evaluation and RL (e.g. to build a prefix trie for
    constrained decoding). ``sids`` is a ``sids.parquet`` table (columns
    ``item_id``, ``tokens``). Raises ``ValueError`` when a code token is not a
    single token of ``tokenizer`` (the model was trained with other SIDs).
    """
    out: dict[int, list[int]] = {}
    unk = tokenizer.unk_token_id
    for item_id, tokens in zip(sids["item_id"], sids["tokens"], strict=True):
        ids = tokenizer.convert_tokens_to_ids(list(tokens))
        bad = [
            t
            for t, i in zip(tokens, ids, strict=True)
            if i is None or (unk is not None and i == unk)
        ]
        if bad:
            raise ValueError(
                f"item {item_id}: SID tokens {bad} are not in the tokenizer vocabulary "
                "(was the model trained with this SID table?)"
            )
        out[int(item_id)] = [int(i) for i in ids]
    return out


def check_sid_encoding(tokenizer, sids: pd.DataFrame) -> None:
    """Raise ``ValueError`` unless every item's ``sid`` string encodes to its code tokens."""
    expected = sid_token_ids(tokenizer, sids)
    for item_id, sid in zip(sids["item_id"], sids["sid"], strict=True):
        got = tokenizer(sid, add_special_tokens=False)["input_ids"]
        if got != expected[int(item_id)]:
            raise ValueError(
                f"item {item_id}: SID {sid!r} encodes to {tokenizer.convert_ids_to_tokens(got)}, "
                f"not to its {len(expected[int(item_id)])} code tokens"
            )


PROMPT_FILE = "genrec_prompt.json"


def prompt_token_limit(cutoff_len: int, max_sid_len: int) -> int:
    """The one prompt-length rule of SFT, RL and evaluation.

    A prompt keeps its last ``cutoff_len - max_sid_len - 1`` tokens (the oldest
    history goes first): room for the longest SID and EOS within ``sft.cutoff_len``.
    SFT records the number in the model directory (:func:`write_prompt_limit`); RL
    and evaluation read it from there, so a prompt is cut the same way in every
    stage.
    """
    limit = int(cutoff_len) - int(max_sid_len) - 1
    if limit < 1:
        raise ValueError(
            f"sft.cutoff_len {cutoff_len} leaves no room for a prompt before a SID of "
            f"{max_sid_len} tokens and EOS"
        )
    return limit


def write_prompt_limit(model_dir, limit: int | None) -> None:
    """Record the prompt token limit in a model directory (SFT and RL outputs)."""
    (Path(model_dir) / PROMPT_FILE).write_text(json.dumps({"max_prompt_tokens": limit}) + "\n")


def read_prompt_limit(model_dir) -> int | None:
    """The prompt token limit a model was trained with (None: no record, no limit)."""
    path = Path(model_dir) / PROMPT_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("max_prompt_tokens")


def encode_prompt(tokenizer, text: str, max_tokens: int | None = None) -> list[int]:
    """Token ids of a prompt (a :mod:`genrec.prompts` builder's output).

    Public helper shared by SFT, RL and evaluation: SFT encodes the prompt with
    this function and the response separately, so the prompt ids a model sees at
    evaluation are exactly the ones it was trained on. Special tokens the
    tokenizer adds in front (e.g. a BOS) are kept. ``max_tokens`` (see
    :func:`prompt_token_limit`) shortens a longer prompt to that many ids by
    dropping its oldest history tokens; the BOS, the instruction and the input
    header stay.
    """
    ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
    if max_tokens is not None and len(ids) > max_tokens:
        ids = _cut_history(tokenizer, text, ids, max_tokens)
    return ids


def _cut_history(tokenizer, text: str, ids: list[int], max_tokens: int) -> list[int]:
    """``ids`` shortened to ``max_tokens`` by dropping the oldest *history* tokens.

    The head (special tokens such as a BOS, the instruction and the input header of
    :mod:`genrec.prompts`) and the tail are kept; what goes is the start of the input,
    i.e. the oldest history items. When the head's tokens are not a prefix of
    ``ids`` (a tokenizer that merges across the header) or the head alone does not
    fit, the prompt is cut from the left.
    """
    from genrec.prompts import INPUT_HEADER

    cut = text.find(INPUT_HEADER)
    if cut >= 0:
        head = list(
            tokenizer(text[: cut + len(INPUT_HEADER)], add_special_tokens=True)["input_ids"]
        )
        # a tokenizer that appends special tokens (e.g. EOS) would break the prefix test
        if ids[: len(head)] == head and len(head) < max_tokens:
            return head + ids[len(ids) - (max_tokens - len(head)) :]
    return ids[len(ids) - max_tokens :]


def encode_example(
    tokenizer,
    prompt: str,
    response: str,
    cutoff_len: int,
    max_prompt_tokens: int | None = None,
) -> dict[str, list[int]] | None:
    """Ids and labels of one SFT example: prompt ids, response ids, EOS.

    Labels are ``-100`` on the prompt, so the loss covers only the response
    and EOS. The prompt keeps its last ``max_prompt_tokens`` ids (the rule that
    RL and evaluation apply too); when the example still exceeds ``cutoff_len``
    tokens (a long title as the response) more of the oldest history goes;
    returns ``None`` when even the response with EOS does not fit.
    """
    prompt_ids = encode_prompt(tokenizer, prompt, max_prompt_tokens)
    response_ids = list(tokenizer(response, add_special_tokens=False)["input_ids"])
    response_ids.append(tokenizer.eos_token_id)
    room = cutoff_len - len(response_ids)
    if room < 1:
        return None
    if len(prompt_ids) > room:
        prompt_ids = _cut_history(tokenizer, prompt, prompt_ids, room)
    input_ids = prompt_ids + response_ids
    return {
        "input_ids": input_ids,
        "attention_mask": [1] * len(input_ids),
        "labels": [-100] * len(prompt_ids) + response_ids,
    }


def response_text(tokenizer, ids: Sequence[int]) -> str:
    """Decode generated ids to text, dropping special tokens (EOS, pad)."""
    return tokenizer.decode(list(ids), skip_special_tokens=True)
