"""Stage parameter objects (genrec.params and genrec.<stage>.params)."""

import json

import pytest
import yaml

from genrec import params as codec
from genrec.baselines.params import SasrecParams
from genrec.config import build_stage_params, validate_config
from genrec.data.params import DataParams
from genrec.params import ParamsError
from genrec.rl.params import RlParams
from genrec.schema import SCHEMA_PATH, ConfigError
from genrec.sft.params import SftDataParams, SftTrainParams
from genrec.sid.params import RQVAEOptions, SidParams


def demo_config(**sections):
    with open(SCHEMA_PATH.parent / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    for key, value in sections.items():
        config[key] = value
    return validate_config(config, SCHEMA_PATH)


def test_every_stage_object_survives_json_and_the_launcher():
    """What a multi-GPU rank receives equals what the rule built."""
    built = build_stage_params(demo_config())
    assert {"embed", "data/demo", "sid/rqvae", "sft/train", "rl", "eval/test"} <= set(built)
    for key, obj in built.items():
        record = json.loads(json.dumps(codec.encode(obj)))
        assert codec.decode(record) == obj, key
        assert type(obj).from_section(obj.to_dict()) == obj, key


def test_library_defaults_equal_the_workflow_view_of_the_schema():
    """``X.defaults()`` (tests, notebooks) and ``X.from_config`` (rules) agree, seed
    fallback included: a null section seed takes the top-level one."""
    config = validate_config(
        {"seed": 42, "datasets": {"d": {"reviews": "r", "meta": "m"}}}, SCHEMA_PATH
    )
    assert DataParams.defaults() == DataParams.from_config(config, "d")
    assert SidParams.defaults("rqvae") == SidParams.from_config(config, "rqvae")
    assert SidParams.defaults("rqvae").seed == 42
    assert RlParams.defaults() == RlParams.from_config(config)
    assert SftTrainParams.defaults() == SftTrainParams.from_config(config)
    assert SasrecParams.defaults(max_history=10) == SasrecParams.from_config(config, "d")


def test_each_sid_method_gets_its_own_typed_options():
    rqvae = SidParams.defaults("rqvae", rqvae={"latent_dim": 8})
    assert isinstance(rqvae.options, RQVAEOptions) and rqvae.options.latent_dim == 8
    assert SidParams.defaults("rqkmeans_balanced").options.backend == "greedy"
    with pytest.raises(ValueError, match="unknown SID method 'kmeans'"):
        SidParams.from_config({"sid": {"codebook_sizes": [4], "seed": 1, "kmeans": {}}}, "kmeans")


def test_a_missing_key_is_named():
    section = DataParams.defaults().to_dict()
    del section["time_window"]["min_items"]
    with pytest.raises(KeyError, match="data.time_window: missing key 'min_items'"):
        DataParams.from_section(section)


def test_sft_rules_see_disjoint_slices():
    """A training key never reruns the dataset build, a task cap never retrains through
    the params (it does through the datasets it changes)."""
    base = demo_config()
    changed = demo_config(sft={**base["sft"], "learning_rate": 0.5})
    assert SftDataParams.from_config(changed) == SftDataParams.from_config(base)
    assert SftTrainParams.from_config(changed) != SftTrainParams.from_config(base)
    capped = demo_config(sft={**base["sft"], "max_valid_samples": 7})
    assert SftTrainParams.from_config(capped) == SftTrainParams.from_config(base)


@pytest.mark.parametrize(
    "section,change,key",
    [
        ("rl", {"per_device_batch_size": 12}, "rl.per_device_batch_size"),
        ("sft", {"global_batch_size": 33}, "sft.global_batch_size"),
        ("data", {"split": {"ratios": [0.5, 0.1, 0.1]}}, "data.split.ratios"),
        ("sft", {"cuda_graphs": True, "compile": False}, "sft.cuda_graphs"),
    ],
)
def test_cross_field_checks_fail_at_validation_naming_the_key(section, change, key):
    with open(SCHEMA_PATH.parent / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    for k, v in change.items():
        config[section][k] = {**config[section][k], **v} if isinstance(v, dict) else v
    with pytest.raises(ConfigError, match=f"invalid config at '{key}'"):
        validate_config(config, SCHEMA_PATH)


def test_params_error_keys_nest_with_the_section():
    with pytest.raises(ParamsError) as info:
        DataParams.defaults().from_section(
            {**DataParams.defaults().to_dict(), "split": {"method": "x", "ratios": [1, 1]}}
        )
    assert info.value.key == "split.ratios"


def test_an_error_of_the_global_data_section_is_named_there():
    """A dataset override elsewhere does not move the blame to `datasets.<name>.data`."""
    with open(SCHEMA_PATH.parent / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    config["data"]["split"]["ratios"] = [0.5, 0.1, 0.1]
    config["datasets"]["demo"]["data"] = {"user_k": 3}
    with pytest.raises(ConfigError, match="invalid config at 'data.split.ratios'"):
        validate_config(config, SCHEMA_PATH)


def test_whole_numbers_written_as_floats_still_give_integer_fields():
    """JSON schema's `integer` accepts 20.0; the objects hold the int (range(), tensor
    shapes), and a `number` field holds a float even when written as 1."""
    sasrec = SasrecParams.defaults(max_epochs=20.0, hidden_size=64.0)
    assert sasrec.max_epochs == 20 and isinstance(sasrec.max_epochs, int)
    assert isinstance(sasrec.hidden_size, int)
    assert isinstance(RlParams.defaults(learning_rate=1).learning_rate, float)
    assert SftTrainParams.defaults(max_steps=None).max_steps is None
