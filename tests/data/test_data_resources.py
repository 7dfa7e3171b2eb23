import json
from pathlib import Path

import pytest

from genrec.data import DataError
from genrec.data.resources import (
    AUTO_DUCKDB_MB,
    data_stage_resources,
    duckdb_memory_mb,
    resolve_engine,
    table_job_resources,
)

RESULTS = Path(__file__).resolve().parents[2] / "docs/results/data_stage_scale.json"


def test_engine_follows_the_reviews_size():
    assert resolve_engine("auto", AUTO_DUCKDB_MB - 0.1) == "pandas"
    assert resolve_engine("auto", AUTO_DUCKDB_MB) == "duckdb"
    assert resolve_engine("pandas", 10_000) == "pandas"
    with pytest.raises(DataError, match="data.engine"):
        resolve_engine("spark", 1)


def test_memory_grows_with_pandas_and_stays_bounded_with_duckdb():
    small = data_stage_resources(1, 1)
    assert small["mem_mb"] < data_stage_resources(10, 1)["mem_mb"] < 2_000  # pandas
    big = data_stage_resources(3_000, 500)  # Books-sized: duckdb
    assert 4_000 <= big["mem_mb"] <= 6_000
    assert data_stage_resources(3_000, 500, engine="pandas")["mem_mb"] > 100_000
    assert big["runtime"] > data_stage_resources(300, 50)["runtime"] > small["runtime"] >= 10
    assert data_stage_resources(3_000, 500, attempt=2)["mem_mb"] == 2 * big["mem_mb"]
    assert duckdb_memory_mb(big["mem_mb"]) < big["mem_mb"]
    assert duckdb_memory_mb(None) is None
    with pytest.raises(ValueError):
        data_stage_resources(-1, 0)
    assert table_job_resources(500)["mem_mb"] > table_job_resources(5)["mem_mb"]


@pytest.mark.skipif(not RESULTS.exists(), reason="no benchmark results yet")
def test_formula_covers_the_measured_runs():
    """Each measured run fits the memory and time the formula asks for its input sizes."""
    result = json.loads(RESULTS.read_text())
    sizes = {g["reviews"]: (g["reviews_gz_mb"], g["meta_gz_mb"]) for g in result["generated"]}
    runs = [r for r in result["runs"] if r.get("status") == "ok"]
    assert {r["path"] for r in runs} == {"pandas", "duckdb"}
    for run in runs:
        need = data_stage_resources(*sizes[run["reviews"]], engine=run["path"])
        assert run["peak_rss_mb"] <= need["mem_mb"], run
        assert run["wall_s"] <= 60 * need["runtime"], run
        if run["path"] == "duckdb":  # and DuckDB's limit inside that job holds the run's
            assert duckdb_memory_mb(need["mem_mb"]) >= result["duckdb_memory_limit_mb"]
