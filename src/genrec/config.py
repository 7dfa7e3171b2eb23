"""Config validation against ``config/schema.yaml``.

JSON-schema validation with defaults filled in, errors reported as the dotted
key path plus the reason, and per-dataset ``data`` overrides merged onto the
top-level ``data`` section (then validated as a whole).
"""

from __future__ import annotations

import copy
import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ConfigError(ValueError):
    """Raised for an invalid configuration; the message names the key path."""


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


# The checkout's schema (the workflow validates against the same file).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def schema_defaults(section: str, schema: dict | None = None, **overrides) -> dict:
    """The defaults of config section ``section`` (dotted, e.g. ``"sid.rqvae"``) as the
    workflow would fill them, with ``overrides`` on top (validated).

    For callers outside the workflow (tests, benchmarks, notebooks): the library's
    entry points take complete, validated sections and keep no default tables.
    """
    schema = schema if schema is not None else load_schema()
    node = schema
    for key in section.split("."):
        try:
            node = node["properties"][key]
        except KeyError:
            raise KeyError(f"config/schema.yaml has no section {section!r}") from None
    value = copy.deepcopy(overrides)
    _raise_first(_Validator(node), value, prefix=section)
    return value


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


# Keys whose values are strings that YAML reads as something else when unquoted.
_STRING_KEYS = {"format"}


def normalize_yaml_scalars(config: Any, key: str | None = None) -> Any:
    """Undo YAML's typing of unquoted values that the schema takes as strings, in place.

    ``start: 2017-07-01`` (YAML: a date) becomes ``"2017-07-01"``; ``format: 2018``
    (YAML: an integer) becomes ``"2018"``. Returns the (possibly replaced) value.
    """
    if isinstance(config, dict):
        for k in list(config):
            config[k] = normalize_yaml_scalars(config[k], str(k))
        return config
    if isinstance(config, list):
        return [normalize_yaml_scalars(v) for v in config]
    if isinstance(config, _dt.datetime):
        if config.time() == _dt.time(0) and config.tzinfo is None:
            return config.date().isoformat()
        return config.isoformat(sep=" ")  # the schema's date pattern then names the key
    if isinstance(config, _dt.date):
        return config.isoformat()
    if key in _STRING_KEYS and isinstance(config, int) and not isinstance(config, bool):
        return str(config)
    return config


def _message(error: jsonschema.ValidationError, prefix: str) -> str:
    path = _key_path(error)
    if prefix:
        path = prefix if path == "<top level>" else f"{prefix}.{path}"
    return f"'{path}': {error.message}"


def _raise_first(validator, instance: Any, prefix: str = "") -> None:
    """Raise a ConfigError listing every schema violation, the most specific first."""
    errors = list(validator.iter_errors(instance))
    if errors:
        errors.sort(key=lambda e: (-len(e.absolute_path), list(map(str, e.absolute_path))))
        lines = [_message(jsonschema.exceptions.best_match([e]) or e, prefix) for e in errors]
        more = "" if len(lines) == 1 else "\n  also: " + "\n  also: ".join(lines[1:])
        raise ConfigError(f"invalid config at {lines[0]}{more}")


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """Return a copy of ``base`` with ``override`` merged in recursively."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_config(config: dict, schema: dict | str | Path) -> dict:
    """Validate ``config`` in place (filling defaults) and return it.

    Raises :class:`ConfigError` naming the offending key path.
    """
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    normalize_yaml_scalars(config)
    _check_removed_keys(config)
    _raise_first(_Validator(schema), config)
    _check_cross_fields(config)
    resolve_seeds(config)
    data_schema = schema["properties"]["data"]
    _check_data_section(config.get("data", {}), "data")
    for name, ds in config["datasets"].items():
        if "data" in ds:
            prefix = f"datasets.{name}.data"
            merged = deep_merge(config.get("data", {}), ds["data"])
            _raise_first(_Validator(data_schema), merged, prefix=prefix)
            _check_data_section(merged, prefix)
        syn = ds.get("synthetic")
        if syn and syn["min_seq_len"] > syn["max_seq_len"]:
            raise ConfigError(
                f"invalid config at 'datasets.{name}.synthetic': "
                "min_seq_len must not exceed max_seq_len"
            )
    return config


# Sections with a `seed: null` that means "the top-level seed".
SEEDED_SECTIONS = (("sid",), ("sft",), ("rl",), ("baselines", "sasrec"))


def resolve_seeds(config: dict) -> dict:
    """Give every seeded section its seed: its own, or the top-level ``seed`` when null.

    The one place of this fallback; rules and the library read ``<section>.seed``.
    """
    for path in SEEDED_SECTIONS:
        node = config
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get("seed") is None:
            node["seed"] = config["seed"]
    return config


REMOVED_KEYS = {
    ("rl", "max_prompt_length"): "prompts are cut by one rule in SFT, RL and evaluation, "
    "derived from sft.cutoff_len (config/README.md); delete the key",
}


def _check_removed_keys(config: dict) -> None:
    for (section, key), why in REMOVED_KEYS.items():
        if isinstance(config.get(section), dict) and key in config[section]:
            raise ConfigError(f"invalid config at '{section}.{key}': this key was removed: {why}")


def _check_cross_fields(config: dict) -> None:
    """Checks between keys that would otherwise fail late, inside a job (after SFT)."""
    if isinstance(config.get("eval"), dict) and isinstance(config.get("lm"), dict):
        from genrec.eval.params import EvalParams

        try:
            EvalParams.from_config(config)
        except ValueError as err:
            raise ConfigError(f"invalid config at 'eval': {err}") from None
    rl = config.get("rl", {})
    g, per_device = rl.get("num_generations"), rl.get("per_device_batch_size")
    if rl.get("enabled", True) and g and per_device and per_device % g:
        raise ConfigError(
            f"invalid config at 'rl.per_device_batch_size': {per_device} is not a multiple of "
            f"rl.num_generations ({g}); every group of G candidates must stay on one device"
        )
    sft = config.get("sft", {})
    glob, dev = sft.get("global_batch_size"), sft.get("per_device_batch_size")
    if glob and dev and glob % dev:
        raise ConfigError(
            f"invalid config at 'sft.global_batch_size': {glob} is not a multiple of "
            f"sft.per_device_batch_size ({dev})"
        )


def _check_data_section(data: dict, prefix: str) -> None:
    """Checks JSON schema cannot express."""
    ratios = data["split"]["ratios"]
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ConfigError(f"invalid config at '{prefix}.split.ratios': {ratios} must sum to 1")


def dataset_data_config(config: dict, dataset: str) -> dict:
    """The effective ``data`` section for ``dataset`` (global merged with its override)."""
    ds = config["datasets"][dataset]
    merged = deep_merge(config.get("data", {}), ds.get("data", {}))
    if ds.get("format"):
        merged["format"] = ds["format"]
    return merged
