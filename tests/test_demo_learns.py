"""The generative recommender learns on a reduced demo: it reads the history and beats
popularity (the demo's own pipeline functions, end to end, on CPU in about a minute)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml
from outputs_helpers import stage_outputs

from genrec.baselines.params import PopularityParams
from genrec.config import validate_config
from genrec.data.params import DataParams
from genrec.embed.params import EmbedParams
from genrec.eval.params import EvalParams
from genrec.lm.params import LmParams
from genrec.sft.params import SftDataParams, SftTrainParams
from genrec.sid.params import SidParams


@pytest.fixture(scope="module")
def reduced_demo(tmp_path_factory, repo_root):
    from genrec.baselines.popularity import run as popularity
    from genrec.data.pipeline import OUTPUTS, prepare
    from genrec.data.synthetic import write_synthetic
    from genrec.embed.encode import embed_items
    from genrec.eval.generative import evaluate
    from genrec.sft.dataset import build_sft_datasets
    from genrec.sft.train import train_sft
    from genrec.sid.build import OUTPUTS as SID_OUTPUTS
    from genrec.sid.build import build_sids

    torch.set_num_threads(2)
    cfg = validate_config(
        yaml.safe_load((repo_root / "config" / "config.yaml").read_text()),
        repo_root / "config" / "schema.yaml",
    )
    d = tmp_path_factory.mktemp("reduced_demo")
    syn = {**cfg["datasets"]["demo"]["synthetic"], "n_users": 500, "n_items": 120}
    syn.update(n_categories=4, n_brands=8)
    write_synthetic(d / "r.json.gz", d / "m.json.gz", **syn)
    data = stage_outputs(d / "data", OUTPUTS)
    data_params = DataParams.from_config(cfg, "demo").replace(user_k=3, item_k=3)
    prepare(d / "r.json.gz", d / "m.json.gz", data_params, data)
    items = data["items_parquet"]
    embed_items(items, d / "emb.npy", d / "emb.json", EmbedParams.from_config(cfg))
    sid = stage_outputs(d / "sid", SID_OUTPUTS)
    sid_params = SidParams.from_config(cfg, "rqkmeans").replace(codebook_sizes=(8, 8), seed=0)
    build_sids(d / "emb.npy", items, sid_params, sid)
    sft = copy.deepcopy(cfg["sft"])
    sft["tasks"]["sid_next"]["max_samples"] = None
    sft.update(max_valid_samples=200, max_steps=None, eval_steps=None, early_stopping_patience=0)
    sft["seed"] = 0
    build_sft_datasets(
        data["train"],
        data["valid"],
        items,
        sid["sids"],
        d / "sft_data",
        SftDataParams.from_section(sft),
    )
    train_sft(
        d / "sft_data",
        sid["sids"],
        d / "model",
        d / "loss.json",
        d / "loss.png",
        d / "ckpt",
        SftTrainParams.from_section(sft, lm=LmParams.from_config(cfg)),
    )
    ev = EvalParams.from_config(cfg).replace(ks=(10,), num_beams=10, dtype="float32")
    gen = evaluate(
        d / "model",
        sid["sids"],
        data["test"],
        d / "pred.parquet",
        d / "gen.json",
        ev,
        "sft",
        "rqkmeans",
    )
    pop = popularity(
        data["train"],
        data["test"],
        items,
        d / "pop.parquet",
        d / "pop.json",
        PopularityParams.from_config(cfg),
        [10],
    )
    return d, data, sid, gen, pop


def test_generative_model_beats_popularity_on_the_reduced_demo(reduced_demo):
    *_, gen, pop = reduced_demo
    assert gen["invalid"] == 0
    assert gen["HR@10"] > pop["HR@10"], (gen["HR@10"], pop["HR@10"])
    assert gen["top1_share"] < 0.5  # not one answer for everybody


def test_generative_model_reads_the_history(reduced_demo):
    from genrec.eval.probe import history_probe

    d, data, sid, _, _ = reduced_demo
    probe = history_probe(d / "model", sid["sids"], data["valid"], n=120)
    level1 = probe["levels"][0]
    assert level1["gap"] > 0.05, json.dumps(probe)  # shuffled histories cost likelihood
