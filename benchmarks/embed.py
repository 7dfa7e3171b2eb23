"""Embedding throughput (items/s) of the configured encoder on synthetic item texts.

OMP_NUM_THREADS=2 python benchmarks/embed.py --n 2000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from genrec.embed.encode import encode_texts, resolve_encoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="number of item texts")
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    words = "drill glove pipette steel bolt sensor cable tape valve pump filter lab safety".split()
    texts = [" ".join(rng.choice(words, size=rng.integers(5, 60))) for _ in range(args.n)]
    model = resolve_encoder(args.encoder)
    encode_texts(texts[:8], model, device=device, dtype=args.dtype)  # warm-up / load
    t0 = time.perf_counter()
    emb, _ = encode_texts(
        texts,
        model,
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=device,
        dtype=args.dtype,
    )
    dt = time.perf_counter() - t0
    print(f"encoder={model} device={device} dtype={args.dtype} n={args.n} dim={emb.shape[1]}")
    print(f"{args.n / dt:.1f} items/s ({dt:.1f} s)")


if __name__ == "__main__":
    main()
