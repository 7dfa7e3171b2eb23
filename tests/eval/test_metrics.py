import math

import numpy as np
import pytest

from genrec.eval.metrics import (
    hit_rate_at_k,
    ndcg_at_k,
    ranking_metrics,
    target_ranks,
    top1_concentration,
)


def test_hand_computed_case():
    # sample 0: target at rank 0; sample 1: rank 2; sample 2: absent; sample 3: rank 4
    preds = [[5, 1, 2, 3, 4], [1, 2, 9, 3, 4], [1, 2, 3, 4, 5], [0, 1, 2, 3, 7]]
    targets = [5, 9, 8, 7]
    m = ranking_metrics(preds, targets, ks=(1, 3, 5))
    assert m["HR@1"] == pytest.approx(1 / 4)
    assert m["HR@3"] == pytest.approx(2 / 4)
    assert m["HR@5"] == pytest.approx(3 / 4)
    assert m["NDCG@1"] == pytest.approx(1 / 4)
    assert m["NDCG@3"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert m["NDCG@5"] == pytest.approx((1 + 1 / math.log2(4) + 1 / math.log2(6)) / 4)


def test_invalid_predictions_never_hit_and_ragged_rows_pad():
    preds = [[-1, -1, 3], [2]]
    targets = [3, -1]
    ranks = target_ranks(np.array([[-1, -1, 3], [2, -1, -1]]), np.array(targets))
    assert ranks[0] == 2 and np.isinf(ranks[1])
    m = ranking_metrics(preds, targets, ks=(1, 3))
    assert m["HR@1"] == 0.0
    assert m["HR@3"] == pytest.approx(0.5)
    assert m["NDCG@3"] == pytest.approx(0.5 / math.log2(4))


def test_first_occurrence_counts_and_bounds():
    ranks = target_ranks(np.array([[4, 4, 1]]), np.array([4]))
    assert ranks.tolist() == [0.0]
    assert ndcg_at_k(np.array([0.0]), 1) == 1.0
    assert hit_rate_at_k(np.array([np.inf, 3.0]), 3) == 0.0
    with pytest.raises(ValueError):
        ranking_metrics([[1]], [1], ks=(0,))
    with pytest.raises(ValueError):
        hit_rate_at_k(np.array([]), 1)


def test_top1_concentration_flags_a_history_blind_model():
    # popularity-like: every sample gets the same ranked list
    same = np.tile([7, 3, 1], (4, 1))
    assert top1_concentration(same) == {"top1_distinct": 1, "top1_share": 1.0}
    # top-1s 5, 5, 9, -1: the invalid one is no item, but still a sample
    mixed = [[5, 1], [5, 2], [9, 5], [-1, 5]]
    assert top1_concentration(mixed) == {"top1_distinct": 2, "top1_share": 0.5}
    # all invalid: not reported as a collapse onto one item
    assert top1_concentration([[-1, -1]] * 3) == {"top1_distinct": 0, "top1_share": 0.0}
    with pytest.raises(ValueError, match="no samples"):
        top1_concentration(np.zeros((0, 3), dtype=np.int64))


def test_repeated_items_become_invalid_slots_and_are_not_scored_twice():
    from genrec.eval.metrics import drop_repeats, ranking_metrics

    preds = np.array([[5, 35, 29, 21, 30, 28, -1, 28, 29, 21], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    clean, invalid, repeats = drop_repeats(preds)
    assert clean[0].tolist() == [5, 35, 29, 21, 30, 28, -1, -1, -1, -1]
    assert clean[1].tolist() == preds[1].tolist()
    assert (invalid, repeats) == (4, 3)
    assert preds[0, 7] == 28  # the input is not modified
    # a target found only at a repeated slot is a miss
    assert ranking_metrics(clean, np.array([99, 1]), ks=[10])["HR@10"] == 0.5
