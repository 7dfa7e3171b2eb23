import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genrec.data import DataError
from genrec.data.filters import kcore, parse_date, window, window_and_kcore
from genrec.data.params import DataParams


def naive_kcore(rows, user_k, item_k):
    """Reference: repeatedly delete one violating row's user or item until none violates."""
    rows = list(rows)
    changed = True
    while changed:
        changed = False
        uc, ic = {}, {}
        for u, i in rows:
            uc[u] = uc.get(u, 0) + 1
            ic[i] = ic.get(i, 0) + 1
        for u, i in rows:
            if uc[u] < user_k:
                rows = [r for r in rows if r[0] != u]
                changed = True
                break
            if ic[i] < item_k:
                rows = [r for r in rows if r[1] != i]
                changed = True
                break
    return sorted(rows)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 9)), max_size=80),
    user_k=st.integers(1, 4),
    item_k=st.integers(1, 4),
)
def test_kcore_is_a_core_and_maximal(rows, user_k, item_k):
    df = pd.DataFrame(rows, columns=["user", "item"], dtype=np.int64)
    core, passes = kcore(df, user_k, item_k)
    # it is a core ...
    assert (core.groupby("user").size() >= user_k).all()
    assert (core.groupby("item").size() >= item_k).all()
    # ... and the maximal one (the unique fixpoint of deleting violators in any order)
    assert sorted(map(tuple, core[["user", "item"]].to_numpy().tolist())) == naive_kcore(
        rows, user_k, item_k
    )
    if passes:
        assert passes[-1]["interactions"] == len(core)


def test_kcore_needs_several_passes():
    # u0 has 2 rows; removing item b (1 row) drops u0 below user_k=2, then item a falls below 2.
    df = pd.DataFrame({"user": [0, 0, 1, 1, 2, 2], "item": [0, 1, 0, 2, 2, 3]})
    core, passes = kcore(df, 2, 2)
    assert len(passes) >= 2
    assert core.empty


def test_window_is_half_open():
    df = pd.DataFrame({"user": [0, 0, 0], "item": [0, 1, 2], "ts": [10, 20, 30]})
    assert window(df, 20, 30)["ts"].tolist() == [20]
    assert window(df, None, None)["ts"].tolist() == [10, 20, 30]


def test_window_widening_until_min_items():
    day = 86400
    # items 0..3 reviewed in 2020 by users 0..1; items 4..7 only earlier (2019)
    t2020 = parse_date("2020-01-01", "x")
    t2019 = parse_date("2019-01-01", "x")
    rows = []
    for u in range(2):
        for i in range(4):
            rows.append((u, i, t2020 + day * i))
            rows.append((u, i + 4, t2019 + day * i))
    df = pd.DataFrame(rows, columns=["user", "item", "ts"])
    params = DataParams.defaults(
        user_k=1, item_k=1, time_window={"start": "2020-01-01", "widen_step_days": 200}
    )
    core, stats = window_and_kcore(df, params)
    assert sorted(core["item"].unique()) == [0, 1, 2, 3]
    params = params.replace(time_window=params.time_window.replace(min_items=8))
    core, stats = window_and_kcore(df, params)
    assert core["item"].nunique() == 8
    assert stats["time_window"]["widening_steps"] == 2  # 2020-01-01 -> 2019-06-15 -> 2018-11-27


def test_bad_window_dates():
    df = pd.DataFrame({"user": [0], "item": [0], "ts": [0]})
    params = DataParams.defaults(user_k=1, item_k=1)
    tw = params.time_window
    # the schema's pattern rejects this date too; the library names the key on its own
    bad = params.replace(time_window=tw.replace(start="2020/01/01"))
    with pytest.raises(DataError, match="time_window.start"):
        window_and_kcore(df, bad)
    bad = params.replace(time_window=tw.replace(start="2020-01-02", end="2020-01-01"))
    with pytest.raises(DataError, match="not before end"):
        window_and_kcore(df, bad)
