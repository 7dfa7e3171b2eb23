"""SID methods: uniqueness (also on adversarial input), determinism, RQ-VAE learning."""

import json

import numpy as np
import pandas as pd
import pytest
from outputs_helpers import stage_outputs
from sid_helpers import items_table
from sklearn.metrics import homogeneity_score

from genrec.sid.build import OUTPUTS, build_sids, load_codebooks
from genrec.sid.params import RQKMeansPlusOptions, RQVAEOptions, SidParams
from genrec.sid.rqvae import train_rqvae

SIZES = [8, 8, 8]
# the `sid` section: schema defaults with small sizes
SID = dict(
    codebook_sizes=SIZES,
    seed=3,
    rqkmeans={"niter": 10},
    rqkmeans_balanced={"niter": 10, "backend": "greedy"},
    rqvae={"hidden_dims": [32], "latent_dim": 8, "epochs": 20, "batch_size": 64, "eval_every": 5},
    rqkmeans_plus={"hidden_dims": [32], "epochs": 10, "batch_size": 64, "eval_every": 5},
)


def sid_params(method, **overrides):
    """One method's parameters from :data:`SID` (with ``overrides`` on the section)."""
    return SidParams.defaults(method, **{**SID, **overrides})


def clustered(n=240, d=24, k=4, seed=0, noise=0.15):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * 3
    labels = rng.integers(0, k, n)
    x = centers[labels] + noise * rng.normal(size=(n, d))
    return x.astype(np.float32), labels


def write_items(path, n):
    items_table(n).to_parquet(path)


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory):
    """Clustered embeddings where 60 items share one identical vector."""
    root = tmp_path_factory.mktemp("adv")
    x, _ = clustered()
    x[:60] = x[0]
    np.save(root / "emb.npy", x)
    write_items(root / "items.parquet", len(x))
    return root


def balanced_codebooks(root):
    """The codebooks of ``root``'s rqkmeans_balanced SIDs (rqkmeans_plus starts from them)."""
    return stage_outputs(root / "rqkmeans_balanced", OUTPUTS)["codebooks"]


def run(root, method, out):
    books = balanced_codebooks(root) if method == "rqkmeans_plus" else None
    return build_sids(
        root / "emb.npy",
        root / "items.parquet",
        sid_params(method),
        stage_outputs(out, OUTPUTS),
        init_codebooks=books,
    )


@pytest.mark.parametrize("method", ["rqkmeans", "rqkmeans_balanced", "rqvae", "rqkmeans_plus"])
def test_every_method_gives_unique_sids_on_duplicate_embeddings(adversarial, method):
    if method == "rqkmeans_plus" and not (adversarial / "rqkmeans_balanced").exists():
        run(adversarial, "rqkmeans_balanced", adversarial / "rqkmeans_balanced")
    out = stage_outputs(adversarial / method, OUTPUTS)
    df = run(adversarial, method, adversarial / method)
    assert df["sid"].is_unique and len(df) == 240
    stats = json.loads(out["stats"].read_text())
    assert stats["unique_sid_ratio"] == 1.0
    # 60 identical vectors must collide before resolution: more than one code level can fix
    assert stats["collision_rate_before"] >= 59 / 240
    assert stats["n_extra_level"] > 0 and stats["max_sid_length"] == 4
    # SIDs are prefix-free: no SID is the start of another one
    sids = sorted(df["sid"])
    assert not any(b.startswith(a) for a, b in zip(sids, sids[1:], strict=False))
    # files the report and downstream stages read
    saved = pd.read_parquet(out["sids"])
    assert saved["sid"].tolist() == df["sid"].tolist()
    assert all(s == "".join(t) for s, t in zip(saved["sid"], saved["tokens"], strict=True))
    index = json.loads(out["index"].read_text())
    assert index["5"] == list(saved.loc[5, "tokens"])
    assert out["usage"].read_bytes()[:4] == b"\x89PNG"
    assert len(load_codebooks(out["codebooks"])) == 3
    assert [lv["size"] for lv in stats["levels"][:3]] == SIZES
    assert stats["reconstruction_mse"] >= 0


def test_balanced_codes_fill_the_first_level_evenly(adversarial):
    df = run(adversarial, "rqkmeans_balanced", adversarial / "bal2")
    counts = np.bincount([c[0] for c in df["codes"]], minlength=8)
    assert counts.max() - counts.min() <= 1


