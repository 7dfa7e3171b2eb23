"""Typed stage parameters: frozen dataclasses built once from the validated config.

Every stage has its parameter objects in ``genrec.<stage>.params`` (``DataParams``,
``EmbedParams``, ``SidParams``, ``SftDataParams`` / ``SftTrainParams``,
``RlParams``, ``EvalParams``, ``SasrecParams``). The workflow builds them in the
rules from the validated config (``X.from_config(config, ...)``), so the seed
fallback, derived values and every cross-field check run when Snakemake builds
the DAG, before the first job; :func:`genrec.config.validate_config` builds all
of them once for that reason. Library entry points take the object and keep no
defaults of their own (those live in ``config/schema.yaml``).

Outside the workflow (tests, benchmarks, notebooks) ``X.defaults(**overrides)``
gives the schema's defaults with overrides on top, validated like a config file.

This module is torch-free: Snakemake imports it while it builds the DAG.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from genrec.schema import schema_defaults

P = TypeVar("P", bound="Params")


class ParamsError(ValueError):
    """A check between fields failed; ``key`` is the offending key, relative to the
    object's config section (the config check prefixes the section's path)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def check_multiple(key: str, value: int, of_key: str, of: int, why: str = "") -> None:
    """Raise :class:`ParamsError` on ``key`` unless ``value`` is a multiple of ``of``."""
    if value % of:
        reason = f"{value} is not a multiple of {of_key} ({of})"
        raise ParamsError(key, f"{reason}; {why}" if why else reason)


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of the stage parameter objects.

    ``SECTION`` is the dotted config section the fields come from (for
    :meth:`defaults`). Fields are read from a section by name; nested ``Params``
    fields are built from the sub-section, ``tuple`` fields from lists, so a
    section read from YAML or JSON round-trips through :meth:`to_dict`.
    """

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_section(cls: type[P], section: Mapping, **extra: Any) -> P:
        """Build from a (validated) config section: the keys this class declares, plus
        ``extra`` (derived values that are not in the section)."""
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in extra:
                kwargs[f.name] = extra[f.name]
            elif f.name in section:
                try:
                    kwargs[f.name] = _convert(hints[f.name], section[f.name], f.name)
                except ParamsError as err:  # name the key from this section down
                    raise ParamsError(f"{f.name}.{err.key}", err.reason) from None
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                where = cls.SECTION or cls.__name__
                raise KeyError(f"{where}: missing key {f.name!r}")
        return cls(**kwargs)

    @classmethod
    def from_config(cls: type[P], config: Mapping) -> P:
        """From a validated config: the section at ``SECTION`` (objects that combine
        sections or derive values override this)."""
        node = config
        for key in cls.SECTION.split("."):
            node = node[key]
        return cls.from_section(node)

    @classmethod
    def defaults(cls: type[P], **overrides: Any) -> P:
        """The schema's defaults of ``SECTION`` with ``overrides`` on top (validated)."""
        return cls.from_section(schema_defaults(cls.SECTION, **overrides))

    def replace(self: P, **changes: Any) -> P:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-able form; ``type(self).from_section(d)`` rebuilds the object."""
        return _plain(dataclasses.asdict(self))


def _convert(hint: Any, value: Any, name: str) -> Any:
    """``value`` (from YAML/JSON) as field type ``hint``: nested Params, tuples."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, name) if len(args) == 1 else value
    if isinstance(hint, type) and issubclass(hint, Params):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{name}: expected a mapping, got {value!r}")
        return hint.from_section(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)  # JSON schema's `integer` accepts 20.0
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is tuple:
        return tuple(value)
    if origin is dict:
        return dict(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- transport through the multi-GPU launcher (genrec.distributed) ------------------

_TAG = "__genrec_params__"


def encode(value: Params) -> dict:
    """A JSON-able record of ``value`` that :func:`decode` turns back into it."""
    cls = type(value)
    return {_TAG: f"{cls.__module__}:{cls.__qualname__}", "fields": value.to_dict()}


def is_encoded(value: Any) -> bool:
    return isinstance(value, dict) and _TAG in value


def decode(record: Mapping) -> Params:
    module, name = record[_TAG].split(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Params)):
        raise TypeError(f"{record[_TAG]} is not a genrec Params class")
    return cls.from_section(record["fields"])
