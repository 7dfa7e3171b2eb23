import json

import pandas as pd
import pytest
import torch
from outputs_helpers import stage_outputs
from sasrec_helpers import TINY_SASREC

from genrec.baselines.params import SasrecParams
from genrec.baselines.sasrec import (
    SASRec,
    SASRecConfig,
    SASRecScorer,
    pad_histories,
    train_and_evaluate,
)
from genrec.baselines.sasrec.stage import OUTPUTS
from genrec.schema import schema_defaults

KS = [1, 5, 10, 20]


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    p = tiny_data["paths"]
    out = stage_outputs(tmp_path_factory.mktemp("sasrec"), OUTPUTS)
    metrics = train_and_evaluate(
        p["train"], p["valid"], p["test"], p["items"], out, TINY_SASREC, KS, threads=1
    )
    return out, metrics


def test_outputs_follow_the_contract(trained, tiny_data):
    out, metrics = trained
    for name in ("model", "config", "curve", "curve_png"):
        assert out[name].stat().st_size > 0, name
    assert out["curve_png"].read_bytes()[:4] == b"\x89PNG"
    assert json.loads(out["metrics"].read_text()) == metrics
    assert metrics["model"] == "sasrec" and metrics["sid_method"] is None
    assert metrics["n"] == len(tiny_data["splits"]["test"]) and metrics["invalid"] == 0
    assert {f"{m}@{k}" for m in ("HR", "NDCG") for k in KS} <= set(metrics)
    preds = pd.read_parquet(out["predictions"])
    assert preds["target"].tolist() == tiny_data["splits"]["test"]["target"].tolist()
    assert all(len(p) == max(KS) and len(set(p)) == max(KS) for p in preds["predictions"])
    curve = json.loads(out["curve"].read_text())
    assert 1 <= len(curve) <= TINY_SASREC.max_epochs
    assert {"epoch", "train_loss", "valid_NDCG@10", "valid_HR@10"} <= set(curve[0])


def test_scorer_api_shapes_and_consistency(trained, tiny_data):
    out, _ = trained
    scorer = SASRecScorer.load(out["model"], out["config"], "cpu")
    histories = [[1, 2, 3], [7], [5, 9, 13, 17, 21, 25, 29, 33, 37, 1]]  # last one > max_len
    cands = torch.tensor([[4, 5, -1, 0], [8, 8, 39, 40], [2, 3, 4, 5]])
    s = scorer.score(histories, cands)
    assert s.shape == (3, 4) and s.dtype == torch.float32
    assert s[0, 2] == float("-inf") and s[1, 3] == float("-inf")  # -1 and n_items are invalid
    assert s[1, 0] == s[1, 1]
    # numpy candidates (as the RL reward passes them) give the same scores
    assert torch.equal(scorer.score(histories, cands.numpy()), s)
    lp = scorer.score(histories, cands, kind="logprob", invalid_score=0.0)
    assert (lp[torch.isfinite(s)] < 0).all() and lp[0, 2] == 0.0

    values, items = scorer.topk(histories, k=5)
    assert values.shape == (3, 5) and items.shape == (3, 5) and items.dtype == torch.long
    assert (values[:, :-1] >= values[:, 1:]).all()
    assert torch.allclose(scorer.score(histories, items), values)
    # the topk is the best over all items
    assert torch.allclose(values[:, 0], scorer.all_scores(histories).max(dim=1).values)


def test_scores_do_not_depend_on_batch_or_old_items(trained):
    out, _ = trained
    scorer = SASRecScorer.load(out["model"], out["config"])
    long = list(range(20))
    cands = torch.arange(10).unsqueeze(0)
    alone = scorer.score([[3, 4]], cands)
    batched = scorer.score([[3, 4], long], cands.repeat(2, 1))
    assert torch.allclose(alone[0], batched[0], atol=1e-5)
    # only the max_len most recent items count
    assert torch.allclose(scorer.score([long], cands), scorer.score([long[-8:]], cands), atol=1e-5)


