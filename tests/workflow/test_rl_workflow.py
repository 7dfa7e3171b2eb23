"""rules/rl.smk: the RL job asks for embeddings / SASRec only when their reward is on."""

from __future__ import annotations

from pathlib import Path

import pytest

TARGET = "results/demo/rl/rqvae/history.json"


def _missing_inputs(tmp_path: Path, semantic: float, cf: float, wrapper_workflow, snakemake) -> str:
    """Dry-run the RL target alone (no producer rules): Snakemake lists its missing inputs."""
    wrapper_workflow(tmp_path, rules=("rl",))
    (tmp_path / "override.yaml").write_text(
        f"rl:\n  rewards:\n    semantic: {semantic}\n    cf: {cf}\n"
    )
    proc = snakemake(
        tmp_path, "-n", "--configfile", "override.yaml", "--", TARGET, cores=1, check=False
    )
    assert proc.returncode != 0, proc.stdout
    return proc.output


@pytest.mark.slow
@pytest.mark.parametrize("semantic,cf", [(0.5, 0.0), (0.0, 0.5)])
def test_reward_inputs_follow_weights(tmp_path, semantic, cf, wrapper_workflow, snakemake):
    out = _missing_inputs(tmp_path, semantic, cf, wrapper_workflow, snakemake)
    assert "MissingInputException" in out
    assert "results/demo/sft/rqvae/model" in out
    assert "results/demo/data/train.parquet" in out
    assert ("results/demo/embed/embeddings.npy" in out) == bool(semantic)
    assert ("results/demo/baselines/sasrec/model.pt" in out) == bool(cf)
    assert ("sasrec_config.json" in out) == bool(cf)
    assert "valid.parquet" not in out and "test.parquet" not in out
