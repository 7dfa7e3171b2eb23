import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from outputs_helpers import stage_outputs

from genrec.data import DataError
from genrec.data.pipeline import OUTPUTS, prepare


@pytest.fixture(params=["pandas", "duckdb"])
def params(request, params):
    """Every test here runs on both engines (the conftest's parameters, ``engine`` set)."""
    return params.replace(engine=request.param)


def run(r, m, outdir, params):
    """Prepare into ``outdir``; return the stats and the output paths."""
    out = stage_outputs(outdir, OUTPUTS)
    return prepare(r, m, params, out), out


def _raw(tmp_path, amazon, users=6, items=5):
    r = amazon.write(tmp_path / "r.json.gz", amazon.reviews_2018(users, items), gz=True)
    m = amazon.write(tmp_path / "m.json.gz", amazon.meta_2018(items), gz=True)
    return r, m


def test_outputs_schemas_and_ids(tmp_path, amazon, params):
    r, m = _raw(tmp_path, amazon)
    stats, out = run(r, m, tmp_path / "out", params)
    assert sorted((tmp_path / "out").iterdir()) == sorted(out.values())  # nothing else
    items = pd.read_parquet(out["items_parquet"])
    assert items["item_id"].tolist() == list(range(5))
    assert items["source_id"].tolist() == sorted(items["source_id"])
    assert items.iloc[0][["title", "description", "brand"]].tolist() == [
        "Item 0 & co",
        "first 0 second",
        "Acme",
    ]
    assert list(items.iloc[1]["categories"]) == ["Top", "Cat1"]
    schema = pq.read_schema(out["train"])
    assert [f"{f.name}:{f.type}" for f in schema] == [
        "user_id:int64",
        "history:list<element: int64>",
        "target:int64",
        "history_ts:list<element: int64>",
        "target_ts:int64",
    ]
    ids = json.loads(out["id_maps"].read_text())
    assert ids["item"] == {f"I{i}": i for i in range(5)}
    assert ids["user"] == {f"U{u}": u for u in range(6)}
    n = sum(len(pd.read_parquet(out[s])) for s in ("train", "valid", "test"))
    assert n == 6 * 4 == sum(stats["split"][s] for s in ("train", "valid", "test"))
    saved = json.loads(out["stats"].read_text())
    assert saved["final"] == {
        "users": 6,
        "items": 5,
        "interactions": 30,
        "density": 1.0,
        "mean_sequence_length": 5.0,
    }
    assert saved["steps"][0]["step"] == "read"


def test_deterministic(tmp_path, amazon, params):
    r, m = _raw(tmp_path, amazon)
    _, a = run(r, m, tmp_path / "a", params)
    _, b = run(r, m, tmp_path / "b", params)
    for name in OUTPUTS:
        assert a[name].read_bytes() == b[name].read_bytes(), name


def test_title_filter_and_kcore_drop_items(tmp_path, amazon, params):
    meta = amazon.meta_2018(5)
    meta[0]["title"] = "<br>"  # empty after cleaning
    meta[1]["title"] = " ".join(["word"] * 21)  # too long
    r = amazon.write(tmp_path / "r.json", amazon.reviews_2018(6, 5))
    m = amazon.write(tmp_path / "m.json", meta)
    stats, out = run(r, m, tmp_path / "out", params)
    items = pd.read_parquet(out["items_parquet"])
    assert items["source_id"].tolist() == ["I2", "I3", "I4"]
    step = stats["steps"][2]
    assert step["items_with_metadata"] == 5 and step["items_with_valid_title"] == 3


def test_leave_one_out_option(tmp_path, amazon, params):
    r, m = _raw(tmp_path, amazon)
    params = params.replace(split=params.split.replace(method="leave_one_out"))
    stats, out = run(r, m, tmp_path / "out", params)
    assert (stats["split"]["test"], stats["split"]["valid"], stats["split"]["train"]) == (6, 6, 12)
    test = pd.read_parquet(out["test"])
    assert sorted(test["user_id"]) == list(range(6))


def test_malformed_line_error_or_skip(tmp_path, amazon, params):
    recs = [json.dumps(x) for x in amazon.reviews_2018(6, 5)]
    recs[4] = "{not json"
    r = amazon.write(tmp_path / "r.json", recs)
    m = amazon.write(tmp_path / "m.json", amazon.meta_2018(5))
    with pytest.raises(DataError, match=r"r\.json:5: malformed.*on_bad_line"):
        run(r, m, tmp_path / "out", params)
    assert not (tmp_path / "out").exists()
    params = params.replace(on_bad_line="skip")
    stats, _ = run(r, m, tmp_path / "out", params)
    assert stats["inputs"]["reviews"]["bad_lines"] == 1
    assert stats["steps"][0]["interactions"] == 29


def test_missing_required_field(tmp_path, amazon, params):
    recs = amazon.reviews_2018(6, 5)
    del recs[7]["asin"]
    r = amazon.write(tmp_path / "r.json", recs)
    m = amazon.write(tmp_path / "m.json", amazon.meta_2018(5))
    with pytest.raises(DataError, match=r"r\.json:8: missing required field 'asin'"):
        run(r, m, tmp_path / "out", params)


def test_unknown_format(tmp_path, amazon, params):
    r, m = _raw(tmp_path, amazon)
    params = params.replace(format="2019")  # past the schema: the library's own check
    with pytest.raises(DataError, match="unknown format '2019'"):
        run(r, m, tmp_path / "out", params)


def test_metadata_without_matching_items(tmp_path, amazon, params):
    r = amazon.write(tmp_path / "r.json", amazon.reviews_2018(6, 5))
    meta = amazon.meta_2018(5)
    for rec in meta:
        rec["asin"] = "Z" + rec["asin"]
    m = amazon.write(tmp_path / "m.json", meta)
    with pytest.raises(DataError, match=r"m\.json: none of its 5 metadata records matches"):
        run(r, m, tmp_path / "out", params)


def test_empty_after_filtering_suggests_fix(tmp_path, amazon, params):
    r, m = _raw(tmp_path, amazon)
    params = params.replace(user_k=6)  # every user has 5 reviews
    with pytest.raises(DataError, match="lower data.user_k / data.item_k or widen"):
        run(r, m, tmp_path / "out", params)
    assert not (tmp_path / "out").exists()


def test_failure_leaves_previous_outputs_intact(tmp_path, amazon, params):
    r, m = _raw(tmp_path, amazon)
    out = tmp_path / "out"
    run(r, m, out, params)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    params = params.replace(item_k=7)
    with pytest.raises(DataError):
        run(r, m, out, params)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_nonexistent_input(tmp_path, amazon, params):
    _, m = _raw(tmp_path, amazon)
    with pytest.raises(FileNotFoundError, match="missing_5.json.gz"):
        run(tmp_path / "missing_5.json.gz", m, tmp_path / "out", params)


def test_outputs_go_to_the_given_paths(tmp_path, amazon, params):
    r, m = _raw(tmp_path, amazon)
    outputs = {name: tmp_path / name / f"{name}.out" for name in OUTPUTS}
    prepare(r, m, params, outputs)
    assert all(p.is_file() for p in outputs.values())
    assert len(pd.read_parquet(outputs["items_parquet"])) == 5
    del outputs["stats"]
    with pytest.raises(ValueError, match=r"no output path for \['stats'\]"):
        prepare(r, m, params, outputs)
