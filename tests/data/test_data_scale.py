import gzip
import json

from genrec.data.readers import detect_format, read_meta, read_reviews
from genrec.data.scale import write_scale


def test_streamed_scale_data_is_deterministic_2018_layout_with_skew(tmp_path):
    a = write_scale(tmp_path / "a_5.json.gz", tmp_path / "meta_a.json.gz", 30_000, seed=1)
    write_scale(tmp_path / "c_5.json.gz", tmp_path / "meta_c.json.gz", 30_000, seed=2)
    assert a == write_scale(tmp_path / "d_5.json.gz", tmp_path / "meta_d.json.gz", 30_000, seed=1)
    assert (tmp_path / "a_5.json.gz").read_bytes() == (tmp_path / "d_5.json.gz").read_bytes()
    assert (tmp_path / "meta_a.json.gz").read_bytes() == (tmp_path / "meta_d.json.gz").read_bytes()
    assert (tmp_path / "a_5.json.gz").read_bytes() != (tmp_path / "c_5.json.gz").read_bytes()

    r, m = tmp_path / "a_5.json.gz", tmp_path / "meta_a.json.gz"
    assert detect_format(r, m) == "2018"
    with gzip.open(r, "rt") as fh:
        first = json.loads(fh.readline())
    assert {"overall", "reviewerID", "asin", "reviewText", "unixReviewTime"} <= set(first)
    inter, rstats = read_reviews(r, "2018")
    assert 30_000 <= len(inter) == a["review_lines"] <= 32_000
    assert inter["user"].nunique() == a["users"]
    assert (inter["ts"] % 86_400 == 0).all()  # day resolution, as Amazon's files
    # repeated reviews: identical lines, and the same item again on a later day
    dup = inter.duplicated(["user", "item", "ts"]).mean()
    assert 0.01 < dup < 0.03
    again = inter.drop_duplicates(["user", "item", "ts"]).duplicated(["user", "item"]).mean()
    assert again > 0.01
    # power-law popularity: the top 1% of the items take a large share of the reviews
    pop = inter["item"].value_counts().to_numpy()
    top = pop[: max(1, a["items"] // 100)].sum() / len(inter)
    assert top > 0.2
    # power-law user lengths, at least 5
    lengths = inter.groupby("user").size()
    assert lengths.min() >= 5 and lengths.max() > 4 * lengths.median()
    meta, mstats = read_meta(m, "2018")
    assert mstats.records == a["meta_lines"] > len(meta)  # some records appear twice
    assert 0.9 * a["items"] < len(meta) < 0.99 * a["items"]  # some items have no metadata
    assert not set(meta["source_id"]) >= set(inter["item"])
    assert (meta["title"] == "<br>").any()
    assert isinstance(meta["categories"].iloc[0], list)
