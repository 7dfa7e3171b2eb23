import math

import numpy as np
import pytest
import torch

from genrec.rl.rewards import (
    cf_rewards,
    make_reward_funcs,
    ranking_penalties,
    ranking_rewards,
    rule_rewards,
    semantic_rewards,
)


def test_rule_reward_exact_target_only():
    assert rule_rewards([5, 3, -1, 5], 5) == [1.0, 0.0, 0.0, 1.0]
    # an invalid candidate never matches, even against a bogus -1 target
    assert rule_rewards([-1], -1) == [0.0]


def test_ranking_penalties_g16_match_minionerec():
    p = ranking_penalties(16)
    assert p[0] == pytest.approx(-0.1638, abs=5e-4)
    assert p[15] == pytest.approx(-0.0401, abs=5e-4)
    assert sum(p) == pytest.approx(-1.0)
    assert all(a < b for a, b in zip(p[:-1], p[1:], strict=True))  # later ranks are punished less


def test_ranking_reward_exact_values_g4():
    s = 1 + 1 / math.log2(3) + 1 / math.log2(4) + 1 / math.log2(5)
    # the target sits at rank 2: misses at ranks 0, 1, 3 are penalised, the hit gets 0
    r = ranking_rewards([7, 8, 9, 10], 9)
    assert r == pytest.approx([-1 / s, -(1 / math.log2(3)) / s, 0.0, -(1 / math.log2(5)) / s])
    # no hit in the group: no signal at all
    assert ranking_rewards([7, 8, -1, 10], 99) == [0.0, 0.0, 0.0, 0.0]


def test_ranking_reward_uses_given_ranks_not_positions():
    by_position = ranking_rewards([1, 2, 3], 3)
    shuffled = ranking_rewards([3, 2, 1], 3, ranks=[2, 1, 0])
    assert shuffled == pytest.approx(by_position[::-1])
    with pytest.raises(ValueError, match="ranks"):
        ranking_rewards([1, 2], 1, ranks=[0, 5])


def test_semantic_reward_cosine_and_invalid_minimum():
    emb = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-3.0, 0.0]], dtype=np.float32)
    r = semantic_rewards([0, 1, 2, 3, -1, 99], 0, emb)
    assert r == pytest.approx([1.0, 0.0, 1 / math.sqrt(2), -1.0, -1.0, -1.0])
    with pytest.raises(ValueError, match="target item 7"):
        semantic_rewards([0], 7, emb)


def test_cf_reward_minmax_within_group():
    assert cf_rewards([2.0, 4.0, 3.0, float("-inf")], [1, 2, 3, -1]) == pytest.approx(
        [0.0, 1.0, 0.5, 0.0]
    )
    assert cf_rewards([1.0, 1.0], [1, 2]) == [0.0, 0.0]


class _FakeScorer:
    """Scores item i by i * (len(history) + 1); -1 -> -inf, like SASRecScorer."""

    def __init__(self):
        self.calls = 0

    def score(self, histories, candidates):
        self.calls += 1
        cand = torch.as_tensor(candidates).float()
        mult = torch.tensor([[len(h) + 1.0] for h in histories])
        return torch.where(cand < 0, torch.tensor(float("-inf")), cand * mult)


def test_trl_adapters_group_by_group_and_weights():
    emb = np.eye(4, dtype=np.float32)
    scorer = _FakeScorer()
    funcs, weights = make_reward_funcs(
        {"rule": 1.0, "ranking": 0.5, "semantic": 0.0, "cf": 2.0}, emb, scorer
    )
    assert [f.__name__ for f in funcs] == ["rule", "ranking", "cf"]
    assert weights == [1.0, 0.5, 2.0]
    # two groups of G=2 (the second has no history: cf gives no signal there)
    cols = dict(
        prompts=["p", "p", "q", "q"],
        completions=["", "", "", ""],
        completion_ids=[[], [], [], []],
        item_id=[1, 2, 3, -1],
        rank=[0, 1, 0, 1],
        group=[0, 0, 1, 1],
        target=[2, 2, 0, 0],
        history=[[0, 3], [0, 3], [], []],
    )
    rule, ranking, cf = funcs
    assert rule(**cols) == [0.0, 1.0, 0.0, 0.0]
    assert ranking(**cols) == pytest.approx([-1 / (1 + 1 / math.log2(3)), 0.0, 0.0, 0.0])
    assert cf(**cols) == [0.0, 1.0, None, None]
    assert scorer.calls == 1


def test_make_reward_funcs_errors():
    with pytest.raises(ValueError, match="semantic"):
        make_reward_funcs({"semantic": 1.0})
    with pytest.raises(ValueError, match="cf"):
        make_reward_funcs({"cf": 1.0})
    with pytest.raises(ValueError, match="every reward weight is 0"):
        make_reward_funcs({"rule": 0.0})
    with pytest.raises(ValueError, match="unknown"):
        make_reward_funcs({"bleu": 1.0})