def test_same_seed_same_model(trained, tiny_data, tmp_path):
    out, metrics = trained
    p = tiny_data["paths"]
    outputs = stage_outputs(tmp_path, OUTPUTS)
    again = train_and_evaluate(
        p["train"], p["valid"], p["test"], p["items"], outputs, TINY_SASREC, KS, threads=1
    )
    assert again == metrics
    a = torch.load(out["model"])
    b = torch.load(outputs["model"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_padding_and_validation():
    assert pad_histories([[4, 5], [1, 2, 3, 6]], 3).tolist() == [[0, 5, 6], [3, 4, 7]]
    with pytest.raises(ValueError, match="history 1 is empty"):
        pad_histories([[1], []], 3)
    with pytest.raises(ValueError, match="divisible"):
        SASRecConfig(n_items=5, max_len=3, hidden_size=10, num_heads=3)


def test_load_rejects_mismatched_config(trained, tmp_path):
    out, _ = trained
    cfg = json.loads(out["config"].read_text())
    cfg["n_items"] += 1
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not match"):
        SASRecScorer.load(out["model"], tmp_path / "c.json")


def test_param_resolution():
    section = schema_defaults("baselines.sasrec", seed=11, lr=0.1)
    assert section["max_len"] is None and section["device"] == "auto"
    p = SasrecParams.from_section(section, max_history=7, gpus=0)
    rest = {k: v for k, v in section.items() if k not in ("enabled", "max_len", "device")}
    assert p.to_dict() == {**rest, "max_len": 7, "seed": 11, "device": "cpu", "lr": 0.1}
    assert SasrecParams.defaults(max_history=7, gpus=0, seed=11, lr=0.1) == p
    assert SasrecParams.from_section(section, 7, gpus=1).device == "cuda"
    assert SasrecParams.from_section({**section, "max_len": 3, "seed": 2}, 7).max_len == 3
    with pytest.raises(ValueError, match="seed is null"):
        SasrecParams.from_section({**section, "seed": None}, 7)


def test_section_seeds_fall_back_to_the_top_level_seed_once(repo_root):
    """One place resolves `seed: null` (genrec.config.resolve_seeds), at validation."""
    import yaml

    from genrec.config import validate_config

    cfg = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    cfg["seed"] = 5
    cfg["rl"]["seed"] = 9
    cfg = validate_config(cfg, repo_root / "config" / "schema.yaml")
    assert [cfg["sid"]["seed"], cfg["sft"]["seed"], cfg["rl"]["seed"]] == [5, 5, 9]
    assert cfg["baselines"]["sasrec"]["seed"] == 5


def test_padded_positions_are_ignored():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(n_items=12, max_len=6, hidden_size=8, num_heads=2)).eval()
    seqs = pad_histories([[3, 4], [1, 2, 3, 4, 5, 6]], 6)
    ref = model(seqs)
    assert torch.isfinite(ref).all()
    # whatever the padding embedding holds, padded slots neither add input nor act as keys
    with torch.no_grad():
        model.item_emb.weight[0] = torch.randn(8) * 10
    assert torch.allclose(model(seqs), ref, atol=1e-5)


@pytest.mark.gpu
def test_sasrec_trains_and_scores_on_cuda(tiny_data, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    p = tiny_data["paths"]
    params = TINY_SASREC.replace(device="cuda")
    out = stage_outputs(tmp_path, OUTPUTS)
    m = train_and_evaluate(p["train"], p["valid"], p["test"], p["items"], out, params, KS)
    assert 0.0 <= m["NDCG@10"] <= 1.0
    scorer = SASRecScorer.load(out["model"], out["config"], "cuda")
    cands = torch.tensor([[1, 2, -1]], device="cuda")
    s = scorer.score([[1, 2]], cands)
    assert s.device.type == "cuda" and s.shape == (1, 3) and s[0, 2] == float("-inf")
    cpu = SASRecScorer.load(out["model"], out["config"], "cpu")
    assert torch.allclose(cpu.score([[1, 2]], cands.cpu())[0, :2], s.cpu()[0, :2], atol=1e-4)
