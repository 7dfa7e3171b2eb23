"""The data stage through Snakemake: DAG, end-to-end run, rerun on params change, no-op rerun."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from data_helpers import DATA_FILES

DATA_TARGETS = [f"results/demo/data/{name}" for name in DATA_FILES]


@pytest.fixture(scope="module")
def snakefile(repo_root) -> Path:
    return repo_root / "Snakefile"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, repo_root) -> Path:
    d = tmp_path_factory.mktemp("wf_data")
    shutil.copy(repo_root / "config" / "config.yaml", d / "config.yaml")
    return d


@pytest.fixture
def smk(snakemake):
    """``smk(snakefile, workdir, *args)``: the output of snakemake on the data targets."""

    def run(snakefile, workdir, *args):
        # --configfile takes several files: the option after it ends the list
        config = ["--configfile", str(workdir / "config.yaml")]
        return snakemake(workdir, *config, "-s", str(snakefile), *args, *DATA_TARGETS).output

    return run


@pytest.mark.slow
def test_data_stage_workflow(snakefile, workdir, smk):
    dry = smk(snakefile, workdir, "-n")
    assert "synthetic_data" in dry and "prepare_data" in dry

    smk(snakefile, workdir)
    for t in DATA_TARGETS:
        assert (workdir / t).exists(), t
    assert (workdir / "resources/demo/demo_5.json.gz").exists()
    assert (workdir / "results/demo/logs/data/prepare_data.log").read_text()
    assert (workdir / "results/demo/benchmarks/data/prepare_data.tsv").exists()
    train = pd.read_parquet(workdir / "results/demo/data/train.parquet")
    assert len(train) > 5000

    assert "Nothing to be done" in smk(snakefile, workdir, "-n")
    # the same config with its keys reordered (safe_dump sorts them) changes nothing either
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=True))
    assert "Nothing to be done" in smk(snakefile, workdir, "-n")

    cfg["data"]["user_k"] = cfg["data"]["user_k"] + 1
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    dry = smk(snakefile, workdir, "-n")
    assert "rule prepare_data" in dry and "params have changed" in dry
    assert "rule synthetic_data" not in dry  # the raw demo data does not depend on user_k
