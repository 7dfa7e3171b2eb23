import gzip
import json

import pytest

from genrec.data import DataError
from genrec.data.readers import detect_format, open_text, read_meta, read_reviews


def test_2014_reviews_and_literal_metadata(tmp_path, amazon):
    r = amazon.write(
        tmp_path / "reviews.json.gz",
        [{"reviewerID": "A1", "asin": "X1", "unixReviewTime": 1400000000, "reviewText": "ok"}],
        gz=True,
    )
    m = amazon.write(
        tmp_path / "meta.json.gz",
        [
            {
                "asin": "X1",
                "title": "Drill 'Pro'",
                "description": "A drill. It's great",
                "brand": "Bosch",
                "categories": [["Tools", "Power Tools"], ["Tools", "Drills"]],
            }
        ],
        gz=True,
        literal=True,
    )
    assert detect_format(r, m) == "2014"
    df, stats = read_reviews(r, "2014")
    assert df.to_dict("records") == [{"user": "A1", "item": "X1", "ts": 1400000000}]
    meta, _ = read_meta(m, "2014")
    row = meta.iloc[0]
    assert row["title"] == "Drill 'Pro'"
    assert row["description"] == "A drill. It's great"
    assert row["brand"] == "Bosch"
    assert row["categories"] == ["Tools", "Power Tools", "Drills"]


def test_2018_metadata_category_key_is_read(tmp_path, amazon):
    # Upstream MiniOneRec reads `categories` and gets nothing from 2018 files.
    r = amazon.write(tmp_path / "r.json", amazon.reviews_2018(2, 2))
    m = amazon.write(tmp_path / "m.json", amazon.meta_2018(2))
    assert detect_format(r, m) == "2018"
    meta, _ = read_meta(m, "2018")
    assert meta["categories"].tolist() == [["Top", "Cat0"], ["Top", "Cat1"]]
    # list descriptions are joined, not stored as a Python-list string
    assert meta["description"].tolist() == ["first 0 second", "first 1 second"]


def test_2023_jsonl_millisecond_timestamps_and_store(tmp_path, amazon):
    r = amazon.write(
        tmp_path / "Tools.jsonl",
        [{"user_id": "U1", "parent_asin": "P1", "asin": "C1", "timestamp": 1600000000123}],
    )
    m = amazon.write(
        tmp_path / "meta_Tools.jsonl",
        [
            {
                "parent_asin": "P1",
                "title": "Saw",
                "description": ["Sharp", "saw"],
                "categories": ["Tools", "Saws"],
                "store": "Makita",
            }
        ],
    )
    assert detect_format(r, m) == "2023"
    df, _ = read_reviews(r, "2023")
    assert df.to_dict("records") == [{"user": "U1", "item": "P1", "ts": 1600000000}]
    meta, _ = read_meta(m, "2023")
    assert meta.iloc[0][["source_id", "brand", "description"]].tolist() == [
        "P1",
        "Makita",
        "Sharp saw",
    ]
    assert meta.iloc[0]["categories"] == ["Tools", "Saws"]


def test_gzip_detected_from_content_not_name(tmp_path):
    gz_named_json = tmp_path / "a.json"
    with gzip.open(gz_named_json, "wt") as fh:
        fh.write('{"x": 1}\n')
    plain_named_gz = tmp_path / "b.json.gz"
    plain_named_gz.write_text('{"y": 2}\n')
    with open_text(gz_named_json) as fh:
        assert fh.read() == '{"x": 1}\n'
    with open_text(plain_named_gz) as fh:
        assert fh.read() == '{"y": 2}\n'


def test_reader_streams_in_chunks(tmp_path, amazon, monkeypatch):
    import genrec.data.readers as readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 300)  # ~3 lines a chunk
    recs = [json.dumps(x) for x in amazon.reviews_2018(6, 5)]
    recs[21] = "{broken"
    recs.insert(10, "")  # blank lines are ignored but counted
    r = amazon.write(tmp_path / "r.json", recs)
    with pytest.raises(DataError, match=r"r\.json:23: malformed"):
        read_reviews(r, "2018")
    df, stats = read_reviews(r, "2018", on_bad_line="skip")
    assert len(df) == 29 and stats.lines == 31 and stats.bad_lines == 1
    assert df["user"].iloc[7] == "U1" and df["item"].iloc[7] == "I2"
    assert df["ts"].is_monotonic_increasing is False  # file order kept


