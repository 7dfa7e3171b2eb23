"""The SFT task mixture and validation set (genrec.sft.dataset)."""

from __future__ import annotations

import pytest
from sft_helpers import make_tables, tiny_sft_data, tiny_tasks, write_tables

from genrec import prompts
from genrec.sft.dataset import build_sft_datasets, build_sft_tables


def _params(seed=0, **caps):
    return tiny_sft_data(tasks=tiny_tasks(**caps), seed=seed)


def test_tasks_sizes_and_texts():
    t = make_tables()
    params = _params(
        seed=1, title_history_to_sid=5, sid_history_to_title=0, title_history_to_title=3
    )
    train, valid = build_sft_tables(t["train"], t["valid"], t["items"], t["sids"], params)
    counts = train["task"].value_counts().to_dict()
    n_items = len(t["items"])
    assert counts == {
        "sid_next": len(t["train"]),
        "sid_to_title": n_items,
        "title_to_sid": n_items,
        "title_history_to_sid": 5,
        "title_history_to_title": 3,
    }
    sid = dict(zip(t["sids"].item_id, t["sids"].sid, strict=True))
    title = dict(zip(t["items"].item_id, t["items"].title, strict=True))
    pairs = {
        (u, tuple(h)): g
        for u, h, g in zip(t["train"].user_id, t["train"].history, t["train"].target, strict=True)
    }
    for row in train.itertuples():
        if row.task == "sid_to_title":
            assert (row.prompt, row.response) == (
                prompts.sid_to_title(sid[row.target]),
                title[row.target],
            )
        elif row.task == "title_to_sid":
            assert (row.prompt, row.response) == (
                prompts.title_to_sid(title[row.target]),
                sid[row.target],
            )
        else:
            # history tasks come from train samples, each with its own target
            hist = next(h for (u, h), g in pairs.items() if u == row.user_id and g == row.target)
            expected = {
                "sid_next": (prompts.sid_next([sid[i] for i in hist]), sid[row.target]),
                "title_history_to_sid": (
                    prompts.title_history_to_sid([title[i] for i in hist]),
                    sid[row.target],
                ),
                "title_history_to_title": (
                    prompts.title_history_to_title([title[i] for i in hist]),
                    title[row.target],
                ),
            }[row.task]
            assert (row.prompt, row.response) == expected
    # validation: task 1 on the valid split only, capped
    assert set(valid["task"]) == {"sid_next"}
    assert len(valid) == params.max_valid_samples
    valid_pairs = set(zip(t["valid"].user_id, t["valid"].target, strict=True))
    assert set(zip(valid.user_id, valid.target, strict=True)) <= valid_pairs


def test_seeded_and_shuffled():
    t = make_tables()
    params = _params(seed=3, title_history_to_sid=10)
    a, _ = build_sft_tables(t["train"], t["valid"], t["items"], t["sids"], params)
    b, _ = build_sft_tables(t["train"], t["valid"], t["items"], t["sids"], params)
    c, _ = build_sft_tables(t["train"], t["valid"], t["items"], t["sids"], params.replace(seed=4))
    assert a.equals(b)
    assert not a.equals(c)
    assert a["task"].iloc[:40].nunique() > 1  # tasks are mixed, not in blocks


def test_all_tasks_off_is_an_error():
    t = make_tables()
    params = _params(**{task: 0 for task in prompts.TASKS})
    with pytest.raises(ValueError, match="empty"):
        build_sft_tables(t["train"], t["valid"], t["items"], t["sids"], params)


def test_saved_to_disk_with_train_and_valid(tmp_path):
    from datasets import load_from_disk

    paths = write_tables(make_tables(), tmp_path)
    counts = build_sft_datasets(
        paths["train"], paths["valid"], paths["items"], paths["sids"], tmp_path / "ds", _params()
    )
    dd = load_from_disk(str(tmp_path / "ds"))
    assert set(dd) == {"train", "valid"}
    assert len(dd["train"]) == sum(v for k, v in counts.items() if k.startswith("train/"))
    assert {"task", "prompt", "response"} <= set(dd["train"].column_names)


def test_bad_inputs_name_the_file(tmp_path):
    t = make_tables()
    paths = write_tables(t, tmp_path)
    t["sids"].drop(columns=["sid"]).to_parquet(tmp_path / "nosid.parquet")
    with pytest.raises(ValueError, match=r"nosid\.parquet: missing column\(s\) \['sid'\]"):
        build_sft_datasets(
            paths["train"],
            paths["valid"],
            paths["items"],
            tmp_path / "nosid.parquet",
            tmp_path / "o",
            _params(),
        )
    t["sids"].iloc[:-2].to_parquet(tmp_path / "short.parquet")
    with pytest.raises(ValueError, match=r"short\.parquet: 2 item\(s\) have no SID"):
        build_sft_datasets(
            paths["train"],
            paths["valid"],
            paths["items"],
            tmp_path / "short.parquet",
            tmp_path / "o",
            _params(),
        )
    assert not (tmp_path / "o").exists()
