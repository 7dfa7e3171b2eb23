"""genrec.report.results: the Markdown results page, built from fake result files laid
out as the real workflow declares them (its manifest, written by its own rule)."""

import builtins
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import genrec.io
from genrec.report import results as rp

DATASET = "demo"  # the dataset of the default config (config/config.yaml)
KS = [1, 3, 5, 10, 20]
ENV = {"python": "3.11.0", "torch": "9.9.9", "cuda_device": "Fake GPU 80GB"}

# (model, sid_method, base value): HR@K = base + K/1000, NDCG@K = base / 2 + K/1000
MODELS = [  # deliberately not in page order
    ("rl", "rqvae", 0.30),
    ("sasrec", None, 0.20),
    ("sft", "rqkmeans_balanced", 0.11),
    ("popularity", None, 0.01),
    ("sft", "rqvae", 0.25),
    ("rl", "rqkmeans_balanced", 0.12),
]


def _hr(base, k):
    return base + k / 1000


def _ndcg(base, k):
    return base / 2 + k / 1000


def _metrics_csv(path, models=MODELS, ks=KS):
    rows = []
    for i, (model, sid, base) in enumerate(models):
        row = {
            "model": model,
            "sid_method": sid,
            "label": model if not sid else f"{model} ({sid})",
            "n": 1800,
            "invalid": 7 * i,  # distinct per row: 0, 7, 14, ...
        }
        row.update({f"HR@{k}": _hr(base, k) for k in ks})
        row.update({f"NDCG@{k}": _ndcg(base, k) for k in ks})
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


def _tsv(path, s, max_rss, cpu_time):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        f"{s}\t0:00:00\t{max_rss}\t1\t1\t1\t1\t1\t1\t{cpu_time}\n"
    )


def _json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


# Dumps, when the workflow is parsed, every rule's output and benchmark patterns as
# Snakemake holds them (with their wildcard constraints).
RULE_DUMP = """
import json
from snakemake.io import is_flagged

with open({out!r}, "w") as fh:
    json.dump(
        {{
            r.name: {{
                "benchmark": str(r.benchmark) if r.benchmark else None,
                "outputs": [str(o) for o in r.output],
                "directories": [str(o) for o in r.output if is_flagged(o, "directory")],
            }}
            for r in workflow.rules
        }},
        fh,
    )
"""


@pytest.fixture(scope="module")
def workflow(tmp_path_factory, wrapper_workflow, snakemake):
    """The real workflow (the repository's Snakefile, default config) in a scratch
    directory: its rules as Snakemake parsed them (``rules``) and the manifest its
    ``write_manifest`` rule wrote for the demo dataset (``manifest``)."""
    d = tmp_path_factory.mktemp("wf_manifest")
    dump = d / "rules.json"
    wrapper_workflow(d, includes=("Snakefile",), header="", footer=RULE_DUMP.format(out=str(dump)))
    target = f"results/{DATASET}/manifest.json"
    snakemake(d, target, cores=1)
    assert target in (d / f"results/{DATASET}/logs/report/write_manifest.log").read_text()
    return {
        "rules": json.loads(dump.read_text()),
        "manifest": json.loads((d / target).read_text()),
        "manifest_path": d / target,
    }


def _declared(manifest, root, pattern, **wildcards):
    """The file ``pattern`` (from the manifest) names under the results directory ``root``."""
    rel = Path(pattern).relative_to(manifest["results_dir"]).as_posix()
    return root / rel.format(dataset=DATASET, **wildcards)


def _bench(manifest, root, rule, **wildcards):
    return _declared(manifest, root, manifest["rules"][rule]["benchmark"], **wildcards)


def _json_output(manifest, root, rule, **wildcards):
    """The rule's only JSON output (the file its job records its peak GPU memory in)."""
    (pattern,) = manifest["rules"][rule]["json_outputs"]
    return _declared(manifest, root, pattern, **wildcards)


