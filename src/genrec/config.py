"""Config validation for the workflow: the schema, then every stage's parameters.

:func:`validate_config` checks a config against ``config/schema.yaml`` (defaults filled
in, errors naming the dotted key path: :func:`genrec.schema.check_config`), then builds
every stage's parameter object once (:func:`build_stage_params`), so that a cross-field
error fails before the first job. This module stands at the top: it imports every
``genrec.<stage>.params``, and those import only :mod:`genrec.schema` and
:mod:`genrec.params` below it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from genrec.baselines.params import PopularityParams, SasrecParams
from genrec.data.params import DataParams
from genrec.embed.params import EmbedParams
from genrec.eval.params import EvalParams
from genrec.params import ParamsError
from genrec.report.params import ReportParams
from genrec.rl.params import RlParams
from genrec.schema import ConfigError, check_config
from genrec.sft.params import SftDataParams, SftTrainParams
from genrec.sid.params import SidParams


def validate_config(config: dict, schema: dict | str | Path) -> dict:
    """Validate ``config`` in place (filling defaults) and return it: the schema
    (:func:`genrec.schema.check_config`), then every stage's parameter object.

    Raises :class:`~genrec.schema.ConfigError` naming the offending key path.
    """
    check_config(config, schema)
    build_stage_params(config)
    return config


def build_stage_params(config: dict) -> dict:
    """Build every stage's parameter object once from the validated ``config`` (what the
    rules build again per job), so that each cross-field check (``eval.num_beams`` >= the
    largest K, ``rl.per_device_batch_size`` a multiple of ``rl.num_generations``, the
    split ratios summing to 1, ...) fails before the first job, not inside one after
    SFT has run. Returns ``{key: object}``; raises :class:`ConfigError` naming the section.
    """
    # (name of the object, config section its keys come from, builder)
    builders = [("embed", "embed", lambda: EmbedParams.from_config(config))]
    # the global section first, so that its own errors are named under `data`
    builders.append(("data", "data", lambda: DataParams.from_section(config["data"])))
    for name, ds in config["datasets"].items():
        section = f"datasets.{name}.data" if "data" in ds else "data"
        builders.append((f"data/{name}", section, partial(DataParams.from_config, config, name)))
    for method in config["sid"]["methods"]:
        builders.append((f"sid/{method}", "sid", partial(SidParams.from_config, config, method)))
    builders += [
        ("sft/data", "sft", lambda: SftDataParams.from_config(config)),
        ("sft/train", "sft", lambda: SftTrainParams.from_config(config)),
        ("eval/test", "eval", lambda: EvalParams.from_config(config, "test")),
        ("eval/valid", "eval", lambda: EvalParams.from_config(config, "valid")),
        (
            "baselines/popularity",
            "baselines.popularity",
            lambda: PopularityParams.from_config(config),
        ),
        ("report", "report", lambda: ReportParams.from_config(config)),
    ]
    if config["rl"]["enabled"]:
        builders.append(("rl", "rl", lambda: RlParams.from_config(config)))
    if config["baselines"]["sasrec"]["enabled"]:
        for name in config["datasets"]:
            build = partial(SasrecParams.from_config, config, name)
            builders.append((f"baselines/sasrec/{name}", "baselines.sasrec", build))
    built = {}
    for key, section, build in builders:
        try:
            built[key] = build()
        except ParamsError as err:
            raise ConfigError(f"invalid config at '{section}.{err.key}': {err.reason}") from None
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"invalid config at '{section}': {err}") from None
    return built
