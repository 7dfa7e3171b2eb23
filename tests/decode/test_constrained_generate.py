import pytest
import torch

from genrec.decode import SidTrie, constrained_generate
from genrec.lm import encode_prompt
from genrec.prompts import sid_next


def _prompts(tokenizer, sids, n=3):
    return [encode_prompt(tokenizer, sid_next(list(sids["sid"][i : i + 1 + i]))) for i in range(n)]


class RandomLogits:
    """Forward hook on ``lm_head``: random logits that strongly favour invalid tokens."""

    def __init__(self, seed, favour):
        self.gen = torch.Generator().manual_seed(seed)
        self.favour = favour

    def __call__(self, module, inputs, output):
        noise = torch.randn(output.shape, generator=self.gen) * 5
        noise[..., self.favour] += 40.0  # the model "would rather" emit these
        return output + noise


@pytest.mark.parametrize("seed", range(4))
def test_beam_search_returns_distinct_valid_sids_under_adversarial_random_logits(tiny, seed):
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    words = [tokenizer.convert_tokens_to_ids(w) for w in ("items", "user")]
    handle = model.lm_head.register_forward_hook(
        RandomLogits(seed, favour=[*words, tokenizer.eos_token_id])
    )
    try:
        beams = [5, 12, 40][seed % 3]
        out = constrained_generate(model, tokenizer, _prompts(tokenizer, sids), trie, beams, beams)
    finally:
        handle.remove()
    valid = set(sids["item_id"])
    for row in out.item_ids.tolist():
        assert len(row) == beams and len(set(row)) == beams
        assert set(row) <= valid


def test_exhaustive_beam_search_ranks_every_item_by_its_log_probability(tiny):
    """With num_beams = n_items nothing is pruned: the ranking is the exact one."""
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    prompt = _prompts(tokenizer, sids, n=1)[0]
    n = len(sids)
    out = constrained_generate(model, tokenizer, [prompt], trie, n, n)
    ranked = out.item_ids[0].tolist()
    assert sorted(ranked) == sorted(sids["item_id"])
    # brute force: log p(SID + EOS | prompt) of every item
    seqs = [prompt + trie.item_token_ids(i) + [tokenizer.eos_token_id] for i in ranked]
    width = max(map(len, seqs))
    ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s in seqs])
    with torch.no_grad():
        logp = model(input_ids=ids).logits.log_softmax(-1)
    totals = []
    for r, s in enumerate(seqs):
        pos = torch.arange(len(prompt) - 1, len(s) - 1)
        totals.append(logp[r, pos, torch.tensor(s[len(prompt) :])].sum().item())
    assert all(a >= b - 1e-4 for a, b in zip(totals, totals[1:], strict=False)), totals


def test_sampling_settings_in_the_generation_config_do_not_break_beam_search(tiny):
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    prompts = _prompts(tokenizer, sids)
    ref = constrained_generate(model, tokenizer, prompts, trie, 10, 10).item_ids
    saved = model.generation_config.to_dict()
    model.generation_config.do_sample = True
    model.generation_config.top_k = 1
    model.generation_config.top_p = 0.05
    model.generation_config.temperature = 0.3
    model.generation_config.min_new_tokens = 20  # would forbid EOS
    try:
        got = constrained_generate(model, tokenizer, prompts, trie, 10, 10).item_ids
        torch.manual_seed(3)
        sampled = constrained_generate(
            model, tokenizer, prompts, trie, 1, 6, do_sample=True, top_k=2, top_p=0.5
        )
    finally:
        model.generation_config.update(**saved)
    assert torch.equal(got, ref)
    assert (sampled.item_ids >= 0).all()


