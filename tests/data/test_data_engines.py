"""The out-of-core (DuckDB) data stage gives exactly the pandas path's outputs: the same
Parquet tables (rows, order, types), id maps (bytes) and stats, on every layout and
edge case of the data tests, on a synthetic dataset and on the Industrial sample."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from outputs_helpers import stage_outputs

from genrec.data import DataError
from genrec.data.pipeline import AUTO_DUCKDB_MB, OUTPUTS, choose_engine, prepare
from genrec.data.synthetic import write_synthetic

INDUSTRIAL = Path(__file__).resolve().parents[2] / "../shared/data/amazon18-industrial"
for _p in (INDUSTRIAL, Path("/work/shared/data/amazon18-industrial")):
    if _p.is_dir():
        INDUSTRIAL = _p
        break


def both(tmp_path, r, m, params):
    """Run both engines on the same input; return their outputs."""
    outs = {}
    for engine in ("pandas", "duckdb"):
        out = stage_outputs(tmp_path / engine, OUTPUTS)
        prepare(r, m, params.replace(engine=engine), out)
        outs[engine] = out
    return outs["pandas"], outs["duckdb"]


def assert_same(a, b):
    for name in ("train", "valid", "test", "items_parquet"):
        ta, tb = pq.read_table(a[name]), pq.read_table(b[name])
        assert ta.schema == tb.schema, name
        assert ta.num_rows == tb.num_rows, name
        assert ta.equals(tb), name
    assert a["id_maps"].read_bytes() == b["id_maps"].read_bytes()
    assert json.loads(a["stats"].read_text()) == json.loads(b["stats"].read_text())


def _reviews(users=8, items=6, start=1_500_000_000, ties=False):
    out = []
    for u in range(users):
        for i in range(items):
            if (u + i) % 5 == 4:  # not a full graph: the k-core has work to do
                continue
            t = start + (0 if ties and i < 3 else 86400 * ((u * 7 + i * 3) % 11))
            out.append({"reviewerID": f"U{(u * 37) % users}", "asin": f"I{i}", "unixReviewTime": t})
    return out


def _meta(items=6):
    return [
        {
            "asin": f"I{i}",
            "title": f"Item <b>{i}</b> &amp; co",
            "description": [f"first {i}", "second"],
            "brand": "Acme",
            "category": ["Top", f"Cat{i % 2}", "<i>Top</i>"],
        }
        for i in range(items)
    ]


def test_2018_gz_chronological_and_leave_one_out(tmp_path, amazon, params):
    r = amazon.write(tmp_path / "r.json.gz", _reviews(), gz=True)
    m = amazon.write(tmp_path / "m.json.gz", _meta(), gz=True)
    a, b = both(tmp_path / "chrono", r, m, params)
    assert_same(a, b)
    assert pq.read_table(a["train"]).num_rows > 0
    loo = params.replace(split=params.split.replace(method="leave_one_out"))
    assert_same(*both(tmp_path / "loo", r, m, loo))


def test_time_ties_keep_file_order_and_short_history(tmp_path, amazon, params):
    r = amazon.write(tmp_path / "r.json", _reviews(users=10, items=8, ties=True))
    m = amazon.write(tmp_path / "m.json", _meta(8))
    assert_same(*both(tmp_path, r, m, params.replace(max_history=2)))


def test_same_time_reviews_keep_first_file_occurrence(tmp_path, amazon, params):
    """Whole sequences at one timestamp: only the file order (of each review's first
    occurrence) orders them, in an order unlike item ids or hashing."""
    import random

    rng = random.Random(5)
    recs = []
    for u in range(12):
        items = rng.sample(range(8), 6)
        for k, i in enumerate(items):
            recs.append({"reviewerID": f"U{u}", "asin": f"I{i}", "unixReviewTime": 1_500_000_000})
            if k == 1:  # a repeat of the first review after another one: the first counts
                recs.append(dict(recs[-2]))
    rng.shuffle(recs)  # users interleaved; each user's own order is what the file says
    r = amazon.write(tmp_path / "r.json", recs)
    m = amazon.write(tmp_path / "m.json", _meta(8))
    a, b = both(tmp_path, r, m, params.replace(max_history=5))
    assert_same(a, b)


def test_duplicates_missing_metadata_bad_titles_unicode_ids(tmp_path, amazon, params):
    recs = _reviews(users=9, items=7)
    recs += recs[:10]  # repeated reviews (same user, item, time)
    recs += [dict(x, unixReviewTime=x["unixReviewTime"] + 5) for x in recs[:6]]  # re-reviews
    for x in recs[::4]:
        x["reviewerID"] = x["reviewerID"] + "é" if x["reviewerID"] < "U4" else x["reviewerID"]
    meta = _meta(7)
    del meta[5]  # an item without metadata
    meta[0]["title"] = "<br>"  # empty after cleaning
    meta[1]["title"] = " ".join(["word"] * 21)  # too long
    meta.append(dict(meta[2], title="a later duplicate record"))  # the first one wins
    meta.append({"asin": "UNREVIEWED", "title": "x"})
    r = amazon.write(tmp_path / "r.json", recs)
    m = amazon.write(tmp_path / "m.json", meta)
    assert_same(*both(tmp_path, r, m, params))


def test_time_window_widening(tmp_path, amazon, params):
    recs = [
        {"reviewerID": f"U{u}", "asin": f"I{i}", "unixReviewTime": 1_500_000_000 + 86400 * 40 * i}
        for u in range(4)
        for i in range(10)
    ]
    r = amazon.write(tmp_path / "r.json", recs)
    m = amazon.write(tmp_path / "m.json", _meta(10))
    tw = params.time_window.replace(start="2018-01-01", min_items=8, widen_step_days=100)
    p = params.replace(user_k=1, item_k=1, time_window=tw)
    a, b = both(tmp_path, r, m, p)
    assert_same(a, b)
    assert json.loads(b["stats"].read_text())["steps"][3]["widening_steps"] > 0


def test_2014_and_2023_layouts_and_skipped_bad_lines(tmp_path, amazon, params):
    recs = [json.dumps(x) for x in _reviews()]
    recs.insert(3, "{not json")
    recs.insert(9, json.dumps({"reviewerID": "U1"}))  # missing fields
    meta = [
        {"asin": f"I{i}", "title": f"T {i}", "description": "d", "categories": [["A", "B"]]}
        for i in range(6)
    ]
    r = amazon.write(tmp_path / "r14.json", recs)
    m = amazon.write(tmp_path / "m14.json", meta, literal=True)
    skip = params.replace(on_bad_line="skip")
    a, b = both(tmp_path / "2014", r, m, skip)
    assert_same(a, b)
    assert json.loads(b["stats"].read_text())["inputs"]["reviews"]["bad_lines"] == 2

    r23 = [
        {
            "user_id": x["reviewerID"],
            "parent_asin": x["asin"],
            "timestamp": x["unixReviewTime"] * 1000 + 999,
        }
        for x in _reviews()
    ]
    m23 = [
        {
            "parent_asin": f"I{i}",
            "title": f"T {i}",
            "description": ["d"],
            "categories": ["C"],
            "store": "S",
        }
        for i in range(6)
    ]
    r = amazon.write(tmp_path / "r23.jsonl.gz", r23, gz=True)
    m = amazon.write(tmp_path / "m23.jsonl", m23)
    assert_same(*both(tmp_path / "2023", r, m, params))


@pytest.mark.parametrize(
    "broken, change, match",
    [
        ("reviews", {}, r"r\.json:5: malformed record"),
        ("meta", {}, r"m\.json:2: malformed record"),
        (None, {"user_k": 50}, "lower data.user_k"),
        (None, {"time_window": {"start": "2030-01-01"}}, "lower data.user_k"),
    ],
)
def test_same_errors_and_nothing_written(tmp_path, amazon, params, broken, change, match):
    recs = [json.dumps(x) for x in _reviews()]
    meta = [json.dumps(x) for x in _meta()]
    if broken == "reviews":
        recs[4] = "{not json"
    if broken == "meta":
        meta[1] = "{not json"
    r = amazon.write(tmp_path / "r.json", recs)
    m = amazon.write(tmp_path / "m.json", meta)
    if "time_window" in change:
        change = {"time_window": params.time_window.replace(**change["time_window"])}
    for engine in ("pandas", "duckdb"):
        with pytest.raises(DataError, match=match):
            prepare(
                r,
                m,
                params.replace(engine=engine, **change),
                stage_outputs(tmp_path / "o", OUTPUTS),
            )
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "r.json"], engine


def test_synthetic_dataset(tmp_path, params, synthetic):
    r, m = tmp_path / "s_5.json.gz", tmp_path / "meta_s.json.gz"
    write_synthetic(r, m, **synthetic(n_users=600, n_items=150, seed=3))
    assert_same(*both(tmp_path / "chrono", r, m, params.replace(user_k=5, item_k=5)))
    loo = params.replace(split=params.split.replace(method="leave_one_out"), max_history=3)
    assert_same(*both(tmp_path / "loo", r, m, loo))


@pytest.mark.skipif(not INDUSTRIAL.is_dir(), reason="no ../shared/data/amazon18-industrial")
def test_industrial_sample(tmp_path, params):
    r = INDUSTRIAL / "Industrial_and_Scientific_5.json.gz"
    m = INDUSTRIAL / "meta_Industrial_and_Scientific.json.gz"
    a, b = both(tmp_path, r, m, params.replace(user_k=3, item_k=3))
    assert_same(a, b)
    assert json.loads(b["stats"].read_text())["final"]["interactions"] > 20_000


def test_auto_engine_by_input_size(tmp_path):
    small = tmp_path / "small.json"
    small.write_bytes(b"x" * 1000)
    assert choose_engine("auto", small) == "pandas"
    big = tmp_path / "big.json.gz"
    with open(big, "wb") as fh:  # a sparse file: its size without the disk space
        fh.truncate(int(AUTO_DUCKDB_MB * 1e6))
    assert choose_engine("auto", big) == "duckdb"
    assert choose_engine("pandas", big) == "pandas"
    with pytest.raises(DataError, match="data.engine"):
        choose_engine("spark", small)
