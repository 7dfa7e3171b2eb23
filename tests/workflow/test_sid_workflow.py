"""The embed + SID stages through Snakemake: a SID param change reruns only SID jobs."""

import json
import re

import pandas as pd
import pytest
import yaml

METHODS = ["rqkmeans", "rqkmeans_balanced", "rqkmeans_plus"]
TARGETS = [
    f"results/demo/sid/{m}/{name}" for m in METHODS for name in ("code_usage.png", "minionerec")
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, wrapper_workflow, small_demo_config):
    """A wrapper Snakefile including the repo's rule files (whatever `rule all` holds)."""
    cfg = small_demo_config(n_users=400, n_items=150)
    cfg["embed"].update({"max_length": 32, "fields": ["title"]})
    cfg["sid"].update({"methods": METHODS, "codebook_sizes": [8, 8, 8]})
    cfg["sid"]["rqkmeans_plus"].update({"epochs": 5, "hidden_dims": [16]})
    return wrapper_workflow(
        tmp_path_factory.mktemp("wf_sid"), rules=("data", "embed", "sid"), config=cfg
    )


def planned_jobs(dry_run_output):
    """{rule: count} of the first 'Job stats' table of a dry run."""
    lines = dry_run_output.split("Job stats:", 1)[1].splitlines()[1:]
    jobs = {}
    for line in lines:
        if not line.strip():
            if jobs:
                break
            continue
        m = re.match(r"^(\w+)\s+(\d+)\s*$", line)
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


@pytest.mark.slow
def test_sid_param_change_reruns_only_sid_jobs(workdir, snakemake):
    snakemake(workdir, *TARGETS)
    for m in METHODS:
        stats = json.loads((workdir / f"results/demo/sid/{m}/sid_stats.json").read_text())
        assert stats["unique_sid_ratio"] == 1.0
        sids = pd.read_parquet(workdir / f"results/demo/sid/{m}/sids.parquet")
        csv = pd.read_csv(workdir / f"results/demo/sid/{m}/minionerec/train/demo.csv")
        assert set(csv["item_sid"]) <= set(sids["sid"])
    assert (workdir / "results/demo/embed/embeddings.npy").exists()
    assert (workdir / "results/demo/logs/sid/build_sids.rqkmeans_plus.log").read_text()
    assert (workdir / "results/demo/benchmarks/embed/embed_items.tsv").exists()
    assert "Nothing to be done" in snakemake(workdir, "-n", *TARGETS).output

    cfg_path = workdir / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["sid"]["rqkmeans_balanced"]["niter"] += 1
    cfg_path.write_text(yaml.safe_dump(cfg))
    dry = snakemake(workdir, "-n", *TARGETS).output
    # the balanced run and what depends on it (rqkmeans_plus warm-starts from it), nothing else
    assert planned_jobs(dry) == {"build_sids": 2, "export_minionerec": 2}
    outputs = [ln for ln in dry.splitlines() if ln.strip().startswith("output:")]
    assert len(outputs) == 4 and not any("sid/rqkmeans/" in ln for ln in outputs)

    cfg["sid"]["codebook_sizes"] = [8, 8, 4]
    cfg_path.write_text(yaml.safe_dump(cfg))
    dry = snakemake(workdir, "-n", *TARGETS).output
    assert planned_jobs(dry) == {"build_sids": 3, "export_minionerec": 3}

    # method `import`: published SIDs (here: the rqkmeans run's index.json) as a SID method
    cfg["sid"]["methods"] = ["import"]
    cfg["sid"]["import"]["index_json"] = "results/demo/sid/rqkmeans/index.json"
    cfg["sid"]["import"]["keys"] = "item_id"  # our own export: keyed by our item ids
    cfg_path.write_text(yaml.safe_dump(cfg))
    target = "results/demo/sid/import/sids.parquet"
    snakemake(workdir, target)
    imported = pd.read_parquet(workdir / target)
    built = pd.read_parquet(workdir / "results/demo/sid/rqkmeans/sids.parquet")
    assert imported["sid"].tolist() == built["sid"].tolist()
