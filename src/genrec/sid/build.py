"""SID stage entry point: embeddings -> codes -> unique SIDs + index, stats and plot."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from genrec.distributed import peak_gpu_memory_mb, pick_device
from genrec.io import atomic_path, require_outputs, write_json, write_parquet
from genrec.sid.collisions import collision_rate, resolve_collisions
from genrec.sid.kmeans import residual_kmeans
from genrec.sid.minionerec import index_dict, read_index_json
from genrec.sid.params import SidParams
from genrec.sid.stats import level_stats, plot_code_usage
from genrec.sid.tokens import codes_to_tokens

log = logging.getLogger(__name__)

QUANTIZERS = ("rqvae", "rqkmeans", "rqkmeans_balanced", "rqkmeans_plus")
METHODS = (*QUANTIZERS, "import")


def sids_frame(rows: Sequence[Sequence[int]]) -> pd.DataFrame:
    """``sids.parquet`` table (docs/design.md) from per-item code lists (row i = item_id i)."""
    tokens = [codes_to_tokens(r) for r in rows]
    return pd.DataFrame(
        {
            "item_id": np.arange(len(rows), dtype=np.int64),
            "codes": [list(map(int, r)) for r in rows],
            "tokens": tokens,
            "sid": ["".join(t) for t in tokens],
        }
    )


def load_codebooks(path: str | Path) -> list[np.ndarray]:
    """Codebooks saved by :func:`build_sids` (``codebooks.npz``, one array per level)."""
    with np.load(path) as z:
        return [z[f"level_{i}"] for i in range(len(z.files))]


def _load_embeddings(path: str | Path, n_items: int) -> np.ndarray:
    x = np.load(path)
    if x.ndim != 2 or len(x) != n_items:
        raise ValueError(f"{path}: shape {x.shape} does not match {n_items} items")
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    if bad.size:
        raise ValueError(f"{path}: non-finite embeddings for item_id {bad[:20].tolist()}")
    return x.astype(np.float32)


def quantize(
    x: np.ndarray,
    params: SidParams,
    device: str = "cpu",
    init_codebooks: Sequence[np.ndarray] | None = None,
) -> dict:
    """Run one quantiser; returns codes, codebooks, last-level residuals, reconstruction, extras.

    ``params``: the method, ``codebook_sizes``, ``seed`` and the method's ``options``.
    """
    method, sizes, seed, mp = (
        params.method,
        list(params.codebook_sizes),
        params.seed,
        params.options,
    )
    if method == "rqkmeans":
        return residual_kmeans(x, sizes, balanced=False, niter=mp.niter, seed=seed)
    if method == "rqkmeans_balanced":
        return residual_kmeans(
            x, sizes, balanced=True, niter=mp.niter, seed=seed, backend=mp.backend
        )
    from genrec.sid.rqvae import train_rqvae

    if method == "rqvae":
        return train_rqvae(x, sizes, mp, seed, device=device)
    if method == "rqkmeans_plus":
        if init_codebooks is None:
            raise ValueError("rqkmeans_plus needs the rqkmeans_balanced codebooks (init_codebooks)")
        return train_rqvae(
            x, sizes, mp, seed, device=device, residual=True, init_codebooks=init_codebooks
        )
    raise ValueError(f"unknown SID method {method!r} (choose from {', '.join(METHODS)})")


OUTPUTS = ("sids", "index", "stats", "codebooks", "usage")


def build_sids(
    embeddings: str | Path | None,
    items: str | Path,
    params: SidParams,
    outputs: Mapping[str, str | Path],
    num_gpus: int = 0,
    init_codebooks: str | Path | None = None,
    index_json: str | Path | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Build unique SIDs for every item with ``params.method`` and write ``outputs``.

    ``outputs`` maps ``sids`` (parquet), ``index`` (MiniOneRec index.json), ``stats``
    (JSON), ``usage`` (plot) and, for the quantisers, ``codebooks`` (npz) to paths
    (the rule declares the file names). ``params``: :class:`~genrec.sid.params.SidParams`
    (outside the workflow ``SidParams.defaults(method, **overrides)``). Method ``import``
    reads ``index_json`` instead of embeddings.
    """
    method = params.method
    needed = [k for k in OUTPUTS if k != "codebooks" or method != "import"]
    outputs = require_outputs(outputs, needed, "build_sids")
    if threads:
        import faiss
        import torch

        faiss.omp_set_num_threads(int(threads))
        torch.set_num_threads(int(threads))
    items_df = pd.read_parquet(items)
    n = len(items_df)
    if not np.array_equal(items_df["item_id"].to_numpy(), np.arange(n)):
        raise ValueError(f"{items}: item_id must be the row index 0..N-1")
    t0 = time.perf_counter()
    extras: dict = {}
    sizes: list[int] | None = list(params.codebook_sizes)
    if method == "import":
        imp = params.options
        path = index_json
        if not path:
            raise ValueError("sid.import.index_json: no index.json given for method 'import'")
        raw_rows = read_index_json(path, items_df, imp.keys, imp.id_map)
        before = collision_rate(raw_rows)
        depths = {len(r) for r in raw_rows}
        sizes = None
        if len(depths) == 1:
            rows, info = resolve_collisions(np.array(raw_rows))
        else:
            from genrec.sid.collisions import add_disambiguation_level

            rows, n_extra = add_disambiguation_level(raw_rows)
            info = {"n_reassigned": 0, "n_extra_level": n_extra}
        extras["source"] = str(path)
        result = None
    else:
        if embeddings is None:
            raise ValueError(f"SID method {method!r} needs embeddings")
        x = _load_embeddings(embeddings, n)
        books = load_codebooks(init_codebooks) if init_codebooks else None
        result = quantize(x, params, pick_device(num_gpus), books)
        before = collision_rate(result["codes"])
        rows, info = resolve_collisions(
            result["codes"], result["last_residual"], result["codebooks"][-1]
        )
        extras["reconstruction_mse"] = float(((result["reconstruction"] - x) ** 2).mean())
        if "history" in result:
            extras["train_loss"] = [round(v, 6) for v in result["history"]]
            extras["best_checkpoint"] = result["best"]
    seconds = time.perf_counter() - t0
    df = sids_frame(rows)
    unique_ratio = df["sid"].nunique() / max(n, 1)
    if unique_ratio != 1.0:  # pragma: no cover - resolve_collisions guarantees it
        raise RuntimeError(f"SIDs of method {method!r} are not unique")
    stats = {
        "method": method,
        "n_items": n,
        "codebook_sizes": sizes,
        "seed": int(params.seed),
        "collision_rate_before": before,
        "unique_sid_ratio": unique_ratio,
        **info,
        "max_sid_length": int(df["codes"].map(len).max()) if n else 0,
        "levels": level_stats(rows, sizes),
        "seconds": round(seconds, 3),
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
        **extras,
    }
    write_parquet(df, outputs["sids"])
    write_json(index_dict(df), outputs["index"])
    if result is not None:
        with atomic_path(outputs["codebooks"]) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **{f"level_{i}": b for i, b in enumerate(result["codebooks"])})
    plot_code_usage(rows, sizes, outputs["usage"], f"{method}: per-level code usage")
    write_json(stats, outputs["stats"])
    log.info(
        "%s: %d items, collision rate before resolution %.4f, %.1fs",
        method,
        n,
        before,
        seconds,
    )
    return df
