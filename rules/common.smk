# Pure-Python helpers shared by the rule files. No rules here; importable by
# pytest (tests/test_config.py loads this file with importlib). Each rule's params
# are one stage parameter object (genrec.<stage>.params, imported here, noqa: used
# by the rule files) built from the validated config, passed through tracked().
import re
from pathlib import Path

from genrec.baselines.params import PopularityParams, SasrecParams  # noqa: F401
from genrec.config import validate_config
from genrec.data.params import DataParams  # noqa: F401
from genrec.data.resources import data_stage_resources, table_job_resources
from genrec.embed.params import EmbedParams  # noqa: F401
from genrec.eval.params import EvalParams  # noqa: F401
from genrec.params import encode
from genrec.report.params import BootstrapParams, ReportParams  # noqa: F401
from genrec.rl.params import RlParams  # noqa: F401
from genrec.sft.params import SftDataParams, SftTrainParams  # noqa: F401
from genrec.sid.params import SidParams  # noqa: F401
from genrec.lm.base import resolve_base_model
from genrec.report.targets import (  # noqa: F401 (used by rules/report.smk)
    metrics_files,
    predictions_files,
    split_metrics_files,
)


def canonical(value):
    """Dicts with sorted keys, recursively. Snakemake compares params by their repr, so
    a config file whose keys were merely reordered must not trigger a rerun: the
    validated config is put in this form once, below, and every param slice built
    from it is then independent of the key order in the user's files."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def tracked(params):
    """A stage parameter object in the form Snakemake compares between runs. Snakemake
    records params by the repr of builtin values only and silently skips any other
    object, so a changed value inside a dataclass would never rerun the job. The
    scripts turn the record back into the object (``genrec.params.decode``)."""
    return encode(params)


def results(path, dataset="{dataset}"):
    """``results/<dataset>/<path>``: a dataset's result file (the wildcard by default)."""
    return f"results/{dataset}/{path}"


def logs(path, dataset="{dataset}"):
    """A rule's log under ``results/<dataset>/logs/``."""
    return results(f"logs/{path}", dataset)


def benchmarks(path, dataset="{dataset}"):
    """A rule's benchmark TSV under ``results/<dataset>/benchmarks/``."""
    return results(f"benchmarks/{path}", dataset)


def models(path):
    """A converted backbone under ``results/models/`` (shared by every dataset)."""
    return f"results/models/{path}"


def name_regex(names):
    """A wildcard regex matching exactly ``names`` (never matches when empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def datasets(config):
    """Names of all configured datasets."""
    return list(config["datasets"])


def is_synthetic(config, dataset):
    return "synthetic" in config["datasets"][dataset]


def raw_inputs(config, dataset):
    """Raw reviews and metadata paths of ``dataset`` (generated ones for synthetic data)."""
    ds = config["datasets"][dataset]
    if "synthetic" in ds:
        return {
            "reviews": f"resources/{dataset}/{dataset}_5.json.gz",
            "meta": f"resources/{dataset}/meta_{dataset}.json.gz",
        }
    return {"reviews": ds["reviews"], "meta": ds["meta"]}


def input_mb(path):
    """Size of ``path`` in MB (0 while it does not exist yet, as in a dry run)."""
    path = Path(path)
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def prepare_data_resource(config, key):
    """A resource callable (``key``: ``mem_mb`` or ``runtime``) of a prepare_data job:
    genrec.data.resources.data_stage_resources of its reviews and metadata sizes and the
    dataset's data.engine; the memory grows with Snakemake's retry ``attempt``."""

    def resource(wildcards, input, attempt):
        engine = DataParams.from_config(config, wildcards.dataset).engine
        sizes = input_mb(input.reviews), input_mb(input.meta)
        return data_stage_resources(*sizes, engine=engine, attempt=attempt)[key]

    return resource


def table_job_resource(key):
    """A resource callable of a job that loads the data stage's tables (input.size_mb)."""

    def resource(wildcards, input, attempt):
        return table_job_resources(input.size_mb, attempt=attempt)[key]

    return resource


