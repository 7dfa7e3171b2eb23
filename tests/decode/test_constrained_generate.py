import copy

import pandas as pd
import pytest
import torch

from genrec.decode import SidTrie, constrained_generate
from genrec.decode.generate import DECODERS
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


@pytest.mark.parametrize("decoder", DECODERS)
def test_sampling_settings_in_the_generation_config_change_neither_beams_nor_samples(tiny, decoder):
    """A model whose generation config asks for sampling (do_sample, top_k 1, top_p, a low
    temperature, min_p, typical_p, min_new_tokens past every SID) ranks exactly as before
    with either decoder, and a seeded constrained sampling run draws exactly the samples it
    draws without those settings."""
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    prompts = _prompts(tokenizer, sids)

    def run():
        beams = constrained_generate(model, tokenizer, prompts, trie, 10, 10, decoder=decoder)
        torch.manual_seed(3)
        sampled = constrained_generate(
            model, tokenizer, prompts, trie, 1, 6, do_sample=True, top_k=5, top_p=0.9
        )
        return beams, sampled

    ref_beams, ref_sampled = run()
    saved = model.generation_config
    model.generation_config = copy.deepcopy(saved)
    cfg = model.generation_config
    cfg.do_sample, cfg.top_k, cfg.top_p, cfg.temperature = True, 1, 0.05, 0.3
    cfg.min_p, cfg.typical_p = 0.5, 0.2
    cfg.min_new_tokens = 20  # would forbid EOS
    try:
        beams, sampled = run()
    finally:
        model.generation_config = saved
    assert torch.equal(beams.item_ids, ref_beams.item_ids)
    assert torch.equal(sampled.sequences, ref_sampled.sequences)
    assert (sampled.item_ids >= 0).all()
    assert len(set(sampled.item_ids.flatten().tolist())) > 3  # a real sample, not one item


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


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_checkpoints_generation_config_never_reaches_decoding(tiny, tmp_path, decoder):
    """A checkpoint whose generation_config.json carries repetition_penalty,
    no_repeat_ngram_size, suppress_tokens, bad_words_ids and sequence_bias (as
    Qwen2.5-Instruct and others ship) ranks exactly like a clean one with either decoder
    (``generate`` is the one that would read them): 0 invalid, no duplicates, the same
    top-10."""
    from transformers import GenerationConfig

    from genrec.lm import load_model_and_tokenizer

    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    prompts = [encode_prompt(tokenizer, sid_next(list(sids["sid"][i : i + 3]))) for i in range(10)]
    clean = constrained_generate(model, tokenizer, prompts, trie, 10, 10, decoder=decoder).item_ids
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
    got = constrained_generate(loaded, tok, prompts, trie, 10, 10, decoder=decoder).item_ids
    assert torch.equal(got, clean)
    assert (got >= 0).all()
    assert all(len(set(row)) == 10 for row in got.tolist())
    assert loaded.generation_config.repetition_penalty == 1.1  # restored afterwards


# ------------------------------------------------ decoders on a model with peaked logits
@pytest.fixture(scope="module")
def peaked():
    """``(model, tokenizer, sids, trie, prompts)``: a tiny model with a large initializer range
    (peaked next-token distributions: the top token often has most of the mass, so beams are
    well separated and a wrong step changes the ranking), over 40 items with 3- and 4-level
    SIDs plus five items whose SID is a prefix of others' (each first code alone, one 2-level
    and one 3-level prefix). Quantised SIDs are prefix-free by construction, but an imported
    index.json of mixed depths keeps such SIDs (``add_disambiguation_level`` only splits
    exact duplicates), and the trie defines them: EOS and the continuation are both allowed
    at that node, so both items are reachable. The short SIDs finish early, so with few beams
    the finished set is full before the last step and the early-stop heuristic decides.
    ``prompts``: 12 prompts of 1-6 history items (left padding in a batch)."""
    from lm_helpers import make_model, make_sids, make_tokenizer

    torch.set_num_threads(1)
    base = make_sids(40, codes=3, levels=3, seed=1)
    tokens = [list(t) for t in base["tokens"]]
    three = [t for t in tokens if len(t) == 3]
    four = [t for t in tokens if len(t) == 4]
    prefixes = [[a] for a in sorted({t[0] for t in tokens})] + [three[0][:2], four[0][:3]]
    extra = pd.DataFrame(
        [
            {"item_id": 100 + k, "codes": [int(x[3:-1]) for x in t], "tokens": t, "sid": "".join(t)}
            for k, t in enumerate(prefixes)
        ]
    )
    sids = pd.concat([base, extra], ignore_index=True)
    tokenizer = make_tokenizer(sids)
    model = make_model(tokenizer, seed=0, initializer_range=0.5)
    trie = SidTrie.from_sids_table(sids, tokenizer)
    lengths = {len(t) for t in sids["tokens"]}
    assert lengths == {1, 2, 3, 4} and trie.n_items == 45
    for p in prefixes:  # each is a proper prefix of another item's SID
        assert any(len(t) > len(p) and list(t[: len(p)]) == list(p) for t in sids["tokens"])
    prompts = [
        encode_prompt(tokenizer, sid_next(list(sids["sid"][i : i + 1 + i % 6]))) for i in range(12)
    ]
    assert len({len(p) for p in prompts}) > 3
    with torch.no_grad():  # peaked: the most likely next token has > half the mass
        first = model(input_ids=torch.tensor([prompts[0]])).logits[0, -1].softmax(-1)
    assert first.max() > 0.5
    return model, tokenizer, sids, trie, prompts


