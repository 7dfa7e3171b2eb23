"""RQ-VAE / RQ-Kmeans+ training on a CUDA GPU (the CPU paths are tested in test_sid_methods)."""

import numpy as np
import pytest

from genrec.sid.collisions import resolve_collisions
from genrec.sid.params import RQKMeansPlusOptions, RQVAEOptions
from genrec.sid.rqvae import train_rqvae

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _need_cuda():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


def clustered(n=400, d=32, k=4, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    x = rng.normal(size=(k, d))[labels] * 3 + 0.15 * rng.normal(size=(n, d))
    return x.astype(np.float32), labels


def test_rqvae_on_gpu_matches_cpu_and_yields_unique_sids():
    x, _ = clustered()
    # no k-means init: faiss is not needed on the GPU host
    params = RQVAEOptions.defaults(
        hidden_dims=[64], latent_dim=8, epochs=5, batch_size=64, kmeans_init=False
    )
    gpu = train_rqvae(x, [4, 4, 4], params, seed=0, device="cuda")
    cpu = train_rqvae(x, [4, 4, 4], params, seed=0, device="cpu")
    # same seed, same data order: the first epoch's loss agrees up to float noise
    assert abs(gpu["history"][0] - cpu["history"][0]) < 0.02 * cpu["history"][0]
    assert np.isfinite(gpu["history"]).all() and gpu["codes"].shape == (400, 3)
    rows, _ = resolve_collisions(gpu["codes"], gpu["last_residual"], gpu["codebooks"][-1])
    assert len({tuple(r) for r in rows}) == 400


def test_rqkmeans_plus_on_gpu_starts_at_given_codebooks():
    x, _ = clustered()
    books = [np.random.default_rng(i).normal(size=(4, 32)).astype(np.float32) for i in range(3)]
    plus = RQKMeansPlusOptions.defaults(epochs=0)
    res = train_rqvae(
        x, [4, 4, 4], plus, seed=0, device="cuda", residual=True, init_codebooks=books
    )
    first = ((x[:, None, :] - books[0][None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(res["codes"][:, 0], first)