def test_numeric_ids_and_string_timestamps_are_coerced(tmp_path, amazon):
    r = amazon.write(
        tmp_path / "r.json",
        [
            {"reviewerID": 17, "asin": "X", "unixReviewTime": "1500000000"},
            {"reviewerID": "A", "asin": 99, "unixReviewTime": 1500000001},
        ],
    )
    df, _ = read_reviews(r, "2018")
    assert df.to_dict("list") == {
        "user": ["17", "A"],
        "item": ["X", "99"],
        "ts": [1500000000, 1500000001],
    }


def test_malformed_line_names_file_and_line(tmp_path, amazon):
    recs = amazon.reviews_2018(1, 3)
    lines = [json.dumps(x) for x in recs]
    lines[1] = lines[1][:-5]  # truncated
    r = amazon.write(tmp_path / "r.json", lines)
    with pytest.raises(DataError, match=r"r\.json:2: malformed"):
        read_reviews(r, "2018")
    df, stats = read_reviews(r, "2018", on_bad_line="skip")
    assert len(df) == 2 and stats.bad_lines == 1


def test_missing_required_field(tmp_path, amazon):
    recs = amazon.reviews_2018(1, 3)
    del recs[2]["unixReviewTime"]
    r = amazon.write(tmp_path / "r.json", recs)
    with pytest.raises(DataError, match=r"r\.json:3: missing required field 'unixReviewTime'"):
        read_reviews(r, "2018")
    m = amazon.write(tmp_path / "m.json", [{"title": "no id"}])
    with pytest.raises(DataError, match=r"m\.json:1: missing required field 'asin'"):
        read_meta(m, "2018")


def test_forcing_2018_on_literal_metadata_fails_with_line(tmp_path, amazon):
    m = amazon.write(tmp_path / "m.json", [{"asin": "X", "title": "t"}], literal=True)
    with pytest.raises(DataError, match=r"m\.json:1: malformed"):
        read_meta(m, "2018")


def test_unknown_format_is_reported(tmp_path, amazon):
    r = amazon.write(tmp_path / "r.csv", ["user,item,ts", "a,b,1"])
    m = amazon.write(tmp_path / "m.json", amazon.meta_2018(1))
    with pytest.raises(DataError, match="unknown format"):
        detect_format(r, m)
    r2 = amazon.write(tmp_path / "r.json", [{"who": "a", "what": "b"}])
    with pytest.raises(DataError, match="unknown format"):
        detect_format(r2, m)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_reviews(tmp_path / "nope.json", "2018")


def _gz(path, lines):
    path.write_bytes(gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode()))
    return path


@pytest.mark.parametrize("damage", ["cut_in_first_line", "corrupt_byte", "cut_later"])
def test_truncated_or_corrupt_gzip_names_the_file(tmp_path, damage):
    """A download cut short or a flipped byte: a DataError naming the file and saying it
    is corrupt or truncated, from format detection and from both readers (never a bare
    EOFError / zlib.error)."""
    rows = [
        {"reviewerID": f"A{i}", "asin": f"X{i % 7}", "unixReviewTime": 1500000000 + i}
        for i in range(3000)
    ]
    good = _gz(tmp_path / "good.json.gz", rows)
    data = good.read_bytes()
    bad = tmp_path / "reviews.json.gz"
    if damage == "cut_in_first_line":
        bad.write_bytes(data[:20])
    elif damage == "corrupt_byte":
        raw = bytearray(data)
        raw[40] ^= 0xFF
        bad.write_bytes(bytes(raw))
    else:
        bad.write_bytes(data[: len(data) // 2])
    meta = _gz(tmp_path / "meta.json.gz", [{"asin": "X1", "title": "t"}])
    pattern = r"reviews\.json\.gz: corrupt or truncated gzip file"
    if damage != "cut_later":
        with pytest.raises(DataError, match=pattern):
            detect_format(bad, meta)
    with pytest.raises(DataError, match=pattern):
        read_reviews(bad, "2018")
    with pytest.raises(DataError, match=r"meta\.json\.gz: corrupt or truncated gzip file"):
        (tmp_path / "meta.json.gz").write_bytes(bad.read_bytes())
        read_meta(tmp_path / "meta.json.gz", "2018")
