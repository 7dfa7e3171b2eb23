import gzip
import json
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from outputs_helpers import stage_outputs

from genrec.config import validate_config
from genrec.data.params import DataParams
from genrec.data.pipeline import OUTPUTS, prepare
from genrec.data.readers import detect_format
from genrec.data.synthetic import write_synthetic


@pytest.fixture(scope="module")
def demo_config(repo_root):
    """config/config.yaml validated as the workflow does (schema defaults filled in)."""
    return validate_config(
        yaml.safe_load((repo_root / "config" / "config.yaml").read_text()),
        repo_root / "config" / "schema.yaml",
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_config):
    """The default demo, generated and prepared with the default data config: the raw
    files' directory, the stats, the generation time and the output paths."""
    d = tmp_path_factory.mktemp("demo")
    t0 = time.perf_counter()
    write_synthetic(
        d / "demo_5.json.gz",
        d / "meta_demo.json.gz",
        **demo_config["datasets"]["demo"]["synthetic"],
    )
    seconds = time.perf_counter() - t0
    out = stage_outputs(d / "out", OUTPUTS)
    params = DataParams.from_config(demo_config, "demo")
    stats = prepare(d / "demo_5.json.gz", d / "meta_demo.json.gz", params, out)
    return d, stats, seconds, out


def test_demo_is_amazon_2018_layout(demo):
    d, _, seconds, _ = demo
    assert detect_format(d / "demo_5.json.gz", d / "meta_demo.json.gz") == "2018"
    with gzip.open(d / "meta_demo.json.gz", "rt") as fh:
        item = json.loads(fh.readline())
    assert (
        isinstance(item["description"], list) and item["category"][0] == "Industrial & Scientific"
    )
    assert item["brand"] and item["title"].startswith(item["brand"])
    assert seconds < 5


def test_demo_sizes_after_default_filtering(demo):
    _, stats, _, _ = demo
    f = stats["final"]
    assert 400 <= f["items"] <= 600
    assert 900 <= f["users"] <= 1300
    n = sum(stats["split"][k] for k in ("train", "valid", "test"))
    assert 10_000 <= n <= 15_000


def test_demo_items_have_structure(demo):
    *_, out = demo
    items = pd.read_parquet(out["items_parquet"])
    cats = items["categories"].map(lambda c: c[1])
    assert cats.nunique() == 8
    # brands sell within one category, descriptions are cleaned of HTML
    assert (items.groupby("brand")["categories"].agg(lambda s: s.map(tuple).nunique()) == 1).all()
    assert not items["description"].str.contains("<b>|&amp;").any()


def test_next_item_predictable_beyond_popularity(demo):
    *_, out = demo
    train = pd.read_parquet(out["train"])
    test = pd.read_parquet(out["test"])
    n = int(max(train["target"].max(), test["target"].max(), *map(max, train["history"]))) + 1
    last = np.array([h[-1] for h in train["history"]])
    trans = np.zeros((n, n))
    np.add.at(trans, (last, train["target"].to_numpy()), 1)
    pop = np.bincount(train["target"], minlength=n).astype(float)
    y = test["target"].to_numpy()
    pop_top = np.argsort(-pop, kind="stable")[:10]
    hr_pop = np.isin(y, pop_top).mean()
    scores = trans[[h[-1] for h in test["history"]]] + 1e-6 * pop
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    hr_trans = (top == y[:, None]).any(axis=1).mean()
    assert hr_pop < 0.15
    assert hr_trans > 0.35 and hr_trans > 3 * hr_pop


def test_deterministic_by_seed(tmp_path, synthetic):
    kw = dict(n_users=50, n_items=30, n_categories=3, n_brands=6, min_seq_len=3, max_seq_len=6)
    write_synthetic(tmp_path / "a.gz", tmp_path / "am.gz", **synthetic(seed=1, **kw))
    write_synthetic(tmp_path / "b.gz", tmp_path / "bm.gz", **synthetic(seed=1, **kw))
    write_synthetic(tmp_path / "c.gz", tmp_path / "cm.gz", **synthetic(seed=2, **kw))
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert (tmp_path / "am.gz").read_bytes() == (tmp_path / "bm.gz").read_bytes()
    assert (tmp_path / "a.gz").read_bytes() != (tmp_path / "c.gz").read_bytes()


def test_size_knob_and_increasing_timestamps(tmp_path, synthetic):
    summary = write_synthetic(
        tmp_path / "r.gz",
        tmp_path / "m.gz",
        **synthetic(
            n_users=40,
            n_items=20,
            n_categories=13,
            n_brands=13,
            min_seq_len=4,
            max_seq_len=4,
            seed=3,
        ),
    )
    assert summary == {"users": 40, "items": 20, "reviews": 160}
    with gzip.open(tmp_path / "r.gz", "rt") as fh:
        df = pd.DataFrame([json.loads(line) for line in fh])
    assert len(df) == 160 and df["reviewerID"].nunique() == 40
    # per user the review times are distinct, so sequence order is well defined
    assert (df.groupby("reviewerID")["unixReviewTime"].nunique() == 4).all()
