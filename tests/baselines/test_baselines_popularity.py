import json
import math

import numpy as np
import pandas as pd
import pytest

from genrec.baselines.params import PopularityParams
from genrec.baselines.popularity import item_counts, popularity_ranking, run


def _train():
    # user 0: items 4 -> 1 -> 1 -> 2 (ts 10, 11, 12, 13); user 1: 3 -> 2 -> 0 (ts 20, 21, 22)
    return pd.DataFrame(
        {
            "user_id": [0, 0, 0, 1, 1],
            "history": [[4], [4, 1], [4, 1, 1], [3], [3, 2]],
            "target": [1, 1, 2, 2, 0],
            "history_ts": [[10], [10, 11], [10, 11, 12], [20], [20, 21]],
            "target_ts": [11, 12, 13, 21, 22],
        }
    )


def test_target_counts_and_tie_break_by_smaller_id():
    counts = item_counts(_train(), n_items=6, count="target")
    assert counts.tolist() == [1, 2, 2, 0, 0, 0]
    # 1 and 2 tie (2 each): smaller id first; then 0; then the zero-count items by id
    assert popularity_ranking(counts).tolist() == [1, 2, 0, 3, 4, 5]
    assert popularity_ranking(counts, 3).tolist() == [1, 2, 0]


def test_interaction_counts_count_each_event_once():
    # distinct events: u0: 4@10, 1@11, 1@12, 2@13; u1: 3@20, 2@21, 0@22
    counts = item_counts(_train(), n_items=6, count="interactions")
    assert counts.tolist() == [1, 2, 2, 1, 1, 0]
    assert popularity_ranking(counts).tolist() == [1, 2, 0, 3, 4, 5]


def test_unknown_count_mode_is_rejected():
    with pytest.raises(ValueError, match="baselines.popularity.count"):
        item_counts(_train(), 6, count="views")


def test_run_writes_same_list_for_everyone_and_hand_metrics(tmp_path):
    _train().to_parquet(tmp_path / "train.parquet")
    test = pd.DataFrame({"user_id": [0, 1, 2], "history": [[1], [2], [0, 1]], "target": [2, 5, 1]})
    test.to_parquet(tmp_path / "test.parquet")
    pd.DataFrame({"item_id": np.arange(6)}).to_parquet(tmp_path / "items.parquet")
    m = run(
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
        tmp_path / "items.parquet",
        tmp_path / "out/predictions.parquet",
        tmp_path / "out/metrics.json",
        PopularityParams.defaults(count="target"),
        ks=[1, 3, 10],
    )
    preds = pd.read_parquet(tmp_path / "out/predictions.parquet")
    assert list(preds.columns) == ["user_id", "target", "predictions", "rank"]
    # ranking [1, 2, 0, 3, 4, 5]; K=10 > 6 items -> all 6 items
    assert all(list(p) == [1, 2, 0, 3, 4, 5] for p in preds["predictions"])
    # targets 2 (rank 1), 5 (rank 5), 1 (rank 0)
    assert preds["rank"].tolist() == [1, 5, 0]
    assert m["HR@1"] == pytest.approx(1 / 3)
    assert m["HR@3"] == pytest.approx(2 / 3)
    assert m["HR@10"] == pytest.approx(1.0)
    assert m["NDCG@3"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    on_disk = json.loads((tmp_path / "out/metrics.json").read_text())
    assert on_disk == m
    assert on_disk["model"] == "popularity" and on_disk["sid_method"] is None
    assert on_disk["n"] == 3 and on_disk["invalid"] == 0
    assert on_disk["top1_share"] == 1.0 and on_disk["top1_distinct"] == 1  # history-blind


def test_out_of_range_item_names_the_file(tmp_path):
    _train().to_parquet(tmp_path / "train.parquet")
    pd.DataFrame({"user_id": [0], "history": [[1]], "target": [9]}).to_parquet(
        tmp_path / "test.parquet"
    )
    pd.DataFrame({"item_id": np.arange(6)}).to_parquet(tmp_path / "items.parquet")
    with pytest.raises(ValueError, match=r"test\.parquet: target item id 9 outside 0\.\.5"):
        run(
            tmp_path / "train.parquet",
            tmp_path / "test.parquet",
            tmp_path / "items.parquet",
            tmp_path / "p.parquet",
            tmp_path / "m.json",
            PopularityParams.defaults(),
            ks=[1],
        )
    assert not (tmp_path / "m.json").exists()
