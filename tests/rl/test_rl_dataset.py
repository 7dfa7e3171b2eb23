import inspect

import numpy as np
import pandas as pd
import pytest

from genrec import prompts
from genrec.rl.dataset import build_rl_dataset, build_rl_rows


def _tables():
    # items 0..9; items 8 and 9 only ever occur as valid/test targets
    items = pd.DataFrame({"item_id": range(10), "title": [f"title {i}" for i in range(10)]})
    sids = pd.DataFrame(
        {"item_id": range(10), "sid": [f"<a_{i // 3}><b_{i % 3}>" for i in range(10)]}
    )
    train = pd.DataFrame(
        {
            "user_id": [0, 0, 1, 1, 2, 3],
            "history": [[0], [0, 1], [2], [2, 3], [4, 5], [0, 1]],
            "target": [1, 2, 3, 4, 6, 7],
        }
    )
    valid = pd.DataFrame({"user_id": [0, 1], "history": [[0, 1, 2], [2, 3, 4]], "target": [8, 9]})
    test = pd.DataFrame({"user_id": [2, 3], "history": [[4, 5, 6], [0, 1, 7]], "target": [9, 8]})
    return train, valid, test, items, sids


def test_rows_come_from_train_samples_with_their_own_targets():
    train, _, _, items, sids = _tables()
    df = build_rl_rows(
        train, items, sids, {"sid_next": None, "title_history_to_sid": 3, "title_to_sid": 4}, 0
    )
    assert df["task"].value_counts().to_dict() == {
        "sid_next": 6,
        "title_history_to_sid": 3,
        "title_to_sid": 4,
    }
    train_pairs = {
        (u, tuple(h), t) for u, h, t in zip(train.user_id, train.history, train.target, strict=True)
    }
    for row in df.itertuples():
        if row.task == "title_to_sid":
            assert row.prompt == prompts.title_to_sid(f"title {row.target}")
            continue
        assert (row.user_id, tuple(row.history), row.target) in train_pairs
        if row.task == "sid_next":
            assert row.prompt == prompts.sid_next(sids.sid[list(row.history)].tolist())
    # users 0 and 3 share the history [0, 1] but keep their own targets (2 and 7)
    same = df[(df.task == "sid_next") & (df.history.map(list).map(tuple) == (0, 1))]
    assert sorted(same.target) == [2, 7]


def test_no_valid_or_test_target_is_reachable():
    train, valid, test, items, sids = _tables()
    held_out = (set(valid.target) | set(test.target)) - set(train.target)
    held_out -= {i for h in train.history for i in h}
    assert held_out == {8, 9}
    df = build_rl_rows(
        train,
        items,
        sids,
        {"sid_next": None, "title_history_to_sid": None, "title_to_sid": None},
        1,
    )
    assert not set(df.target) & held_out
    assert not any(set(h) & held_out for h in df.history)
    for i in held_out:
        assert sids.sid[i] not in "".join(df.prompt)
        assert f"title {i}" not in "".join(df.prompt)
    # the builder has no way to read the valid/test splits
    params = inspect.signature(build_rl_dataset).parameters
    assert not any("valid" in p or "test" in p for p in params)


def test_seeded_and_sized(tmp_path):
    train, _, _, items, sids = _tables()
    for name, df in (("train", train), ("items", items), ("sids", sids)):
        df.to_parquet(tmp_path / f"{name}.parquet")
    sizes = {"sid_next": 2, "title_history_to_sid": 0, "title_to_sid": 2}
    paths = [tmp_path / f"{n}.parquet" for n in ("train", "items", "sids")]
    a = build_rl_dataset(*paths, sizes, seed=3)
    b = build_rl_dataset(*paths, sizes, seed=3)
    assert len(a) == 4 and a.to_list() == b.to_list()
    assert set(a.column_names) == {"prompt", "target", "history", "task", "user_id"}


def test_clear_errors(tmp_path):
    train, _, _, items, sids = _tables()
    with pytest.raises(ValueError, match="no entry in sids"):
        build_rl_rows(train, items, sids[sids.item_id != 4], {"sid_next": 1}, 0)
    with pytest.raises(ValueError, match="empty"):
        build_rl_rows(train, items, sids, {"sid_next": 0}, 0)
    train.drop(columns=["target"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"bad\.parquet.*target"):
        build_rl_dataset(tmp_path / "bad.parquet", tmp_path / "x", tmp_path / "y", {}, 0)


def test_recent_selection_takes_the_latest_train_samples():
    train, _, _, items, sids = _tables()
    train["target_ts"] = [50, 10, 60, 20, 40, 30]
    df = build_rl_rows(train, items, sids, {"sid_next": 3}, seed=0, selection="recent")
    # the three latest targets: ts 60 (item 3), 50 (item 1), 40 (item 6), in train order
    assert df["target"].tolist() == [1, 3, 6]
    assert df["history"].tolist() == [[0], [2], [4, 5]]
    with pytest.raises(ValueError, match="needs a target_ts column"):
        build_rl_rows(train.drop(columns="target_ts"), items, sids, {"sid_next": 1}, 0, "recent")
    with pytest.raises(ValueError, match="'random' or 'recent'"):
        build_rl_rows(train, items, sids, {"sid_next": 1}, 0, "newest")


def test_length_grouped_order_batches_similar_lengths():
    from genrec.rl.dataset import length_grouped_order

    rng = np.random.default_rng(0)
    # a mix of short (SID history) and long (title history) prompts
    lengths = np.concatenate([rng.integers(30, 60, 500), rng.integers(300, 400, 300)])
    rng.shuffle(lengths)
    order = length_grouped_order(lengths, batch=16, seed=1)
    assert sorted(order.tolist()) == list(range(800))  # a permutation: every prompt once
    batches = [lengths[order[i : i + 16]] for i in range(0, 800, 16)]
    padded = sum(len(b) * b.max() - b.sum() for b in batches)
    random = np.random.default_rng(2).permutation(800)
    padded_random = sum(
        16 * lengths[random[i : i + 16]].max() - lengths[random[i : i + 16]].sum()
        for i in range(0, 800, 16)
    )
    assert padded < padded_random / 10
    mixed = sum(1 for b in batches if b.min() < 100 < b.max())
    assert mixed <= 2  # at most the batch at a mega-batch's short/long boundary
    assert np.array_equal(order, length_grouped_order(lengths, 16, seed=1))  # seeded
    assert not np.array_equal(order, length_grouped_order(lengths, 16, seed=3))
    short = length_grouped_order(lengths[:40], batch=16, seed=1)
    assert sorted(short.tolist()) == list(range(40))
