import numpy as np

from genrec.data.samples import Sequences, build_table, chronological_split, leave_one_out_split


def test_sliding_windows_contents():
    # user 0: items 10..14 at t=1..5 (given shuffled); user 1: two items with a time tie
    user = [0, 0, 0, 0, 0, 1, 1]
    item = [12, 10, 14, 11, 13, 21, 20]
    ts = [3, 1, 5, 2, 4, 7, 7]
    seq = Sequences.build(user, item, ts, order=[0, 1, 2, 3, 4, 6, 5])
    t = build_table(seq, seq.sample_rows(), max_history=2).to_pylist()
    assert [(r["user_id"], r["history"], r["target"]) for r in t] == [
        (0, [10], 11),
        (0, [10, 11], 12),
        (0, [11, 12], 13),
        (0, [12, 13], 14),
        (1, [20], 21),  # tie at t=7 broken by file order
    ]
    assert t[2]["history_ts"] == [2, 3] and t[2]["target_ts"] == 4


def _random_seq(seed=0, users=30):
    rng = np.random.default_rng(seed)
    n = rng.integers(2, 15, users)
    user = np.repeat(np.arange(users), n)
    ts = rng.integers(0, 50, len(user))  # many ties across users
    item = rng.integers(0, 40, len(user))
    return Sequences.build(user, item, ts)


def test_chronological_split_has_no_leakage_and_ratios():
    seq = _random_seq()
    parts = chronological_split(seq, (0.8, 0.1, 0.1))
    n = len(seq.sample_rows())
    sizes = [len(parts[k]) for k in ("train", "valid", "test")]
    assert sum(sizes) == n and sizes[0] == int(n * 0.8) and sizes[1] == int(n * 0.9) - int(n * 0.8)
    tr, va, te = (seq.ts[parts[k]] for k in ("train", "valid", "test"))
    assert tr.max() <= va.min() and va.max() <= te.min()
    assert len(np.unique(np.concatenate(list(parts.values())))) == n


def test_leave_one_out_split():
    seq = _random_seq(1)
    parts = leave_one_out_split(seq)
    users = np.unique(seq.user)
    assert sorted(seq.user[parts["test"]]) == users.tolist()  # every user has >= 1 sample
    for u in users:
        rows = np.flatnonzero(seq.user == u)
        assert seq.pos[parts["test"]][seq.user[parts["test"]] == u] == [len(rows) - 1]
        if len(rows) >= 3:
            assert seq.pos[parts["valid"]][seq.user[parts["valid"]] == u] == [len(rows) - 2]
        tr_pos = seq.pos[parts["train"]][seq.user[parts["train"]] == u]
        assert (tr_pos < len(rows) - 2).all()
