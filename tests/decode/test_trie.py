import random

import pytest
import torch

from genrec.decode import SidTrie, TrieConstrainedLogitsProcessor

EOS = 0
# variable lengths: item 3 is a prefix of item 4 (both must stay reachable)
SEQS = {10: [5, 7, 9], 11: [5, 7, 8], 12: [6, 7, 9, 2], 13: [6, 7], 14: [6, 7, 3]}


def reference_allowed(seqs, prefix):
    """Python reference: the set of allowed next tokens after ``prefix``."""
    allowed = set()
    for s in seqs.values():
        full = [*s, EOS]
        if len(prefix) < len(full) and full[: len(prefix)] == prefix:
            allowed.add(full[len(prefix)])
    return allowed


def test_lookup_of_every_sid_and_of_invalid_sequences():
    trie = SidTrie.from_token_ids(SEQS, EOS)
    assert trie.n_items == 5 and trie.max_len == 5
    for item, s in SEQS.items():
        row = torch.tensor([[*s, EOS, 1, 1]])  # trailing padding after EOS is ignored
        assert trie.lookup(row).tolist() == [item]
    bad = torch.tensor([[5, 7, 0, 1], [6, 7, 9, 0], [5, 7, 9, 9], [99, 0, 0, 0], [6, 7, 1, 1]])
    assert trie.lookup(bad).tolist() == [-1, -1, -1, -1, -1]


def test_allowed_tokens_match_a_python_reference_for_random_prefixes():
    rng = random.Random(0)
    tokens = [0, 1, 2, 3, 5, 6, 7, 8, 9, 1000]
    trie = SidTrie.from_token_ids(SEQS, EOS)
    for depth in range(6):
        prefixes = []
        for _ in range(40):
            if rng.random() < 0.6:  # a valid prefix of a random SID
                s = [*rng.choice(list(SEQS.values())), EOS]
                p = s[:depth] if depth <= len(s) else s + [1] * (depth - len(s))
            else:
                p = [rng.choice(tokens) for _ in range(depth)]
            prefixes.append(p)
        state = trie.walk(torch.tensor(prefixes, dtype=torch.long).view(len(prefixes), depth))
        allowed = trie.allowed_tokens(state, depth)
        for p, row in zip(prefixes, allowed.tolist(), strict=True):
            expect = reference_allowed(SEQS, p) or {EOS}  # finished or dead rows: EOS only
            assert set(row) == expect, (p, row)


def test_processor_keeps_valid_scores_and_masks_the_rest():
    trie = SidTrie.from_token_ids(SEQS, EOS)
    proc = TrieConstrainedLogitsProcessor(trie, prompt_len=2)
    prompt = [[4, 4], [4, 4], [4, 4]]
    ids = torch.tensor([p + g for p, g in zip(prompt, [[6, 7], [5, 7], [5, 1]], strict=True)])
    scores = torch.randn(3, 1001, generator=torch.Generator().manual_seed(0))
    out = proc(ids, scores.clone())
    finite = [set(torch.nonzero(torch.isfinite(r)).flatten().tolist()) for r in out]
    assert finite == [{9, 3, EOS}, {9, 8}, {EOS}]
    for r in range(3):
        cols = sorted(finite[r])
        assert torch.equal(out[r, cols], scores[r, cols])


def test_bad_tries_raise_clear_errors():
    with pytest.raises(ValueError, match="same SID"):
        SidTrie.from_token_ids({1: [3, 4], 2: [3, 4]}, EOS)
    with pytest.raises(ValueError, match="EOS"):
        SidTrie.from_token_ids({1: [3, EOS]}, EOS)
    with pytest.raises(ValueError, match="zero items"):
        SidTrie.from_token_ids({}, EOS)


def test_from_sids_table_rejects_tokens_unknown_to_the_tokenizer(tiny):
    _, tokenizer, sids = tiny
    other = sids.copy()
    other["tokens"] = [["<a_999>", "<b_0>", "<c_0>"], *other["tokens"].iloc[1:]]
    with pytest.raises(ValueError, match="a_999"):
        SidTrie.from_sids_table(other, tokenizer)


@pytest.mark.gpu
def test_processor_makes_no_host_sync_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    trie = SidTrie.from_token_ids(SEQS, EOS).to("cuda")
    proc = TrieConstrainedLogitsProcessor(trie, prompt_len=2)
    ids = torch.tensor([[4, 4, 6, 7], [4, 4, 5, 1]], device="cuda")
    scores = torch.randn(2, 1001, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = proc(ids, scores)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(out).sum().item() == 4