@pytest.fixture
def results_dir(tmp_path, workflow):
    root = tmp_path / "results"
    ds = root / DATASET
    man = workflow["manifest"]
    ds.mkdir(parents=True)
    shutil.copy(workflow["manifest_path"], ds / "manifest.json")
    _metrics_csv(ds / "metrics.csv")
    _tsv(_bench(man, root, "train_sft", method="rqvae"), 1234.567, 700.59, 999.25)
    _tsv(_bench(man, root, "evaluate_generative", method="rqvae", stage="sft"), 61.04, "-", 80.5)
    _tsv(_bench(man, root, "prepare_data"), 1.45, 115.98, 0.95)
    # the SFT job records its peak GPU memory; the evaluation does not
    _json(
        _json_output(man, root, "train_sft", method="rqvae"),
        {"global_step": 10, "peak_gpu_memory_mb": 2048.25},
    )
    _json(ds / "eval" / "rqvae" / "sft" / "metrics.json", {"model": "sft", "n": 1800})
    _json(
        ds / "data" / "stats.json",
        {
            "format": "2018",
            "steps": [
                {"step": "read", "users": 3285, "items": 3541, "interactions": 22743},
                {"step": "kcore_pass_2", "users": 3278, "items": 2635, "interactions": 21273},
            ],
            "final": {
                "users": 3278,
                "items": 2635,
                "interactions": 21273,
                "density": 0.0024628,
                "mean_sequence_length": 6.4896,
            },
            "split": {"method": "chronological", "train": 14396, "valid": 1799, "test": 1800},
            "max_history": 10,
        },
    )
    for method, rate, moved, extra in (
        ("rqvae", 0.37608, 201, 24),
        ("rqkmeans_balanced", 0.0241, 13, 0),
    ):
        _json(
            ds / "sid" / method / "sid_stats.json",
            {
                "method": method,
                "codebook_sizes": [256, 256, 256],
                "collision_rate_before": rate,
                "unique_sid_ratio": 1.0,
                "n_reassigned": moved,
                "n_extra_level": extra,
                "max_sid_length": 4 if extra else 3,
                "reconstruction_mse": 0.000875,
            },
        )
    return root


def _render(results_dir, **kw):
    kw.setdefault("gather", lambda: dict(ENV))
    return rp.render_page(results_dir, DATASET, **kw)


