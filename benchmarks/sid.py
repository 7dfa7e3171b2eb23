"""SID construction time and collision rate (before resolution) per method on random vectors.

OMP_NUM_THREADS=2 python benchmarks/sid.py --n 100000 --dim 384
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from genrec.sid.build import QUANTIZERS, quantize
from genrec.sid.collisions import collision_rate, resolve_collisions
from genrec.sid.params import SidParams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="number of vectors")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 256, 256])
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["rqkmeans", "rqkmeans_balanced", "rqvae", "rqkmeans_plus"],
    )
    ap.add_argument("--epochs", type=int, default=20, help="RQ-VAE / RQ-Kmeans+ epochs")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        import faiss
        import torch

        faiss.omp_set_num_threads(args.threads)
        torch.set_num_threads(args.threads)

    x = np.random.default_rng(0).normal(size=(args.n, args.dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    trainer = {"epochs": args.epochs, "batch_size": 4096, "eval_every": max(args.epochs // 2, 1)}
    sections = {  # the `sid` section, completed by the schema as the workflow does
        "codebook_sizes": args.sizes,
        "seed": 0,
        "rqkmeans": {"niter": 20},
        "rqkmeans_balanced": {"niter": 20, "backend": "greedy"},
        "rqvae": {**trainer, "hidden_dims": [512, 256, 128], "latent_dim": 32},
        "rqkmeans_plus": {**trainer, "hidden_dims": [512], "lr": 1e-4},
    }
    params = {m: SidParams.defaults(m, **sections) for m in QUANTIZERS}
    print(f"n={args.n} dim={args.dim} codebooks={args.sizes}")
    print(f"{'method':<20}{'build s':>10}{'resolve s':>11}{'collision':>11}{'extra lvl':>11}")
    books = None
    for method in args.methods:
        if method == "rqkmeans_plus" and books is None:
            books = quantize(x, params["rqkmeans_balanced"])["codebooks"]
        t0 = time.perf_counter()
        res = quantize(x, params[method], init_codebooks=books)
        t1 = time.perf_counter()
        _, info = resolve_collisions(res["codes"], res["last_residual"], res["codebooks"][-1])
        t2 = time.perf_counter()
        if method == "rqkmeans_balanced":
            books = res["codebooks"]
        print(
            f"{method:<20}{t1 - t0:>10.1f}{t2 - t1:>11.1f}"
            f"{collision_rate(res['codes']):>11.4f}{info['n_extra_level']:>11d}",
            flush=True,
        )


if __name__ == "__main__":
    main()