def _item_scores(model, tokenizer, trie, prompt, items, length_penalty):
    """Brute force: ``log p(SID + EOS | prompt) / (len(SID) + 1) ** length_penalty`` per item."""
    seqs = [prompt + trie.item_token_ids(i) + [tokenizer.eos_token_id] for i in items]
    width = max(map(len, seqs))
    ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s in seqs])
    with torch.no_grad():
        logp = model(input_ids=ids).logits.float().log_softmax(-1)
    out = []
    for r, s in enumerate(seqs):
        pos = torch.arange(len(prompt) - 1, len(s) - 1)
        total = logp[r, pos, torch.tensor(s[len(prompt) :])].sum().item()
        out.append(total / (len(s) - len(prompt)) ** length_penalty)
    return out


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("length_penalty", [-1.0, 0.0, 2.0])
def test_exhaustive_beam_search_ranks_by_the_length_penalised_log_probability(
    peaked, decoder, length_penalty
):
    """With num_beams = n_items nothing is pruned: both decoders rank every item (SIDs of 1-4
    levels, some a prefix of others) by log p(SID + EOS) / (len + 1) ** length_penalty."""
    model, tokenizer, sids, trie, prompts = peaked
    n = trie.n_items
    for prompt in (prompts[0], prompts[5]):  # 1 and 6 history items
        out = constrained_generate(
            model, tokenizer, [prompt], trie, n, n, length_penalty=length_penalty, decoder=decoder
        )
        ranked = out.item_ids[0].tolist()
        assert sorted(ranked) == sorted(sids["item_id"])  # the prefix SIDs included
        scores = _item_scores(model, tokenizer, trie, prompt, ranked, length_penalty)
        assert all(a >= b - 1e-4 for a, b in zip(scores, scores[1:], strict=False)), scores
        # every row is the item's SID, EOS, then padding only
        for row, item in zip(out.sequences.tolist(), ranked, strict=True):
            sid = trie.item_token_ids(item)
            assert row[: len(sid) + 1] == [*sid, tokenizer.eos_token_id]
            assert set(row[len(sid) + 1 :]) <= {tokenizer.pad_token_id}


@pytest.mark.parametrize(
    "beams, returns, length_penalty",
    [(5, 5, 0.0), (12, 3, 0.0), (45, 45, 0.0), (3, 3, 3.0), (4, 4, 1.0), (4, 2, 2.0),
     (12, 12, 1.0), (8, 4, -1.0), (10, 10, -3.0), (12, 4, 3.0), (45, 45, 5.0)],
)  # fmt: skip
def test_prefill_once_decoder_ranks_exactly_like_generate(peaked, beams, returns, length_penalty):
    """The prefill-once beam search returns the SIDs of HF generate's beam search, in the
    same order, token for token: peaked logits, a batch of left-padded prompts of different
    lengths, SIDs of 1-4 levels (some a prefix of others), fewer returns than beams,
    negative, zero and large length penalties (with 3-4 beams the early-stop heuristic
    cuts some prompts short), 45 beams ranking every item."""
    model, tokenizer, sids, trie, prompts = peaked
    kw = dict(num_beams=beams, num_return_sequences=returns, length_penalty=length_penalty)
    ref = constrained_generate(model, tokenizer, prompts, trie, decoder="generate", **kw)
    got = constrained_generate(model, tokenizer, prompts, trie, decoder="prefill", **kw)
    assert got.item_ids.shape == (len(prompts), returns)
    assert torch.equal(got.item_ids, ref.item_ids)
    width = ref.sequences.shape[1]  # generate cuts at the longest generated row
    assert torch.equal(got.sequences[:, :width], ref.sequences)
    assert (got.sequences[:, width:] == tokenizer.pad_token_id).all()
    assert (got.item_ids >= 0).all()
    assert all(len(set(r)) == returns for r in got.item_ids.tolist())
    if length_penalty != 0.0:  # the penalty does reorder the SIDs, so it is compared above
        plain = constrained_generate(
            model, tokenizer, prompts, trie, beams, returns, decoder="prefill"
        )
        assert not torch.equal(plain.item_ids, got.item_ids)


@pytest.mark.parametrize("decoder", DECODERS)
def test_a_prompts_ranking_does_not_depend_on_the_rest_of_its_batch(peaked, decoder):
    """Left padding is invisible: each prompt of a batch of different lengths gets the SIDs
    it gets alone (no padding), and the prompts get different rankings."""
    model, tokenizer, sids, trie, prompts = peaked
    together = constrained_generate(model, tokenizer, prompts, trie, 8, 8, decoder=decoder)
    alone = [
        constrained_generate(model, tokenizer, [p], trie, 8, 8, decoder=decoder).item_ids[0]
        for p in prompts
    ]
    assert torch.equal(together.item_ids, torch.stack(alone))
    assert len({tuple(r) for r in together.item_ids.tolist()}) > len(prompts) // 2


def test_an_unknown_decoder_is_a_clear_error(tiny):
    model, tokenizer, sids = tiny
    trie = SidTrie.from_sids_table(sids, tokenizer)
    with pytest.raises(ValueError, match="decoder must be one of"):
        constrained_generate(
            model, tokenizer, _prompts(tokenizer, sids, 1), trie, 5, 5, decoder="fast"
        )
