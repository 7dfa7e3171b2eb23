"""Config validation against ``config/schema.yaml``.

JSON-schema validation with defaults filled in, errors reported as the dotted
key path plus the reason, and per-dataset ``data`` overrides merged onto the
top-level ``data`` section (then validated as a whole).
"""

from __future__ import annotations

import copy
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


def load_schema(path: str | Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _raise_first(validator, instance: Any, prefix: str = "") -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    if errors:
        # Report the most specific error (deepest path) first.
        err = max(errors, key=lambda e: len(e.absolute_path))
        best = jsonschema.exceptions.best_match([err]) or err
        path = _key_path(best)
        if prefix:
            path = prefix if path == "<top level>" else f"{prefix}.{path}"
        more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
        raise ConfigError(f"invalid config at '{path}': {best.message}{more}")


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
    _raise_first(_Validator(schema), config)
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
