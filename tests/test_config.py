import copy
import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genrec.config import validate_config
from genrec.schema import ConfigError, dataset_data_config


@pytest.fixture()
def schema(repo_root):
    return yaml.safe_load((repo_root / "config" / "schema.yaml").read_text())


@pytest.fixture()
def default_config(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def test_embedded_default_is_valid_and_defaults_are_filled(default_config, schema):
    cfg = validate_config(copy.deepcopy(default_config), schema)
    assert cfg["data"]["max_history"] == 10
    assert cfg["data"]["split"]["method"] == "chronological"
    assert set(cfg["resources"]["gpu"]) >= {"embed", "sft", "rl", "evaluate"}


def test_minimal_config_gets_all_defaults(schema):
    cfg = validate_config({"datasets": {"x": {"reviews": "r.json", "meta": "m.json"}}}, schema)
    assert cfg["seed"] == 42
    assert cfg["data"]["user_k"] == 5
    assert cfg["data"]["split"]["ratios"] == [0.8, 0.1, 0.1]


@pytest.mark.parametrize(
    "mutate, key, reason",
    [
        (lambda c: c["data"].update(user_k=0), "data.user_k", "minimum"),
        (lambda c: c["data"].update(user_k="five"), "data.user_k", "not of type"),
        (
            lambda c: c["data"]["split"].update(method="random"),
            "data.split.method",
            "is not one of",
        ),
        (lambda c: c["data"].update(colour="red"), "data", "colour"),
        (lambda c: c.update(datasets={}), "datasets", "should be non-empty"),
        (
            lambda c: c["data"]["split"].update(ratios=[0.5, 0.2, 0.1]),
            "data.split.ratios",
            "sum to 1",
        ),
        (
            lambda c: c["datasets"]["demo"].update(data={"split": {"ratios": [0.5, 0.1, 0.1]}}),
            "datasets.demo.data.split.ratios",
            "[0.5, 0.1, 0.1] must sum to 1",
        ),
        (
            lambda c: c["datasets"].update(bad={"reviews": "r.json"}),
            "datasets.bad",
            "",
        ),
        (
            lambda c: c["datasets"]["demo"].update(data={"item_k": -2}),
            "datasets.demo.data.item_k",
            "minimum",
        ),
        (
            lambda c: c["rl"].update(per_device_batch_size=12, num_generations=8),
            "rl.per_device_batch_size",
            "not a multiple of rl.num_generations",
        ),
        (
            lambda c: c["sft"].update(global_batch_size=48, per_device_batch_size=32),
            "sft.global_batch_size",
            "not a multiple",
        ),
    ],
)
def test_bad_values_name_the_key_path(default_config, schema, mutate, key, reason):
    cfg = copy.deepcopy(default_config)
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, schema)
    msg = str(err.value)
    assert f"'{key}" in msg
    assert reason in msg


def test_per_dataset_override_merges_onto_global(default_config, schema):
    cfg = copy.deepcopy(default_config)
    cfg["datasets"]["other"] = {
        "reviews": "r.json.gz",
        "meta": "m.json.gz",
        "format": "2014",
        "data": {"user_k": 3, "split": {"method": "leave_one_out"}},
    }
    validate_config(cfg, schema)
    merged = dataset_data_config(cfg, "other")
    assert merged["user_k"] == 3
    assert merged["item_k"] == cfg["data"]["item_k"]
    assert merged["split"] == {"method": "leave_one_out", "ratios": [0.8, 0.1, 0.1]}
    assert merged["format"] == "2014"
    assert dataset_data_config(cfg, "demo")["user_k"] == cfg["data"]["user_k"]


def _load_common(repo_root):
    loader = importlib.machinery.SourceFileLoader(
        "common_smk", str(repo_root / "rules" / "common.smk")
    )
    spec = importlib.util.spec_from_loader("common_smk", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_common_helpers_are_importable_and_route_inputs(repo_root, default_config, schema):
    common = _load_common(repo_root)
    cfg = validate_config(copy.deepcopy(default_config), schema)
    cfg["datasets"]["real"] = {"reviews": "/data/r.json.gz", "meta": "/data/m.json.gz"}
    assert common.raw_inputs(cfg, "demo")["reviews"] == "resources/demo/demo_5.json.gz"
    assert common.raw_inputs(cfg, "real") == {
        "reviews": "/data/r.json.gz",
        "meta": "/data/m.json.gz",
    }
    targets = common.all_targets(cfg)
    assert "results/demo/data/train.parquet" in targets
    assert "results/real/data/test.parquet" in targets


@pytest.mark.slow
def test_workflow_rejects_bad_config_before_any_job(repo_root, tmp_path, default_config):
    cfg = copy.deepcopy(default_config)
    cfg["data"]["max_history"] = 0
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(repo_root / "Snakefile"),
            "-d",
            str(tmp_path),
            "--configfile",
            str(tmp_path / "config.yaml"),
            "--cores",
            "1",
            "-n",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "data.max_history" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "path",
    sorted(
        p.name
        for p in (Path(__file__).parent.parent / "config").glob("*.yaml")
        if p.name != "schema.yaml"
    ),
)
def test_every_shipped_config_is_valid(repo_root, schema, path):
    """Each config/*.yaml passes the schema on its own (the real-data configs are run
    with --replace-workflow-config, so they get no help from config/config.yaml)."""
    cfg = yaml.safe_load((repo_root / "config" / path).read_text())
    validate_config(cfg, schema)
    assert cfg["datasets"], path


