import ast
import json

import numpy as np
import pandas as pd
import pytest
from outputs_helpers import stage_outputs
from sid_helpers import items_table

from genrec.sid.build import OUTPUTS, build_sids, sids_frame
from genrec.sid.minionerec import CSV_COLUMNS, export_minionerec, read_index_json
from genrec.sid.params import SidParams


def items_frame(n):
    return items_table(n, title="Item\t{}", description="about {}")


def test_index_json_round_trips_through_the_importer(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 8)).astype(np.float32)
    x[:10] = x[0]
    np.save(tmp_path / "emb.npy", x)
    items_frame(80).to_parquet(tmp_path / "items.parquet")
    section = dict(codebook_sizes=[4, 4], seed=0, rqkmeans={"niter": 5})
    rq, imp = stage_outputs(tmp_path / "rq", OUTPUTS), stage_outputs(tmp_path / "imp", OUTPUTS)
    orig = build_sids(
        tmp_path / "emb.npy",
        tmp_path / "items.parquet",
        SidParams.defaults("rqkmeans", **section),
        rq,
    )
    assert orig["codes"].map(len).max() == 3  # has a disambiguation level
    imported = build_sids(
        None,
        tmp_path / "items.parquet",
        SidParams.defaults("import", **section, **{"import": {"keys": "item_id"}}),
        imp,
        index_json=rq["index"],
    )
    assert imported["sid"].tolist() == orig["sid"].tolist()
    stats = json.loads(imp["stats"].read_text())
    assert stats["collision_rate_before"] == 0.0 and stats["unique_sid_ratio"] == 1.0


def test_import_accepts_source_ids_and_resolves_duplicates(tmp_path):
    items = items_frame(3)
    path = tmp_path / "x.index.json"
    path.write_text(
        json.dumps(
            {
                "P0": ["<a_1>", "<b_2>"],
                "P1": ["<a_1>", "<b_2>"],
                "P2": ["<a_0>", "<b_0>"],
                "P9": ["<a_5>", "<b_5>"],
            }
        )
    )
    rows = read_index_json(path, items)
    assert rows == [[1, 2], [1, 2], [0, 0]]
    items.to_parquet(tmp_path / "items.parquet")
    df = build_sids(
        None,
        tmp_path / "items.parquet",
        SidParams.defaults("import", codebook_sizes=[4], seed=0),
        stage_outputs(tmp_path / "o", OUTPUTS),
        index_json=path,
    )
    assert df["sid"].tolist() == ["<a_1><b_2><c_0>", "<a_1><b_2><c_1>", "<a_0><b_0>"]
    # the file is a rule input, passed as index_json; without it there is nothing to import
    params = SidParams.defaults("import", codebook_sizes=[4], seed=0)
    outputs = stage_outputs(tmp_path / "o2", OUTPUTS)
    with pytest.raises(ValueError, match="no index.json given"):
        build_sids(None, tmp_path / "items.parquet", params, outputs)
    # method import writes no codebooks, so needs no path for them; the others do
    del outputs["codebooks"]
    build_sids(None, tmp_path / "items.parquet", params, outputs, index_json=path)
    del outputs["usage"]
    with pytest.raises(ValueError, match=r"no output path for \['usage'\]"):
        build_sids(None, tmp_path / "items.parquet", params, outputs, index_json=path)


def test_import_errors_name_the_problem(tmp_path):
    items = items_frame(3)
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"0": ["<a_1>"], "1": ["<a_2>"]}))
    with pytest.raises(
        ValueError, match=r"no SID for 1 item\(s\) \(keys read as item_id\), item_id \[2\]"
    ):
        read_index_json(path, items, keys="item_id")
    path.write_text(json.dumps({"0": ["<a_1>"], "1": ["<a_2>"], "2": ["<b_2>"]}))
    with pytest.raises(ValueError, match="entry '2'.*wrong level letter"):
        read_index_json(path, items, keys="item_id")


def test_numeric_upstream_keys_are_refused_unless_their_kind_is_given(tmp_path):
    """Upstream files are keyed 0..N-1 by upstream's own ids: reading them as our ids would
    give item k the SID of upstream's item k, silently. Without keys/id_map: an error."""
    items = items_frame(3)  # source_id P0, P1, P2
    path = tmp_path / "index.json"
    path.write_text(json.dumps({"0": ["<a_2>"], "1": ["<a_0>"], "2": ["<a_1>"]}))
    with pytest.raises(ValueError, match="are numbers, which is ambiguous.*sid.import.id_map"):
        read_index_json(path, items)
    # upstream id -> asin: upstream's item 0 is our P2, 1 is P0, 2 is P1
    id_map = tmp_path / "id2asin.json"
    id_map.write_text(json.dumps({"0": "P2", "1": "P0", "2": "P1"}))
    assert read_index_json(path, items, id_map=id_map) == [[0], [1], [2]]
    assert read_index_json(path, items, keys="item_id") == [[2], [0], [1]]
    id_map.write_text(json.dumps({"0": "P2"}))
    with pytest.raises(ValueError, match=r"no asin for 2 key\(s\)"):
        read_index_json(path, items, id_map=id_map)


def test_export_writes_minionerec_layout(tmp_path):
    items = items_frame(4)
    items.to_parquet(tmp_path / "items.parquet")
    sids_frame([[0, 1], [1, 0], [2, 2], [3, 1, 0]]).to_parquet(tmp_path / "sids.parquet")
    split = pd.DataFrame(
        {
            "user_id": [7, 8],
            "history": [[0, 1], [2]],
            "target": [3, 0],
            "history_ts": [[1, 2], [3]],
            "target_ts": [4, 5],
        }
    )
    for name in ("train", "valid", "test"):
        split.to_parquet(tmp_path / f"{name}.parquet")
    out = tmp_path / "minionerec"
    splits = {s: tmp_path / f"{s}.parquet" for s in ("train", "valid", "test")}
    export_minionerec(tmp_path / "sids.parquet", tmp_path / "items.parquet", splits, out, "demo")
    csv = pd.read_csv(out / "train" / "demo.csv")
    assert list(csv.columns) == CSV_COLUMNS
    row = csv.iloc[0]
    # upstream reads history columns with eval()
    assert ast.literal_eval(row["history_item_sid"]) == ["<a_0><b_1>", "<a_1><b_0>"]
    assert ast.literal_eval(row["history_item_id"]) == [0, 1]
    assert ast.literal_eval(row["history_item_title"]) == ["Item 0", "Item 1"]
    assert row["item_sid"] == "<a_3><b_1><c_0>" and row["item_id"] == 3
    info = (out / "info" / "demo.txt").read_text().splitlines()
    assert info[3] == "<a_3><b_1><c_0>\tItem 3\t3"
    index = json.loads((out / "index" / "demo.index.json").read_text())
    assert index["3"] == ["<a_3>", "<b_1>", "<c_0>"]
    item = json.loads((out / "index" / "demo.item.json").read_text())
    assert item["2"] == {"title": "Item 2", "description": "about 2"}
