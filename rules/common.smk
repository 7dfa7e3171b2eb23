# Pure-Python helpers shared by the rule files. No rules here; importable by
# pytest (tests/test_config.py loads this file with importlib).
import re
from pathlib import Path

from genrec.config import dataset_data_config, validate_config
from genrec.eval.params import EvalParams  # noqa: F401 (used by rules/evaluate.smk)
from genrec.lm.base import resolve_base_model
from genrec.report.targets import metrics_files  # noqa: F401 (used by rules/report.smk)


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


def data_params(config, dataset):
    """The ``data`` slice for ``dataset``: global section merged with its override."""
    return dataset_data_config(config, dataset)


def data_targets(config):
    return [
        f"results/{ds}/data/{name}"
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


def rl_enabled(config):
    return bool(config["rl"]["enabled"])


def sid_params(config, method):
    """The `sid` config slice one method uses: shared keys plus its own section."""
    sid = config["sid"]
    return {
        "codebook_sizes": sid["codebook_sizes"],
        "seed": sid["seed"],
        method: sid[method],
    }


def sid_warm_start(wc):
    """rqkmeans_plus starts from the balanced run's codebooks."""
    if wc.method == "rqkmeans_plus":
        return {
            "init_codebooks": f"results/{wc.dataset}/sid/rqkmeans_balanced/codebooks.npz"
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
    return {} if source is None else {"base_model": f"results/models/{source.name}"}


def rl_reward_inputs(config, dataset):
    """Embeddings / SASRec files, only for the rewards that have a weight > 0."""
    weights = config["rl"]["rewards"]
    out = {}
    if weights["semantic"]:
        out["embeddings"] = f"results/{dataset}/embed/embeddings.npy"
    if weights["cf"]:
        out["sasrec_model"] = f"results/{dataset}/baselines/sasrec/model.pt"
        out["sasrec_config"] = f"results/{dataset}/baselines/sasrec/sasrec_config.json"
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
                f"results/{ds}/sid/{m}/sids.parquet",
                f"results/{ds}/sid/{m}/sid_stats.json",
                f"results/{ds}/sid/{m}/code_usage.png",
                f"results/{ds}/sid/{m}/minionerec",
                f"results/{ds}/sft/{m}/loss.png",
            ]
            if rl_enabled(config):
                targets.append(f"results/{ds}/rl/{m}/history.json")
            # valid-split scores (model selection, and SFT vs SFT+RL on data RL never saw)
            stages = ["sft", "rl"] if rl_enabled(config) else ["sft"]
            targets += [f"results/{ds}/eval/{m}/{s}/valid/metrics.json" for s in stages]
        targets += [
            f"results/{ds}/metrics.csv",
            f"results/{ds}/metrics.png",
            f"results/{ds}/metrics.html",
            f"results/{ds}/runtimes.png",
            f"results/{ds}/manifest.json",
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
