"""The configuration's ground: ``config/schema.yaml``, its defaults, merging.

JSON-schema validation with defaults filled in (:func:`check_config`), errors reported
as the dotted key path plus the reason, and per-dataset ``data`` overrides merged onto
the top-level ``data`` section (then validated as a whole); the defaults of one section
(:func:`schema_defaults`) and a dataset's effective ``data`` section
(:func:`dataset_data_config`).

Every stage's parameter module stands on this one, so it imports no stage:
:mod:`genrec.config` (the top) validates a whole config and builds every stage's
parameter object from it.
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
    if tuple(section.split(".")) in SEEDED_SECTIONS:
        resolve_seeds({"seed": schema["properties"]["seed"]["default"], "_": value}, [("_",)])
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


def check_config(config: dict, schema: dict | str | Path) -> dict:
    """Validate ``config`` against the JSON schema in place (filling defaults, resolving
    seeds, checking each dataset's merged ``data`` section) and return it.

    The schema-level half of :func:`genrec.config.validate_config`, which then builds
    every stage's parameter object. Raises :class:`ConfigError` naming the key path.
    """
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    normalize_yaml_scalars(config)
    _check_removed_keys(config)
    _raise_first(_Validator(schema), config)
    resolve_seeds(config)
    data_schema = schema["properties"]["data"]
    for name, ds in config["datasets"].items():
        if "data" in ds:
            prefix = f"datasets.{name}.data"
            merged = deep_merge(config.get("data", {}), ds["data"])
            _raise_first(_Validator(data_schema), merged, prefix=prefix)
        syn = ds.get("synthetic")
        if syn and syn["min_seq_len"] > syn["max_seq_len"]:
            raise ConfigError(
                f"invalid config at 'datasets.{name}.synthetic': "
                "min_seq_len must not exceed max_seq_len"
            )
    return config


# Sections with a `seed: null` that means "the top-level seed".
SEEDED_SECTIONS = (("sid",), ("sft",), ("rl",), ("baselines", "sasrec"))


def resolve_seeds(config: dict, sections=SEEDED_SECTIONS) -> dict:
    """Give every seeded section its seed: its own, or the top-level ``seed`` when null.

    The one place of this fallback; rules and the library read ``<section>.seed``.
    """
    for path in sections:
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


def dataset_data_config(config: dict, dataset: str) -> dict:
    """The effective ``data`` section for ``dataset`` (global merged with its override)."""
    ds = config["datasets"][dataset]
    merged = deep_merge(config.get("data", {}), ds.get("data", {}))
    if ds.get("format"):
        merged["format"] = ds["format"]
    return merged