def test_constrained_sampling_rollouts_are_valid_and_reproducible(tiny):
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    prompts = _prompts(tokenizer, sids)
    runs = []
    for _ in range(2):
        torch.manual_seed(11)
        runs.append(
            constrained_generate(
                model, tokenizer, prompts, trie, 1, 16, do_sample=True, temperature=3.0
            )
        )
    a, b = runs
    assert torch.equal(a.item_ids, b.item_ids) and torch.equal(a.sequences, b.sequences)
    assert a.item_ids.shape == (3, 16) and (a.item_ids >= 0).all()
    assert len(set(a.item_ids.flatten().tolist())) > 3  # hot sampling explores many items
    # every generated row ends exactly at a complete SID: SID tokens, EOS, then only padding
    for row, item in zip(a.sequences.tolist(), a.item_ids.flatten().tolist(), strict=True):
        sid = trie.item_token_ids(item)
        assert row[: len(sid) + 1] == [*sid, tokenizer.eos_token_id]
        assert set(row[len(sid) + 1 :]) <= {tokenizer.pad_token_id}


def test_too_many_beams_is_a_clear_error(tiny):
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    with pytest.raises(ValueError, match="exceeds the number of items"):
        constrained_generate(model, tokenizer, _prompts(tokenizer, sids, 1), trie, 41, 41)


def test_a_checkpoints_generation_config_never_reaches_decoding(tiny, tmp_path):
    """A checkpoint whose generation_config.json carries repetition_penalty,
    no_repeat_ngram_size, suppress_tokens, bad_words_ids and sequence_bias (as
    Qwen2.5-Instruct and others ship) ranks exactly like a clean one: 0 invalid, no
    duplicates, the same top-10."""
    from transformers import GenerationConfig

    from genrec.lm import load_model_and_tokenizer

    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    prompts = [encode_prompt(tokenizer, sid_next(list(sids["sid"][i : i + 3]))) for i in range(10)]
    clean = constrained_generate(model, tokenizer, prompts, trie, 10, 10).item_ids
    a_code = trie.item_token_ids(int(sids["item_id"][0]))[0]
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        repetition_penalty=1.1,
        no_repeat_ngram_size=1,
        suppress_tokens=[a_code],
        bad_words_ids=[[a_code]],
        sequence_bias={(a_code,): -10.0},
        num_beams=4,
        early_stopping=True,
    ).save_pretrained(tmp_path)
    loaded, tok = load_model_and_tokenizer(tmp_path, dtype="float32")
    assert loaded.generation_config.repetition_penalty == 1.1  # the checkpoint does carry it
    got = constrained_generate(loaded, tok, prompts, trie, 10, 10).item_ids
    assert torch.equal(got, clean)
    assert (got >= 0).all()
    assert all(len(set(row)) == 10 for row in got.tolist())
    assert loaded.generation_config.repetition_penalty == 1.1  # restored afterwards


@pytest.mark.parametrize("beams, length_penalty", [(5, 0.0), (12, 0.0), (40, 0.0), (12, 1.0)])
def test_prefill_once_decoder_ranks_exactly_like_generate(tiny, beams, length_penalty):
    """The prefill-once beam search returns the SIDs of HF generate's beam search, in the
    same order, for left-padded prompts of different lengths (some items have 4-level
    SIDs, 40 beams rank every item)."""
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    prompts = [
        encode_prompt(tokenizer, sid_next(list(sids["sid"][i : i + 1 + i % 6]))) for i in range(12)
    ]
    assert len({len(p) for p in prompts}) > 3
    kw = dict(num_beams=beams, num_return_sequences=beams, length_penalty=length_penalty)
    ref = constrained_generate(model, tokenizer, prompts, trie, decoder="generate", **kw)
    got = constrained_generate(model, tokenizer, prompts, trie, decoder="prefill", **kw)
    assert torch.equal(got.item_ids, ref.item_ids)
    assert (got.item_ids >= 0).all()
    assert all(len(set(r)) == beams for r in got.item_ids.tolist())
    with pytest.raises(ValueError, match="decoder must be one of"):
        constrained_generate(model, tokenizer, prompts, trie, 5, 5, decoder="fast")
