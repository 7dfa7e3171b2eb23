"""Data + baselines + summary through Snakemake, then `snakemake --report`."""

import json

import pandas as pd
import pytest
import yaml

TARGETS = ["results/demo/metrics.csv", "results/demo/runtimes.png", "results/demo/manifest.json"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, repo_root, wrapper_workflow, small_demo_config):
    """A wrapper Snakefile including the repo's data, baselines and report rules."""
    cfg = small_demo_config(n_users=200, n_items=80)
    cfg["baselines"]["sasrec"].update(hidden_size=16, num_blocks=1, max_epochs=2)
    cfg["sid"]["methods"] = ["rqkmeans"]
    cfg["rl"] = {**cfg.get("rl", {}), "enabled": False}
    d = wrapper_workflow(
        tmp_path_factory.mktemp("wf_report"),
        rules=("data", "baselines", "report"),
        config=cfg,
        report=repo_root / "report" / "workflow.rst",
    )
    # The generative stages are not part of this workflow: their evaluation result is an
    # input file here, so the summary must pick it up next to the baselines.
    # 10 samples, one target ranked first (HR@K = NDCG@K = 0.1 for every K), nine absent;
    # the predictions carry the per-sample ranks the summary's intervals are drawn from.
    sft = d / "results/demo/eval/rqkmeans/sft/metrics.json"
    sft.parent.mkdir(parents=True)
    sft.write_text(
        json.dumps(
            {"model": "sft", "sid_method": "rqkmeans", "n": 10, "invalid": 1}
            | {f"{m}@{k}": 0.1 for m in ("HR", "NDCG") for k in cfg["eval"]["ks"]}
        )
    )
    pd.DataFrame(
        {"user_id": list(range(10)), "target": list(range(10)), "rank": [0] + [-1] * 9}
    ).to_parquet(sft.with_name("predictions.parquet"))
    return d


@pytest.mark.slow
def test_baselines_summary_and_report(workdir, snakemake):
    snakemake(workdir, *TARGETS)
    table = pd.read_csv(workdir / "results/demo/metrics.csv")
    assert table["label"].tolist() == ["popularity", "sasrec", "sft (rqkmeans)"]
    ks = yaml.safe_load((workdir / "config/config.yaml").read_text())["eval"]["ks"]
    assert all(f"{m}@{k}" in table.columns for m in ("HR", "NDCG") for k in ks)
    assert table[[c for c in table.columns if "@" in c]].notna().all().all()
    # the SFT row's interval comes from the ranks above: HR@K 0.1 on 10 samples, within [0, 1]
    sft_row = table.set_index("label").loc["sft (rqkmeans)"]
    k = ks[0]
    assert 0.0 <= sft_row[f"HR@{k}_lo"] <= 0.1 <= sft_row[f"HR@{k}_hi"] <= 1.0
    base = workdir / "results/demo/baselines"
    for name in ("model.pt", "sasrec_config.json", "training_curve.json", "predictions.parquet"):
        assert (base / "sasrec" / name).exists(), name
    assert (base / "popularity/predictions.parquet").exists()
    assert (workdir / "results/demo/logs/baselines/baseline_sasrec.log").read_text()
    runtimes = pd.read_csv(workdir / "results/demo/runtimes.csv")
    assert {"data/prepare_data", "baselines/baseline_sasrec", "report/summarize_metrics"} <= set(
        runtimes["job"]
    )
    # the manifest: this workflow's rules (data, baselines, report), from their objects
    manifest = json.loads((workdir / "results/demo/manifest.json").read_text())
    assert manifest["rules"]["baseline_sasrec"] == {
        "benchmark": "results/{dataset}/benchmarks/baselines/baseline_sasrec.tsv",
        "json_outputs": [
            "results/{dataset}/baselines/sasrec/sasrec_config.json",
            "results/{dataset}/baselines/sasrec/training_curve.json",
            "results/{dataset}/baselines/sasrec/metrics.json",
        ],
        "wildcard_constraints": {"dataset": "demo"},
    }
    assert "train_sft" not in manifest["rules"] and "write_manifest" in manifest["rules"]
    # nor for the manifest
    assert "Nothing to be done" in snakemake(workdir, "-n", *TARGETS).output

    snakemake(workdir, "--report", "report.html", *TARGETS)
    html = (workdir / "report.html").read_text()
    assert len(html) > 10_000
    for text in ("metrics.html", "metrics.png", "runtimes.png", "training_curve.png"):
        assert text in html, text