def _section(md, title):
    """The text of the ``## title`` section."""
    start = md.index(f"## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start : end if end >= 0 else None]


def _rows(md):
    """Table rows (lists of cell strings) of every Markdown table in ``md``."""
    out = []
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            out.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return out


def _row(md, *first):
    hits = [r for r in _rows(md) if r[: len(first)] == list(first)]
    assert len(hits) == 1, f"expected one row starting {first}, got {hits}"
    return hits[0]


def test_quality_table_has_each_models_numbers_in_its_row(results_dir):
    md = _section(_render(results_dir), "Recommendation quality")
    header = _rows(md)[0]
    assert header == (
        ["Model", "SID method"]
        + [f"HR@{k}" for k in KS]
        + [f"NDCG@{k}" for k in KS]
        + ["test samples", "invalid"]
    )
    names = {"popularity": "Popularity", "sasrec": "SASRec", "sft": "SFT", "rl": "SFT+RL"}
    for i, (model, sid, base) in enumerate(MODELS):
        row = _row(md, names[model], sid or "-")
        assert row[2:7] == [f"{_hr(base, k):.4f}" for k in KS]
        assert row[7:12] == [f"{_ndcg(base, k):.4f}" for k in KS]
        assert row[12:] == ["1,800", str(7 * i)]


def test_quality_rows_are_baselines_then_sft_and_rl_per_method(results_dir):
    md = _section(_render(results_dir), "Recommendation quality")
    order = [tuple(r[:2]) for r in _rows(md)[1:]]
    assert order == [
        ("Popularity", "-"),
        ("SASRec", "-"),
        ("SFT", "rqvae"),  # methods in first-seen order of metrics.csv (rqvae's RL row is first)
        ("SFT+RL", "rqvae"),
        ("SFT", "rqkmeans_balanced"),
        ("SFT+RL", "rqkmeans_balanced"),
    ]


def test_top1_share_column_is_shown_when_the_table_has_it(tmp_path):
    root = tmp_path / "results"
    path = root / DATASET / "metrics.csv"
    _metrics_csv(path, MODELS[1:4])  # sasrec, sft (rqkmeans_balanced), popularity
    table = pd.read_csv(path)
    table.insert(5, "top1_share", [0.0412, None, 1.0])
    table.to_csv(path, index=False)
    md = _section(_render(root), "Recommendation quality")
    assert _rows(md)[0][-1] == "top-1 share"
    assert _row(md, "Popularity", "-")[-1] == "1.000"
    assert _row(md, "SASRec", "-")[-1] == "0.041"
    assert _row(md, "SFT", "rqkmeans_balanced")[-1] == "n/a"
    assert "ignores the history" in md


def test_the_ks_are_those_of_metrics_csv(tmp_path):
    root = tmp_path / "results"
    _metrics_csv(root / DATASET / "metrics.csv", MODELS[:2], ks=[1, 10, 50])
    md = _render(root)
    header = _rows(_section(md, "Recommendation quality"))[0]
    assert header[2:8] == ["HR@1", "HR@10", "HR@50", "NDCG@1", "NDCG@10", "NDCG@50"]
    assert "not in the table" not in md
    # Ks asked for explicitly: those in the table are shown, the others named
    picked = rp.quality_section(pd.read_csv(root / DATASET / "metrics.csv"), ks=[1, 3, 5, 10, 20])
    assert _rows(picked)[0][2:6] == ["HR@1", "HR@10", "NDCG@1", "NDCG@10"]
    assert "K = 3, 5, 20 not in the table" in picked


def test_runtime_table_reads_benchmark_tsvs_and_gpu_memory(results_dir):
    md = _section(_render(results_dir), "Run time and memory per job")
    assert _row(md, "sft", "train_sft", "rqvae")[3:] == ["1234.6", "999.2", "700.6", "2048.2"]
    # max_rss "-" (unknown) and no peak_gpu_memory_mb in metrics.json -> n/a
    assert _row(md, "evaluate", "evaluate_generative", "rqvae, sft")[3:] == [
        "61.0",
        "80.5",
        "n/a",
        "n/a",
    ]
    assert _row(md, "data", "prepare_data", "-")[3:] == ["1.4", "0.9", "116.0", "n/a"]
    stages = [r[0] for r in _rows(md)[1:]]
    assert stages == ["data", "sft", "evaluate"]  # pipeline order, not by run time
    assert "Sum of job wall times: 1,297.1 s" in md


def test_data_and_sid_statistics(results_dir):
    md = _render(results_dir)
    data = _section(md, "Data set")
    assert _row(data, "users") == ["users", "3,278"]
    assert _row(data, "items") == ["items", "2,635"]
    assert _row(data, "train / valid / test samples")[1] == "14,396 / 1,799 / 1,800"
    assert _row(data, "read") == ["read", "3,285", "3,541", "22,743"]
    sid = _section(md, "Semantic IDs")
    assert _row(sid, "rqvae") == [
        "rqvae", "256 x 256 x 256", "0.3761", "1.0000", "201", "24", "4", "0.000875",
    ]  # fmt: skip
    assert _row(sid, "rqkmeans_balanced")[2:6] == ["0.0241", "1.0000", "13", "0"]


def test_missing_sid_stats_and_benchmarks_are_reported_not_invented(results_dir):
    ds = results_dir / DATASET
    (ds / "sid" / "rqvae" / "sid_stats.json").unlink()
    for p in sorted((ds / "benchmarks").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (ds / "benchmarks").rmdir()
    md = _render(results_dir)
    assert _row(_section(md, "Semantic IDs"), "rqvae")[1:] == ["n/a"] * 7
    assert f"`{ds / 'sid' / 'rqvae' / 'sid_stats.json'}`" in md
    assert f"_Not available: `{ds / 'benchmarks'}` not found._" in md


def test_decode_section_from_benchmark_json(results_dir, tmp_path):
    bench = tmp_path / "decode.json"
    row = {
        "batch_size": 32,
        "beams": 50,
        "ours_prompts_per_s": 40.0,
        "reference_prompts_per_s": 10.0,
        "floor_prompts_per_s": 44.0,
        "ours_vs_floor": 0.909,
        "ours_vs_reference": 4.0,
        "rows_identical": 32,
        "processor_ms_per_sid_ours": 2.6,
        "processor_ms_per_sid_reference": 160.0,
    }
    _json(bench, {"meta": {"model_shape": "qwen0.5b", "device": "Fake GPU"}, "results": [row]})
    md = _render(results_dir, decode_bench=bench)
    sec = _section(md, "Constrained decoding speed")
    assert _row(sec, "32", "50") == [
        "32", "50", "40.00", "10.00", "44.00", "4.00x", "0.91x", "2.6 / 160.0", "32/32",
    ]  # fmt: skip
    assert "model_shape: qwen0.5b; device: Fake GPU" in sec
    assert "## Constrained decoding speed" not in _render(results_dir)  # optional section
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        _render(results_dir, decode_bench=tmp_path / "nowhere.json")


def test_environment_recorded_or_gathered_and_labelled(results_dir, tmp_path):
    md = _section(_render(results_dir), "Software and hardware")
    assert "Gathered when this page was generated" in md
    assert _row(md, "cuda_device") == ["cuda_device", "Fake GPU 80GB"]
    env = tmp_path / "env.json"
    _json(env, {"torch": "2.13.0+cu128", "cuda_device": "NVIDIA H100 80GB HBM3"})
    out = tmp_path / "page.md"

    def boom():
        raise AssertionError("must not gather when the run recorded its environment")

    rp.write_results_page(results_dir, DATASET, out, environment_json=env, gather=boom)
    md = _section(out.read_text(), "Software and hardware")
    assert f"Recorded by the run, from `{env}`" in md
    assert _row(md, "cuda_device") == ["cuda_device", "NVIDIA H100 80GB HBM3"]


def test_missing_metrics_csv_names_the_path(tmp_path, capsys):
    missing = tmp_path / "results" / DATASET / "metrics.csv"
    out = tmp_path / "docs" / "results.md"
    with pytest.raises(FileNotFoundError) as err:
        rp.write_results_page(tmp_path / "results", DATASET, out, gather=lambda: ENV)
    assert str(missing) in str(err.value)
    assert not out.exists()
    argv = ["--results-dir", str(tmp_path / "results"), "--dataset", DATASET, "--out", str(out)]
    assert rp.main(argv) == 1
    assert str(missing) in capsys.readouterr().err
    assert not out.exists()


def test_cli_writes_the_page(results_dir, tmp_path):
    env = tmp_path / "env.json"
    _json(env, ENV)
    out = tmp_path / "docs" / "results.md"
    argv = ["--results-dir", str(results_dir), "--dataset", DATASET, "--out", str(out)]
    assert rp.main([*argv, "--environment", str(env), "--title", "Industrial"]) == 0
    text = out.read_text()
    assert text.startswith("# Industrial\n")
    assert _row(text, "SASRec", "-")[2] == f"{_hr(0.20, 1):.4f}"


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_failed_write_keeps_the_old_page_and_no_partial_file(results_dir, tmp_path, monkeypatch):
    out = tmp_path / "docs" / "results.md"
    out.parent.mkdir()
    out.write_text("old page\n")

    def fail_replace(src, dst):
        assert os.path.getsize(src) > 0  # the new page was fully written to the temporary
        raise OSError("disk full")

    monkeypatch.setattr(genrec.io.os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        rp.write_results_page(results_dir, DATASET, out, gather=lambda: ENV)
    assert out.read_text() == "old page\n"
    assert _leftovers(out.parent) == []


def test_render_error_leaves_no_file(results_dir, tmp_path):
    (results_dir / DATASET / "data" / "stats.json").write_text("{not json")
    out = tmp_path / "results.md"
    with pytest.raises(ValueError, match="stats.json: not valid JSON"):
        rp.write_results_page(results_dir, DATASET, out, gather=lambda: ENV)
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_sasrec_ratio_valid_split_training_and_backbone_sections(results_dir, workflow):
    ds = results_dir / DATASET
    for stage, split, hr in (("sft", "valid", 0.30), ("rl", "valid", 0.32), ("rl", "test", 0.31)):
        sub = ds / "eval" / "rqvae" / stage / ("valid" if split == "valid" else "")
        _json(sub / "metrics.json", {"HR@10": hr, "NDCG@10": hr / 2, "n": 10})
    _json(ds / "eval" / "rqvae" / "sft" / "metrics.json", {"HR@10": 0.29, "NDCG@10": 0.145})
    _json(
        ds / "rl" / "rqvae" / "history.json",
        {
            "global_step": 40,
            "rollout": "beam",
            "num_generations": 16,
            "invalid_completions": 0,
            "train_runtime": 12.5,
            "log_history": [{"grad_norm": 0.5}, {"grad_norm": 2.0}, {"grad_norm": "nan"}],
        },
    )
    _json(
        results_dir / "models" / "smol" / "genrec_base_model.json",
        {"name": "smol", "source": "smollm2-135m", "parameters": 134515008, "sha256": "ab" * 32,
         "architecture": "LlamaForCausalLM", "eos_token": "<e>", "eos_token_id": 2},
    )  # fmt: skip
    man = workflow["manifest"]
    _tsv(_bench(man, results_dir, "prepare_base_model", base="smol"), 44.1, 816.3, 15.3)
    md = _render(results_dir)
    ratio = _section(md, "Against SASRec")
    # SASRec HR@10 = 0.21, NDCG@10 = 0.11; rl (rqvae) 0.31 / 0.16
    assert _row(ratio, "SFT+RL", "rqvae")[4:] == ["1.476x", "1.455x"]
    assert "HR@10 >= 0.2730 and NDCG@10 >= 0.1430" in ratio
    valid = _section(md, "SFT and SFT+RL on the valid and the test split")
    assert _row(valid, "SFT+RL - SFT", "rqvae")[2:] == ["+0.0200", "+0.0100", "+0.0200", "+0.0100"]
    training = _section(md, "Training")
    assert "invalid completions 0; logged grad norms 0.5-2 (1 non-finite)" in training
    assert _row(training, "SFT", "rqvae")[2] == "10 of n/a"
    backbone = _section(md, "Pretrained backbone")
    assert _row(backbone, "smol")[3] == "134,515,008"
    runtime = _section(md, "Run time and memory per job")
    assert _row(runtime, "models", "prepare_base_model")[3] == "44.1"


def test_intervals_from_metrics_csv_and_comparisons_csv(tmp_path, results_dir):
    ds = results_dir / DATASET
    table = pd.read_csv(ds / "metrics.csv")
    for k in KS:
        for m in ("HR", "NDCG"):
            table[f"{m}@{k}_lo"] = table[f"{m}@{k}"] - 0.01
            table[f"{m}@{k}_hi"] = table[f"{m}@{k}"] + 0.02
    table.to_csv(ds / "metrics.csv", index=False)
    for stage, split in (("sft", "valid"), ("rl", "valid"), ("rl", "test")):
        sub = ds / "eval" / "rqvae" / stage / ("valid" if split == "valid" else "")
        _json(sub / "metrics.json", {"HR@10": 0.3, "NDCG@10": 0.15, "n": 10})
    rows = [
        ("valid", "SFT+RL - SFT", "HR", 0.0, -0.004, 0.0051),
        ("valid", "SFT+RL - SFT", "NDCG", 0.0, 0.0012, 0.0093),
        ("test", "SFT+RL / SASRec", "HR", 1.476, 1.2049, 1.81),
    ]
    pd.DataFrame(
        [
            {"split": sp, "sid_method": "rqvae", "comparison": c, "metric": m, "k": 10,
             "estimate": e, "lo": lo, "hi": hi}
            for sp, c, m, e, lo, hi in rows
        ]
    ).to_csv(ds / "comparisons.csv", index=False)  # fmt: skip
    md = _render(results_dir)
    quality = _section(md, "Recommendation quality")
    # rl (rqvae): HR@10 = 0.31, interval [0.30, 0.33]
    assert _row(quality, "SFT+RL", "rqvae")[5] == "0.3100 [0.300, 0.330]"
    assert "95% bootstrap interval" in quality
    ratio = _section(md, "Against SASRec")
    assert _row(ratio, "SFT+RL", "rqvae")[4:] == ["1.476x [1.20x, 1.81x]", "1.455x"]
    valid = _section(md, "SFT and SFT+RL on the valid and the test split")
    assert _row(valid, "SFT+RL - SFT", "rqvae")[2:4] == [
        "+0.0000 [-0.0040, +0.0051]",
        "+0.0000 [+0.0012, +0.0093]",
    ]
    assert "an interval that contains 0 is no result" in valid
    (ds / "comparisons.csv").write_text("split,k\nvalid,10\n")
    with pytest.raises(ValueError, match=r"comparisons.csv: missing column\(s\)"):
        _render(results_dir)


def test_benchmark_sections_show_each_row_and_the_notes(results_dir, tmp_path):
    sft = {
        "device": "GPU X",
        "batch_size": 128,
        "rows": [
            {"variant": "grouped", "steps_timed": 50, "samples_per_s": 300.0,
             "padded_share": 0.06},
            {"variant": "grouped+response", "steps_timed": 50, "samples_per_s": 450.0},
            {"variant": "grouped+response", "steps_timed": 369, "samples_per_s": 400.0,
             "epoch_valid_loss": 2.5, "epoch_train_loss": 2.4},
            {"variant": "grouped+response+fused", "steps_timed": 369, "samples_per_s": 500.0,
             "epoch_valid_loss": 2.5, "epoch_train_loss": 2.4},
            {"variant": "grouped+response+compile", "error": "RuntimeError('no compiler')"},
        ],
        "notes": ["measured on a shared machine"],
    }  # fmt: skip
    ev = {
        "model": "m",
        "split": "test",
        "rows": [
            {"decoder": "generate", "n": 10, "num_beams": 5, "wall_s": 8.0, "HR@10": 0.5},
            {"decoder": "prefill", "n": 10, "num_beams": 5, "wall_s": 2.0, "HR@10": 0.5},
        ],
        "speedup": 4.0,
        "ranked_lists_differing": 0,
    }
    later = {"device": "GPU Y", "rows": [
        {"variant": "grouped+response", "steps_timed": 50, "samples_per_s": 200.0},
        {"variant": "grouped+response+fused", "steps_timed": 50, "samples_per_s": 350.0},
    ]}  # fmt: skip
    (tmp_path / "sft.json").write_text(json.dumps(sft))
    (tmp_path / "later.json").write_text(json.dumps(later))
    (tmp_path / "ev.json").write_text(json.dumps(ev))
    page = rp.render_page(
        results_dir, DATASET, sft_bench=[tmp_path / "sft.json", tmp_path / "later.json"],
        eval_bench=tmp_path / "ev.json", gather=lambda: {},
    )  # fmt: skip
    # ratios within one file and one kind: over `grouped`, else over the first row
    assert "| grouped+response (first steps) | 50 | 450.0 | 1.50x |" in page
    assert "| grouped+response (one epoch) | 369 | 400.0 | 1.00x (ref) |" in page
    assert "| grouped+response+fused (one epoch) | 369 | 500.0 | 1.25x |" in page
    assert "| grouped+response+fused (first steps) | 50 | 350.0 | 1.75x |" in page
    assert page.index("GPU X") < page.index("GPU Y") < page.index("## Software")
    assert "| 2.4000 | 2.5000 |" in page
    assert "| grouped+response+compile" not in page  # the failed variant gets no row
    assert "Note: measured on a shared machine" in page
    assert "| generate | 10 | 5 | 8.0 | 0.5000 |" in page
    assert "speed-up 4.00x; ranked lists that differ: 0." in page
    (tmp_path / "bad.json").write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="bad.json: expected benchmarks/sft_throughput.py"):
        rp.render_page(results_dir, DATASET, sft_bench=tmp_path / "bad.json", gather=lambda: {})
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        rp.render_page(
            results_dir, DATASET, eval_bench=tmp_path / "nothere.json", gather=lambda: {}
        )


# ------------------------------------------------------------------ the manifest
def _strip(pattern):
    from snakemake.io import strip_wildcard_constraints

    return strip_wildcard_constraints(pattern)


def test_manifest_holds_every_benchmarked_rules_patterns(workflow):
    rules, manifest = workflow["rules"], workflow["manifest"]
    benchmarked = {name for name, r in rules.items() if r["benchmark"]}
    assert set(manifest["rules"]) == benchmarked
    assert {"train_sft", "train_rl", "evaluate_generative", "write_manifest"} <= benchmarked
    for name in benchmarked:
        entry = manifest["rules"][name]
        assert entry["benchmark"] == _strip(rules[name]["benchmark"])
        json_outputs = [_strip(o) for o in rules[name]["outputs"] if o.endswith(".json")]
        assert entry["json_outputs"] == json_outputs
    assert manifest["rules"]["write_manifest"]["json_outputs"] == [
        "results/{dataset}/manifest.json"
    ]


def _sample_wildcards(pattern):
    """Values for the wildcards of a manifest pattern that its rule's constraints accept."""
    values = {"method": "rqvae", "stage": "sft", "base": "smol"}
    return {w: values.get(w, "x") for w in re.findall(r"\{(\w+)\}", pattern) if w != "dataset"}


def _spy_reads(monkeypatch):
    """Every path opened, or checked with ``Path.is_file``, from now on."""
    seen = []
    real_open, real_path_open, real_is_file = builtins.open, Path.open, Path.is_file

    def spy_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike):
            seen.append(Path(file))
        return real_open(file, *args, **kwargs)

    def spy_path_open(self, *args, **kwargs):
        seen.append(Path(self))
        return real_path_open(self, *args, **kwargs)

    def spy_is_file(self):
        seen.append(Path(self))
        return real_is_file(self)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(Path, "open", spy_path_open)
    monkeypatch.setattr(Path, "is_file", spy_is_file)
    return seen


def _declaring_rule(rules, rel):
    """The rule that declares ``rel`` (relative to the workflow directory) as an output,
    as its benchmark file, or as a file inside one of its directory outputs."""
    from snakemake.io import regex_from_filepattern

    for name, r in rules.items():
        for pattern in r["outputs"] + [r["benchmark"]] * bool(r["benchmark"]):
            if re.match(regex_from_filepattern(pattern), rel):
                return name
        for pattern in r["directories"]:
            if re.match(regex_from_filepattern(pattern).removesuffix("$") + "/", rel):
                return name
    return None


def test_every_file_the_page_reads_is_declared_by_a_rule(results_dir, workflow, monkeypatch):
    """The page's file names against the real workflow's: renaming an output in a .smk
    file while the page still reads the old name fails here."""
    man, ds = workflow["manifest"], results_dir / DATASET
    for rule, entry in man["rules"].items():  # a benchmark file for every rule
        wildcards = _sample_wildcards(entry["benchmark"])
        _tsv(_bench(man, results_dir, rule, **wildcards), 1.0, 100.0, 1.0)
    for stage in ("sft", "rl"):
        _json(ds / "eval" / "rqvae" / stage / "valid" / "metrics.json", {"HR@10": 0.3})
    _json(ds / "eval" / "rqvae" / "rl" / "metrics.json", {"HR@10": 0.3})
    _json(ds / "rl" / "rqvae" / "history.json", {"global_step": 4, "peak_gpu_memory_mb": 9.0})
    _json(results_dir / "models" / "smol" / "genrec_base_model.json", {"name": "smol"})
    reads = _spy_reads(monkeypatch)
    page = _render(results_dir)
    monkeypatch.undo()
    assert "| rl | train_rl | rqvae |" in page and "9.0 |" in page
    rel = sorted(
        {p.relative_to(results_dir.parent).as_posix() for p in reads if results_dir in p.parents}
    )
    assert [p for p in rel if _declaring_rule(workflow["rules"], p) is None] == []
    names = {Path(p).name for p in rel}
    expected = {"metrics.csv", "metrics.json", "loss.json", "history.json", "stats.json"}
    expected |= {"sid_stats.json", "manifest.json", "genrec_base_model.json", "embed_stats.json"}
    assert expected <= names
    tsvs = {p for p in rel if p.endswith(".tsv")}
    assert len(tsvs) == len(man["rules"])
    assert f"results/{DATASET}/eval/rqvae/rl/valid/metrics.json" in rel


def test_a_renamed_json_output_reaches_the_page_through_the_manifest(results_dir, workflow):
    ds = results_dir / DATASET
    manifest = json.loads((ds / "manifest.json").read_text())
    manifest["rules"]["train_sft"]["json_outputs"] = ["results/{dataset}/sft/{method}/log.json"]
    (ds / "manifest.json").write_text(json.dumps(manifest))
    _json(ds / "sft" / "rqvae" / "log.json", {"peak_gpu_memory_mb": 777.0})
    md = _section(_render(results_dir), "Run time and memory per job")
    assert _row(md, "sft", "train_sft", "rqvae")[-1] == "777.0"  # not loss.json's 2048.2


def test_benchmark_files_are_attributed_by_pattern_and_constraints(results_dir, workflow):
    man, ds = workflow["manifest"], results_dir / DATASET
    _tsv(_bench(man, results_dir, "build_sids", method="rqvae"), 10.0, 1.0, 1.0)
    _tsv(_bench(man, results_dir, "import_sids"), 2.0, 1.0, 1.0)  # build_sids.import.tsv
    _tsv(ds / "benchmarks" / "sft" / "old_rule.rqvae.tsv", 3.0, 1.0, 1.0)
    (ds / "sid" / "rqvae" / "sid_stats.json").write_text(json.dumps({"peak_gpu_memory_mb": 512}))
    md = _section(_render(results_dir), "Run time and memory per job")
    assert _row(md, "sid", "build_sids", "rqvae")[-1] == "512.0"
    assert _row(md, "sid", "import_sids", "-")[-1] == "n/a"
    assert _row(md, "sft", "?", "-")[3] == "3.0"
    assert f"`{ds / 'benchmarks' / 'sft' / 'old_rule.rqvae.tsv'}` as its benchmark file" in md
    (ds / "manifest.json").unlink()
    md = _section(_render(results_dir), "Run time and memory per job")
    assert f"_Not available: `{ds / 'manifest.json'}` not found;" in md


def test_write_manifest_keeps_json_outputs_and_the_constraints_they_use(tmp_path):
    rules = {
        "a": {
            "benchmark": "results/{dataset}/benchmarks/a.{m}.tsv",
            "outputs": ["results/{dataset}/a/{m}/x.parquet", "results/{dataset}/a/{m}/x.json"],
            "wildcard_constraints": {"m": "p|q", "unused": "z"},
        },
        "all": {"benchmark": None, "outputs": [], "wildcard_constraints": {}},
    }
    out = rp.write_manifest(rules, "results", tmp_path / "m" / "manifest.json")
    assert json.loads(out.read_text()) == {
        "results_dir": "results",
        "rules": {
            "a": {
                "benchmark": "results/{dataset}/benchmarks/a.{m}.tsv",
                "json_outputs": ["results/{dataset}/a/{m}/x.json"],
                "wildcard_constraints": {"m": "p|q"},
            }
        },
    }
    manifest = rp.read_manifest(out)
    bench = tmp_path / "r" / "d" / "benchmarks" / "a.q.tsv"
    assert rp.match_benchmark(manifest, tmp_path / "r", "d", bench) == (
        "a",
        {"dataset": "d", "m": "q"},
    )
    assert rp.match_benchmark(manifest, tmp_path / "r", "d", bench.with_name("a.z.tsv")) is None
    assert rp.match_benchmark(manifest, tmp_path / "r", "other", bench) is None
    assert rp.json_outputs(manifest, tmp_path / "r", "a", {"dataset": "d", "m": "q"}) == [
        tmp_path / "r" / "d" / "a" / "q" / "x.json"
    ]
    (tmp_path / "bad.json").write_text(json.dumps({"rules": {}}))
    with pytest.raises(ValueError, match="bad.json: expected the workflow manifest"):
        rp.read_manifest(tmp_path / "bad.json")


def test_python_m_runs_the_command_line(results_dir, tmp_path):
    env = tmp_path / "env.json"
    _json(env, ENV)
    out = tmp_path / "page.md"
    cmd = [sys.executable, "-m", "genrec.report.results", "--results-dir", str(results_dir)]
    cmd += ["--dataset", DATASET, "--out", str(out), "--environment", str(env)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"wrote {out}\n"
    assert out.read_text() == rp.render_page(
        results_dir,
        DATASET,
        environment=ENV,
        environment_source=f"Recorded by the run, from `{env}`.",
    )


def test_rl_throughput_section_shows_every_variant_and_the_speedup(results_dir, tmp_path):
    bench = {
        "device": "GPU Z", "torch": "2.11", "policy": "random weights",
        "prompts_per_variant": 512, "warmup_steps": 2, "speedup": 7.25, "notes": ["one run"],
        "rows": [
            {"variant": "ddeec84", "prompts_per_step": 8, "completions_per_micro_step": 64,
             "gradient_accumulation_steps": 2, "group_by_length": False,
             "shared_prompt_scoring": False, "gradient_checkpointing": True,
             "prompt_mix": {"sid_next": 2000}, "steps_timed": 62, "prompts_per_s": 8.4,
             "peak_gpu_memory_mb": 3333.4, "invalid_completions": 0},
            {"variant": "config", "prompts_per_step": 64, "completions_per_micro_step": 1024,
             "gradient_accumulation_steps": 1, "group_by_length": True,
             "shared_prompt_scoring": True, "gradient_checkpointing": False,
             "prompt_mix": {"sid_next": 2000, "title_to_sid": 0}, "steps_timed": 6,
             "prompts_per_s": 60.9, "peak_gpu_memory_mb": 21000.0, "invalid_completions": 0},
        ],
    }  # fmt: skip
    (tmp_path / "rl.json").write_text(json.dumps(bench))
    page = rp.render_page(results_dir, DATASET, rl_bench=tmp_path / "rl.json", gather=lambda: {})
    assert "## GRPO training throughput" in page
    assert (
        "| ddeec84 | 8 | 64 | 2 | no | no | yes | sid_next 2,000 | 62 | 8.40 | 3,333 | 0 |" in page
    )
    assert "| config | 64 | 1,024 | 1 | yes | yes | no | sid_next 2,000 | 6 | 60.90 |" in page
    assert "Speed-up (config / ddeec84 prompts/s, same prompts): **7.25x**." in page
    assert "GPU Z" in page and "512 prompts per variant" in page
    assert "Note: one run" in page
    assert page.index("## GRPO training throughput") < page.index("## Software")
    (tmp_path / "bad.json").write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="bad.json: expected benchmarks/rl_throughput.py"):
        rp.render_page(results_dir, DATASET, rl_bench=tmp_path / "bad.json", gather=lambda: {})
