"""rules/rl.smk: the RL job asks for embeddings / SASRec only when their reward is on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TARGET = "results/demo/rl/rqvae/history.json"


def _missing_inputs(tmp_path: Path, semantic: float, cf: float) -> str:
    """Dry-run the RL target alone (no producer rules): Snakemake lists its missing inputs."""
    (tmp_path / "config").symlink_to(REPO / "config")
    (tmp_path / "Snakefile").write_text(
        f'configfile: "{REPO}/config/config.yaml"\n\n'
        f'include: "{REPO}/rules/common.smk"\n'
        f'include: "{REPO}/rules/rl.smk"\n'
    )
    (tmp_path / "override.yaml").write_text(
        f"rl:\n  rewards:\n    semantic: {semantic}\n    cf: {cf}\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--cores",
            "1",
            "--configfile",
            "override.yaml",
            "--",
            TARGET,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0, proc.stdout
    return proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("semantic,cf", [(0.5, 0.0), (0.0, 0.5)])
def test_reward_inputs_follow_weights(tmp_path, semantic, cf):
    out = _missing_inputs(tmp_path, semantic, cf)
    assert "MissingInputException" in out
    assert "results/demo/sft/rqvae/model" in out
    assert "results/demo/data/train.parquet" in out
    assert ("results/demo/embed/embeddings.npy" in out) == bool(semantic)
    assert ("results/demo/baselines/sasrec/model.pt" in out) == bool(cf)
    assert ("sasrec_config.json" in out) == bool(cf)
    assert "valid.parquet" not in out and "test.parquet" not in out