def test_unquoted_yaml_years_and_dates_are_accepted(schema):
    """`format: 2018` and `start: 2017-07-01` unquoted (YAML reads an int and a date)."""
    text = """
datasets:
  x: {reviews: r.json, meta: m.json, format: 2023}
data:
  format: 2018
  time_window: {start: 2017-07-01, end: 2018-11-01 00:00:00}
"""
    cfg = validate_config(yaml.safe_load(text), schema)
    assert cfg["data"]["format"] == "2018" and cfg["datasets"]["x"]["format"] == "2023"
    assert cfg["data"]["time_window"]["start"] == "2017-07-01"
    assert cfg["data"]["time_window"]["end"] == "2018-11-01"
    # a time of day is not a date: refused at config time, naming the key
    with pytest.raises(ConfigError, match="'data.time_window.end': '2018-11-01 12:30:00'"):
        validate_config(yaml.safe_load(text.replace("00:00:00", "12:30:00")), schema)


def test_removed_key_says_what_replaced_it(schema):
    cfg = {"datasets": {"x": {"reviews": "r", "meta": "m"}}, "rl": {"max_prompt_length": 512}}
    with pytest.raises(ConfigError, match="'rl.max_prompt_length': this key was removed"):
        validate_config(cfg, schema)


def test_every_schema_error_is_listed(schema):
    cfg = {"datasets": {"x": {"reviews": "r", "meta": "m"}}, "data": {"user_k": 0, "item_k": -1}}
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, schema)
    msg = str(err.value)
    assert "'data.user_k'" in msg and "'data.item_k'" in msg and "also:" in msg


def test_eval_beams_below_the_largest_k_fail_at_config_time(default_config, schema):
    cfg = copy.deepcopy(default_config)
    cfg["eval"]["ks"] = [1, 30]
    cfg["eval"]["num_beams"] = 20
    with pytest.raises(
        ConfigError, match=r"'eval': eval.num_beams \(20\) must be >= the largest K"
    ):
        validate_config(cfg, schema)


def test_prepare_data_resources_follow_the_input(repo_root, tmp_path, default_config, schema):
    from types import SimpleNamespace

    from genrec.data.resources import data_stage_resources

    common = _load_common(repo_root)
    cfg = validate_config(copy.deepcopy(default_config), schema)
    reviews, meta = tmp_path / "r.json.gz", tmp_path / "m.json.gz"
    with open(reviews, "wb") as fh:
        fh.truncate(40_000_000)  # sparse: 40 MB without the disk space
    meta.write_bytes(b"x" * 2_000_000)
    wc = SimpleNamespace(dataset="demo")
    inp = SimpleNamespace(reviews=str(reviews), meta=str(meta), size_mb=42.0)
    mem = common.prepare_data_resource(cfg, "mem_mb")
    runtime = common.prepare_data_resource(cfg, "runtime")
    assert mem(wc, inp, 1) == data_stage_resources(40, 2, "auto")["mem_mb"]
    assert runtime(wc, inp, 1) == data_stage_resources(40, 2, "auto")["runtime"]
    assert mem(wc, inp, 2) == 2 * mem(wc, inp, 1)
    cfg["data"]["engine"] = "pandas"  # the dataset's engine decides the formula
    assert mem(wc, inp, 1) == data_stage_resources(40, 2, "pandas")["mem_mb"] > 2_000
    missing = SimpleNamespace(reviews=str(tmp_path / "none"), meta=str(tmp_path / "none"))
    assert mem(wc, missing, 1) == data_stage_resources(0, 0)["mem_mb"]  # dry run
    assert common.table_job_resource("mem_mb")(wc, inp, 1) > 1_000