def test_same_seed_same_sids(tmp_path):
    x, _ = clustered(n=150, seed=5)
    np.save(tmp_path / "emb.npy", x)
    write_items(tmp_path / "items.parquet", len(x))
    for method in ("rqkmeans", "rqkmeans_balanced", "rqvae"):
        a = run(tmp_path, method, tmp_path / f"{method}_a")
        b = run(tmp_path, method, tmp_path / f"{method}_b")
        assert a["sid"].tolist() == b["sid"].tolist(), method
    other = build_sids(
        tmp_path / "emb.npy",
        tmp_path / "items.parquet",
        sid_params("rqvae", seed=4),
        stage_outputs(tmp_path / "rqvae_c", OUTPUTS),
    )
    assert other["sid"].tolist() != a["sid"].tolist()


def test_rqvae_loss_decreases_and_level1_recovers_clusters():
    x, labels = clustered(n=400, d=32, k=4, seed=1)
    params = RQVAEOptions.defaults(
        hidden_dims=[64], latent_dim=8, epochs=40, batch_size=64, eval_every=10
    )
    res = train_rqvae(x, [8, 4, 4], params, seed=0)
    hist = res["history"]
    assert hist[-1] < 0.5 * hist[0]
    # each level-1 code should hold (almost) one cluster; shuffled codes score ~0
    chance = homogeneity_score(labels, np.random.default_rng(0).permutation(res["codes"][:, 0]))
    assert chance < 0.1
    assert homogeneity_score(labels, res["codes"][:, 0]) > 0.8
    assert res["best"]["epoch"] > 0


def test_rqkmeans_plus_starts_from_the_balanced_codebooks(adversarial):
    """Zero-initialised residual MLPs: with no training the codes are the nearest codebook entries."""
    x = np.load(adversarial / "emb.npy")
    balanced = balanced_codebooks(adversarial)
    if not balanced.exists():
        run(adversarial, "rqkmeans_balanced", adversarial / "rqkmeans_balanced")
    books = load_codebooks(balanced)
    plus = RQKMeansPlusOptions.defaults(hidden_dims=[16], epochs=0)
    res = train_rqvae(x, SIZES, plus, seed=0, residual=True, init_codebooks=books)
    resid = x.copy()
    for level, book in enumerate(books):
        d = ((resid[:, None, :] - book[None]) ** 2).sum(-1)
        np.testing.assert_array_equal(res["codes"][:, level], d.argmin(1))
        resid = resid - book[d.argmin(1)]
    with pytest.raises(ValueError, match="shape"):
        train_rqvae(x, [4, 4, 4], plus, seed=0, residual=True, init_codebooks=books)
    with pytest.raises(ValueError, match="starts from init_codebooks"):
        train_rqvae(x, SIZES, plus, seed=0, residual=True)


def test_bad_embeddings_name_the_items(tmp_path):
    x, _ = clustered(n=50)
    x[7, 3] = np.nan
    np.save(tmp_path / "emb.npy", x)
    write_items(tmp_path / "items.parquet", 50)
    params, outputs = sid_params("rqkmeans"), stage_outputs(tmp_path / "o", OUTPUTS)
    with pytest.raises(ValueError, match=r"item_id \[7\]"):
        build_sids(tmp_path / "emb.npy", tmp_path / "items.parquet", params, outputs)
    write_items(tmp_path / "items.parquet", 49)
    with pytest.raises(ValueError, match="does not match 49 items"):
        build_sids(tmp_path / "emb.npy", tmp_path / "items.parquet", params, outputs)


def test_sinkhorn_last_level_spreads_items_over_codes():
    import torch

    from genrec.sid.rqvae import sinkhorn_codes

    # every item is nearest to code 0; Sinkhorn still uses all codes about equally
    dist = torch.tensor([[0.0, 1.0, 1.1, 1.2]] * 40) + 0.01 * torch.rand(40, 4)
    codes = sinkhorn_codes(dist, epsilon=0.01, iters=100)
    assert torch.bincount(codes, minlength=4).min() >= 8
    x, _ = clustered(n=200, d=16, seed=2)
    params = RQVAEOptions.defaults(hidden_dims=[16], epochs=3)
    plain = train_rqvae(x, [4, 4, 4], params, seed=0)
    sk = train_rqvae(x, [4, 4, 4], params.replace(sinkhorn_epsilon=0.01), seed=0)
    used = lambda r: len(set(r["codes"][:, 2].tolist()))  # noqa: E731
    assert used(sk) >= used(plain) and used(sk) == 4
