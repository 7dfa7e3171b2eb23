import json

import pandas as pd
import pytest

from genrec.report.params import ReportParams
from genrec.report.runtime import collect_benchmarks, plot_runtimes
from genrec.report.summary import metrics_table, write_metrics_table
from genrec.report.targets import metrics_files

KS = [1, 5, 10]


def _write_metrics(path, model, sid_method=None, scale=1.0, ks=KS):
    m = {"model": model, "sid_method": sid_method, "n": 100, "invalid": 3 if sid_method else 0}
    if sid_method:
        m["top1_share"] = 0.25
    for k in ks:
        m[f"HR@{k}"] = min(1.0, scale * k / 20)
        m[f"NDCG@{k}"] = min(1.0, scale * k / 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(m))
    return path


def test_metrics_files_follow_config():
    cfg = {"sid": {"methods": ["rqvae", "rqkmeans"]}}
    assert metrics_files(cfg, "demo") == [
        "results/demo/baselines/popularity/metrics.json",
        "results/demo/baselines/sasrec/metrics.json",
        "results/demo/eval/rqvae/sft/metrics.json",
        "results/demo/eval/rqvae/rl/metrics.json",
        "results/demo/eval/rqkmeans/sft/metrics.json",
        "results/demo/eval/rqkmeans/rl/metrics.json",
    ]
    cfg = {
        "sid": {"methods": ["rqvae"]},
        "rl": {"enabled": False},
        "baselines": {"sasrec": {"enabled": False}},
    }
    assert metrics_files(cfg, "x") == [
        "results/x/baselines/popularity/metrics.json",
        "results/x/eval/rqvae/sft/metrics.json",
    ]


def test_table_has_one_row_per_model_with_all_k(tmp_path):
    files = [
        _write_metrics(tmp_path / "pop.json", "popularity", scale=0.2),
        _write_metrics(tmp_path / "sas.json", "sasrec", scale=1.0),
        _write_metrics(tmp_path / "sft.json", "sft", "rqvae", scale=0.8),
        _write_metrics(tmp_path / "rl.json", "rl", "rqvae", scale=0.9),
    ]
    out = tmp_path / "out"
    params = ReportParams(sort_by=None, dpi=50)  # rows in input order
    table = write_metrics_table(
        files, out / "metrics.csv", out / "metrics.png", out / "metrics.html", KS, params
    )
    csv = pd.read_csv(out / "metrics.csv")
    assert list(csv["label"]) == ["popularity", "sasrec", "sft (rqvae)", "rl (rqvae)"]
    assert list(csv.columns) == [
        "model", "sid_method", "label", "n", "invalid", "top1_share",
        "HR@1", "HR@5", "HR@10", "NDCG@1", "NDCG@5", "NDCG@10",
    ]  # fmt: skip
    assert csv.loc[2, "HR@10"] == pytest.approx(0.4) and csv.loc[2, "invalid"] == 3
    assert csv["sid_method"].isna().tolist() == [True, True, False, False]
    # files without the collapse check (older runs) leave the cell empty
    assert csv["top1_share"].isna().tolist() == [True, True, False, False]
    assert csv.loc[3, "top1_share"] == 0.25
    assert len(table) == 4
    assert (out / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    html = (out / "metrics.html").read_text()
    assert "<table" in html and "rqvae" in html and "sasrec" in html
    assert "<b>0.5000</b>" in html  # best HR@10 (sasrec) in bold

    ranked = metrics_table(files, KS, sort_by="NDCG@10")
    assert list(ranked["model"]) == ["sasrec", "rl", "sft", "popularity"]


def test_missing_k_or_duplicate_names_the_problem(tmp_path):
    short = _write_metrics(tmp_path / "short.json", "sasrec", ks=[1, 5])
    with pytest.raises(
        ValueError, match=r"short\.json: missing metric\(s\) \['HR@10', 'NDCG@10'\]"
    ):
        metrics_table([short], KS)
    a = _write_metrics(tmp_path / "a.json", "sft", "rqvae")
    b = _write_metrics(tmp_path / "b.json", "sft", "rqvae")
    with pytest.raises(ValueError, match="same model"):
        metrics_table([a, b], KS)
    with pytest.raises(ValueError, match="sort_by"):
        metrics_table([a], KS, sort_by="MRR")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        metrics_table([bad], KS)


def test_runtimes_from_benchmark_tsvs(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    bench = tmp_path / "benchmarks"
    for rel, s in (
        ("data/prepare_data", 2.5),
        ("baselines/baseline_sasrec", 30.0),
        ("sid/x.rqvae", 7),
    ):
        (bench / rel).parent.mkdir(parents=True, exist_ok=True)
        (bench / f"{rel}.tsv").write_text(
            header + f"{s}\t0:00:0{int(s) % 10}\t120.5\t1\t1\t1\t-\t-\t0\t{s}\n"
        )
    table = plot_runtimes(bench, tmp_path / "runtimes.png", tmp_path / "runtimes.csv", dpi=50)
    assert table["job"].tolist() == [
        "baselines/baseline_sasrec",
        "sid/x.rqvae",
        "data/prepare_data",
    ]
    assert table["stage"].tolist() == ["baselines", "sid", "data"]
    assert table["s"].tolist() == [30.0, 7.0, 2.5] and table["max_rss"].iloc[0] == 120.5
    assert (tmp_path / "runtimes.png").read_bytes()[:4] == b"\x89PNG"
    assert pd.read_csv(tmp_path / "runtimes.csv")["job"].tolist() == table["job"].tolist()

    (bench / "junk.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="junk.tsv: not a Snakemake benchmark"):
        collect_benchmarks(bench)