def data_targets(config):
    return [
        results(f"data/{name}", ds)
        for ds in datasets(config)
        for name in (
            "train.parquet",
            "valid.parquet",
            "test.parquet",
            "items.parquet",
            "stats.json",
        )
    ]


def sid_methods(config):
    return list(config["sid"]["methods"])


def sft_threads(config):
    """Cores of a train_sft job: one per training process (one per GPU, at least one)
    plus one per DataLoader worker of each."""
    workers = SftTrainParams.from_config(config).dataloader_workers
    return (1 + workers) * max(1, config["resources"]["gpu"]["sft"])


def rl_enabled(config):
    return bool(config["rl"]["enabled"])


def sid_warm_start(wc):
    """rqkmeans_plus starts from the balanced run's codebooks."""
    if wc.method == "rqkmeans_plus":
        return {
            "init_codebooks": results("sid/rqkmeans_balanced/codebooks.npz", wc.dataset)
        }
    return {}


def sid_import_json(config):
    """The index.json of method `import` (a clear error when it is not configured)."""
    path = config["sid"]["import"]["index_json"]
    if not path:
        raise ValueError(
            "sid.import.index_json must name a MiniOneRec index.json for method 'import'"
        )
    return path


def base_model_source(config):
    """The backbone's source file or directory (a known name resolves to the file its
    installed package ships), so that a changed source reruns the conversion."""
    source = resolve_base_model(config["lm"]["base_model"])
    return {} if source is None else {"source": str(source.path)}


def base_model_input(config):
    """The converted backbone directory SFT starts from ({} for lm.base_model scratch)."""
    source = resolve_base_model(config["lm"]["base_model"])
    return {} if source is None else {"base_model": models(source.name)}


def rl_reward_inputs(config, dataset):
    """Embeddings / SASRec files, only for the rewards that have a weight > 0."""
    weights = config["rl"]["rewards"]
    out = {}
    if weights["semantic"]:
        out["embeddings"] = results("embed/embeddings.npy", dataset)
    if weights["cf"]:
        out["sasrec_model"] = results("baselines/sasrec/model.pt", dataset)
        out["sasrec_config"] = results("baselines/sasrec/sasrec_config.json", dataset)
    return out


def all_targets(config):
    """The targets of the `all` rule -- per dataset the data stage, SIDs (with the
    MiniOneRec export), SFT (and RL) models, their valid-split scores, the metrics table
    and the run-time plot (which pull in the baselines and every test evaluation), and
    the workflow manifest the results page reads."""
    targets = data_targets(config)
    for ds in datasets(config):
        for m in sid_methods(config):
            targets += [
                results(f"sid/{m}/sids.parquet", ds),
                results(f"sid/{m}/sid_stats.json", ds),
                results(f"sid/{m}/code_usage.png", ds),
                results(f"sid/{m}/minionerec", ds),
                results(f"sft/{m}/loss.png", ds),
            ]
            if rl_enabled(config):
                targets.append(results(f"rl/{m}/history.json", ds))
            # valid-split scores (model selection, and SFT vs SFT+RL on data RL never saw)
            stages = ["sft", "rl"] if rl_enabled(config) else ["sft"]
            targets += [results(f"eval/{m}/{s}/valid/metrics.json", ds) for s in stages]
        targets += [
            results("metrics.csv", ds),
            results("comparisons.csv", ds),
            results("metrics.png", ds),
            results("metrics.html", ds),
            results("runtimes.png", ds),
            results("manifest.json", ds),
        ]
    return targets


if "workflow" in globals():  # included by the Snakefile (not when imported by pytest)
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
    resolve_base_model(
        config["lm"]["base_model"]
    )  # a bad lm.base_model fails before any job
    _canonical_config = canonical(config)
    config.clear()
    config.update(_canonical_config)
