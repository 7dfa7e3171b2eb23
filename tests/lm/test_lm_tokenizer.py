"""SID tokens, prompt encoding and the scratch tokenizer (genrec.lm.tokenizer)."""

from __future__ import annotations

import pytest
from sft_helpers import make_tables

from genrec import prompts
from genrec.lm import (
    add_sid_tokens,
    check_sid_encoding,
    encode_example,
    encode_prompt,
    sid_token_ids,
    sid_vocabulary,
    train_scratch_tokenizer,
)

CORPUS = [
    "Heavy duty steel bolt, 10 pack",
    "Nitrile glove, size L",
    prompts.sid_next([]),
    prompts.title_to_sid("x"),
] * 20


def _scratch():
    return train_scratch_tokenizer(CORPUS, vocab_size=400)


def _scratch_with_sids():
    """The scratch tokenizer with the SID tokens of the tiny tables added, and their SIDs."""
    tok = _scratch()
    sids = make_tables()["sids"]
    add_sid_tokens(tok, sids)
    return tok, sids


def _bpe_metaspace():
    """Stand-in for a pretrained sentencepiece-style BPE tokenizer (Llama/Mistral family)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(
        CORPUS + ["<a_1> < a _ 12 >"],
        trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "</s>"], show_progress=False),
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="</s>")


def _wordlevel():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[EOS]"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]")


TOKENIZERS = {
    "scratch_bytelevel_bpe": _scratch,
    "metaspace_bpe": _bpe_metaspace,
    "wordlevel": _wordlevel,
}


@pytest.mark.parametrize("kind", sorted(TOKENIZERS))
def test_every_sid_encodes_to_exactly_its_code_tokens(kind):
    tok = TOKENIZERS[kind]()
    sids = make_tables()["sids"]
    before = len(tok)
    ids = add_sid_tokens(tok, sids)
    vocab = sid_vocabulary(sids)
    assert len(ids) == len(set(ids)) == len(vocab)
    assert len(tok) == before + len(vocab)
    per_item = sid_token_ids(tok, sids)
    for item, sid, tokens in zip(sids.item_id, sids.sid, sids.tokens, strict=True):
        enc = tok(sid, add_special_tokens=False)["input_ids"]
        assert enc == per_item[item]
        assert tok.convert_ids_to_tokens(enc) == list(tokens)
    # inside a prompt too: a history "sid1, sid2" holds each item's ids contiguously
    history = sids.sid.tolist()[:3]
    enc = encode_prompt(tok, prompts.sid_next(history))
    for item in range(3):
        n = len(per_item[item])
        assert any(enc[i : i + n] == per_item[item] for i in range(len(enc)))


def test_sid_tokens_survive_decode_without_special_tokens():
    tok = _scratch()
    sids = make_tables()["sids"]
    add_sid_tokens(tok, sids)
    sid = sids.sid.iloc[5]
    ids = tok(sid, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert tok.decode(ids, skip_special_tokens=True) == sid


def test_scratch_tokenizer_is_lossless_and_deterministic():
    a, b = _scratch(), _scratch()
    assert a.get_vocab() == b.get_vocab()
    text = 'Given the titles: "Unseen Wrench-Ünïcode, 3/8 in"'
    ids = a(text, add_special_tokens=False)["input_ids"]
    assert a.unk_token_id not in ids
    assert a.decode(ids) == text


def test_unknown_sid_tokens_are_reported():
    tok = _scratch()
    tables = make_tables()
    add_sid_tokens(tok, tables["sids"].iloc[:5])
    with pytest.raises(ValueError, match="not in the tokenizer vocabulary"):
        sid_token_ids(tok, tables["sids"])
    with pytest.raises(ValueError, match="not in the tokenizer vocabulary"):
        check_sid_encoding(tok, tables["sids"])


def test_encode_example_masks_the_prompt_and_appends_eos():
    tok, sids = _scratch_with_sids()
    prompt = prompts.sid_next(sids.sid.tolist()[:4])
    response = sids.sid.iloc[7]
    ex = encode_example(tok, prompt, response, cutoff_len=512)
    p = encode_prompt(tok, prompt)
    r = sid_token_ids(tok, sids)[7]
    assert ex["input_ids"] == p + r + [tok.eos_token_id]
    assert ex["labels"] == [-100] * len(p) + r + [tok.eos_token_id]
    assert ex["attention_mask"] == [1] * len(ex["input_ids"])


def test_encode_example_cuts_the_prompt_from_the_left():
    tok, sids = _scratch_with_sids()
    prompt = prompts.sid_next(sids.sid.tolist()[:10])
    response = sids.sid.iloc[3]
    r = sid_token_ids(tok, sids)[3] + [tok.eos_token_id]
    full = encode_prompt(tok, prompt)
    ex = encode_example(tok, prompt, response, cutoff_len=20)
    assert len(ex["input_ids"]) == 20
    assert ex["input_ids"] == full[-(20 - len(r)) :] + r  # newest prompt tokens kept
    assert ex["labels"][-len(r) :] == r
    assert encode_example(tok, prompt, response, cutoff_len=len(r)) is None
