import json

import numpy as np
import pandas as pd
import pytest

from genrec.eval.bootstrap import gains
from genrec.report.intervals import comparisons
from genrec.report.params import BootstrapParams, ReportParams
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


def _write_predictions(path, ranks, users=None):
    """predictions.parquet whose targets sit at ``ranks`` (-1: absent) in 10-item lists."""
    n = len(ranks)
    preds, targets = [], []
    for i, r in enumerate(ranks):
        row = list(range(100, 110))
        if r >= 0:
            row[r] = i
        preds.append(row)
        targets.append(i)
    df = pd.DataFrame(
        {
            "user_id": np.arange(n) if users is None else users,
            "target": targets,
            "predictions": preds,
            "rank": np.asarray(ranks, dtype=np.int64),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path)
    return path


def _write_model(root, model, sid_method, ranks, ks=KS, users=None):
    """metrics.json + predictions.parquet of one model, the metrics computed from ranks."""
    d = root / model / (sid_method or "-")
    m = {"model": model, "sid_method": sid_method, "n": len(ranks), "invalid": 0}
    for k in ks:
        m[f"HR@{k}"] = float(gains(np.asarray(ranks), k, "HR").mean())
        m[f"NDCG@{k}"] = float(gains(np.asarray(ranks), k, "NDCG").mean())
    d.mkdir(parents=True, exist_ok=True)
    (d / "metrics.json").write_text(json.dumps(m))
    _write_predictions(d / "predictions.parquet", ranks, users)
    return d / "metrics.json", d / "predictions.parquet"


BOOT = BootstrapParams(samples=500, seed=0, level=0.95)


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
    n = 100

    def ranks(share, rank):  # the first `share` of the samples at `rank`, the rest absent
        return [rank if i < share * n else -1 for i in range(n)]

    models = [
        _write_model(tmp_path, "popularity", None, ranks(0.1, 8)),
        _write_model(tmp_path, "sasrec", None, ranks(0.5, 4)),
        _write_model(tmp_path, "sft", "rqvae", ranks(0.4, 0)),
        _write_model(tmp_path, "rl", "rqvae", ranks(0.45, 2)),
    ]
    files = [m for m, _ in models]
    meta = json.loads(files[2].read_text())
    files[2].write_text(json.dumps({**meta, "invalid": 3, "top1_share": 0.25}))
    out = tmp_path / "out"
    params = ReportParams(sort_by=None, dpi=50, bootstrap=BOOT)  # rows in input order
    table = write_metrics_table(
        files,
        [p for _, p in models],
        out / "metrics.csv",
        out / "metrics.png",
        out / "metrics.html",
        KS,
        params,
    )
    csv = pd.read_csv(out / "metrics.csv")
    assert list(csv["label"]) == ["popularity", "sasrec", "sft (rqvae)", "rl (rqvae)"]
    assert list(csv.columns) == [
        "model", "sid_method", "label", "n", "invalid", "top1_share",
        "HR@1", "HR@5", "HR@10", "NDCG@1", "NDCG@5", "NDCG@10",
        "HR@1_lo", "HR@1_hi", "HR@5_lo", "HR@5_hi", "HR@10_lo", "HR@10_hi",
        "NDCG@1_lo", "NDCG@1_hi", "NDCG@5_lo", "NDCG@5_hi", "NDCG@10_lo", "NDCG@10_hi",
    ]  # fmt: skip
    # popularity: HR@10 0.1 on 100 samples, binomial 0.1 +- 1.96 sqrt(0.1 * 0.9 / 100)
    assert csv.loc[0, "HR@10_lo"] == pytest.approx(0.041, abs=0.02)
    assert csv.loc[0, "HR@10_hi"] == pytest.approx(0.159, abs=0.02)
    assert csv.loc[0, "HR@5_lo"] == csv.loc[0, "HR@5_hi"] == 0.0  # never inside the top 5
    assert csv.loc[2, "HR@10"] == pytest.approx(0.4) and csv.loc[2, "invalid"] == 3
    assert csv["sid_method"].isna().tolist() == [True, True, False, False]
    # files without the collapse check (older runs) leave the cell empty
    assert csv["top1_share"].isna().tolist() == [True, True, False, True]
    assert csv.loc[2, "top1_share"] == 0.25
    assert len(table) == 4
    assert (out / "metrics.png").read_bytes()[:4] == b"\x89PNG"
    html = (out / "metrics.html").read_text()
    assert "<table" in html and "rqvae" in html and "sasrec" in html
    assert "<b>0.5000</b> [0.4" in html  # best HR@10 (sasrec) in bold, with its interval

    ranked = metrics_table(files, KS, sort_by="HR@10")
    assert list(ranked["model"]) == ["sasrec", "rl", "sft", "popularity"]
    with pytest.raises(ValueError, match="counts 100"):
        short = _write_predictions(tmp_path / "short.parquet", [0, -1])
        metrics_table(files[:1], KS, predictions=[short], bootstrap=BOOT)
    with pytest.raises(ValueError, match="HR@1 0.4 in .* but its predictions give 0 "):
        metrics_table(files[2:3], KS, predictions=[models[1][1]], bootstrap=BOOT)


def test_paired_comparisons_find_a_real_lift_and_no_fake_one(tmp_path):
    n = 1000
    sas = [0 if i % 10 == 0 else -1 for i in range(n)]  # HR@1 0.1
    sft = [0 if i % 10 in (0, 1) else -1 for i in range(n)]  # 0.2, every SASRec hit too
    rl = [0 if i % 10 in (0, 1) or i % 50 == 2 else -1 for i in range(n)]  # +0.02
    test = [
        _write_model(tmp_path / "test", "sasrec", None, sas),
        _write_model(tmp_path / "test", "sft", "rqvae", sft),
        _write_model(tmp_path / "test", "rl", "rqvae", rl),
    ]
    valid = [  # on valid RL only reorders: a hit moves from rank 0 to rank 2
        _write_model(tmp_path / "valid", "sft", "rqvae", sft),
        _write_model(
            tmp_path / "valid", "rl", "rqvae", [2 if i == 0 else r for i, r in enumerate(sft)]
        ),
    ]
    table = comparisons({"valid": valid, "test": test}, KS, BOOT)
    row = table.set_index(["split", "comparison", "metric", "k"])
    lift = row.loc[("test", "SFT+RL - SFT", "HR", 10)]
    assert lift["estimate"] == pytest.approx(0.02) and lift["excludes"]
    assert 0 < lift["lo"] < 0.02 < lift["hi"]
    same = row.loc[("valid", "SFT+RL - SFT", "HR", 10)]
    assert same["estimate"] == 0 and not same["excludes"]
    assert row.loc[("valid", "SFT+RL - SFT", "NDCG", 10), "estimate"] < 0
    ratio = row.loc[("test", "SFT / SASRec", "HR", 10)]
    assert ratio["estimate"] == pytest.approx(2.0) and ratio["lo"] > 1.5 and ratio["excludes"]
    assert set(table["comparison"]) == {"SFT+RL - SFT", "SFT / SASRec", "SFT+RL / SASRec"}
    assert not (table["split"] == "valid").any() or set(
        table.loc[table["split"] == "valid", "comparison"]
    ) == {"SFT+RL - SFT"}

    other = _write_model(tmp_path / "x", "sasrec", None, sas, users=np.arange(n)[::-1])
    with pytest.raises(ValueError, match="not list the same samples"):
        comparisons({"test": [other, test[1]]}, KS, BOOT)


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
    with pytest.raises(ValueError, match="rank"):
        old = tmp_path / "old.parquet"
        pd.DataFrame({"user_id": [0], "target": [1], "predictions": [[1]]}).to_parquet(old)
        metrics_table([a], KS, predictions=[old], bootstrap=BOOT)


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
