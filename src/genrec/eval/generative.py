"""Evaluation of a generative (SID) recommender with trie-constrained beam search.

For every sample of a split (``test.parquet`` or ``valid.parquet``) the task-1
prompt (:func:`genrec.prompts.sid_next`, byte-identical to SFT) is encoded
with :func:`genrec.lm.encode_prompt`; constrained beam search returns
``num_beams`` distinct valid SIDs, mapped back to item ids, and the top max-K
are scored with :func:`genrec.eval.metrics.ranking_metrics`.

Samples are sorted by prompt length and batched (length bucketing, little
padding), then put back in sample order. With ``num_gpus > 1`` every GPU runs
:func:`evaluate_rank` through :func:`genrec.distributed.launch`; each rank
evaluates a contiguous shard of the samples and writes a shard file, and rank 0
merges the shards in sample order and writes the outputs.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from genrec import prompts
from genrec.decode import SidTrie, constrained_generate
from genrec.distributed import launch, peak_gpu_memory_mb, pick_device, shard_bounds
from genrec.eval.metrics import (
    drop_repeats,
    rank_column,
    ranking_metrics,
    top1_concentration,
)
from genrec.eval.params import EvalParams
from genrec.io import write_json, write_parquet
from genrec.lm import encode_prompt, load_model_and_tokenizer, read_prompt_limit

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("user_id", "history", "target")


# --------------------------------------------------------------------- inputs
def read_samples(path: str | Path, max_samples: int | None = None) -> pd.DataFrame:
    """A split table (``user_id``, ``history``, ``target``); clear error if malformed.

    ``max_samples`` keeps that many rows evenly spaced over the table (the
    valid-split evaluation's ``eval.valid_samples``; a chronological split is in
    time order, so the subset spans the whole period); None keeps all.
    """
    df = pd.read_parquet(path)
    if max_samples is not None and len(df) > int(max_samples):
        rows = np.linspace(0, len(df) - 1, int(max_samples)).round().astype(np.int64)
        df = df.iloc[np.unique(rows)]
    missing = [c for c in SAMPLE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(SAMPLE_COLUMNS)}")
    if len(df) == 0:
        raise ValueError(f"{path}: no samples to evaluate")
    return df.reset_index(drop=True)


def read_sids(path: str | Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    missing = [c for c in ("item_id", "tokens", "sid") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    if df["item_id"].duplicated().any():
        dup = df.loc[df["item_id"].duplicated(), "item_id"].iloc[0]
        raise ValueError(f"{path}: item {dup} has more than one SID")
    return df


def build_prompts(
    samples: pd.DataFrame, sid_of: dict[int, str], source: str = "samples"
) -> list[str]:
    """The task-1 prompt of every sample (history items as SIDs, oldest first)."""
    out = []
    for row, history in enumerate(samples["history"]):
        try:
            out.append(prompts.sid_next([sid_of[int(i)] for i in history]))
        except KeyError as err:
            raise ValueError(
                f"{source}: row {row}: history item {err.args[0]} has no SID"
            ) from None
    return out


# ---------------------------------------------------------------- prediction
def _sid_text(tokenizer, ids: list[int], drop: set[int]) -> str:
    return "".join(tokenizer.convert_ids_to_tokens([i for i in ids if i not in drop]))


def predict(
    model,
    tokenizer,
    trie: SidTrie,
    prompts_ids: list[list[int]],
    num_beams: int,
    top_n: int,
    batch_size: int,
    length_penalty: float = 0.0,
    sid_of: dict[int, str] | None = None,
    decoder: str = "prefill",
) -> tuple[np.ndarray, list[list[str]]]:
    """Ranked item ids ``[n, top_n]`` (-1 = invalid) and their SID strings, in prompt order.

    Prompts are processed longest first in batches of ``batch_size`` (length
    bucketing); the results are put back in the input order.
    """
    n = len(prompts_ids)
    items = np.full((n, top_n), -1, dtype=np.int64)
    texts: list[list[str]] = [[] for _ in range(n)]
    order = sorted(range(n), key=lambda i: (-len(prompts_ids[i]), i))
    drop = {tokenizer.pad_token_id, tokenizer.eos_token_id} - {None}
    for start in tqdm(range(0, n, batch_size), desc="evaluate", unit="batch", mininterval=5):
        idx = order[start : start + batch_size]
        out = constrained_generate(
            model,
            tokenizer,
            [prompts_ids[i] for i in idx],
            trie,
            num_beams=num_beams,
            num_return_sequences=num_beams,
            length_penalty=length_penalty,
            decoder=decoder,
        )
        got = out.item_ids[:, :top_n].numpy()
        seqs = out.sequences.view(len(idx), num_beams, -1)[:, :top_n].cpu().tolist()
        for j, i in enumerate(idx):
            items[i] = got[j]
            texts[i] = [
                sid_of[int(it)] if it >= 0 and sid_of is not None else _sid_text(tokenizer, s, drop)
                for it, s in zip(got[j], seqs[j], strict=True)
            ]
    return items, texts


def run_shard(
    model_dir: str | Path,
    sids_path: str | Path,
    samples_path: str | Path,
    params: EvalParams,
    rank: int = 0,
    world_size: int = 1,
    device: str = "cpu",
) -> pd.DataFrame:
    """Predictions for shard ``rank`` of ``world_size`` (contiguous slice of the samples).

    Returns ``sample`` (row index in the split), ``user_id``, ``target``,
    ``predictions`` and ``predicted_sids``.
    """
    sids = read_sids(sids_path)
    p = params
    p.check_items(len(sids))
    samples = read_samples(samples_path, p.max_samples)
    lo, hi = shard_bounds(len(samples), rank, world_size)
    shard = samples.iloc[lo:hi]
    sid_of = dict(zip(sids["item_id"].astype(int), sids["sid"], strict=True))
    texts = build_prompts(shard, sid_of, source=str(samples_path))
    model, tokenizer = load_model_and_tokenizer(model_dir, device=device, dtype=p.dtype)
    trie = SidTrie.from_sids_table(sids, tokenizer).to(model.device)
    limit = read_prompt_limit(model_dir)  # the rule SFT trained with (genrec.lm.tokenizer)
    prompt_ids = [encode_prompt(tokenizer, t, limit) for t in texts]
    log.info(
        "rank %d/%d: %d samples [%d, %d), %d beams, device %s",
        rank,
        world_size,
        len(shard),
        lo,
        hi,
        p.num_beams,
        model.device,
    )
    items, sid_texts = predict(
        model,
        tokenizer,
        trie,
        prompt_ids,
        num_beams=p.num_beams,
        top_n=p.ks[-1],
        batch_size=p.batch_size,
        length_penalty=p.length_penalty,
        sid_of=sid_of,
        decoder=p.decoder,
    )
    return pd.DataFrame(
        {
            "sample": np.arange(lo, hi, dtype=np.int64),
            "user_id": shard["user_id"].to_numpy(dtype=np.int64),
            "target": shard["target"].to_numpy(dtype=np.int64),
            "predictions": [list(map(int, r)) for r in items],
            "predicted_sids": sid_texts,
        }
    )


def merge_shards(shards: list[pd.DataFrame], n: int) -> pd.DataFrame:
    """Concatenate rank shards in sample order; every sample ``0..n-1`` exactly once."""
    df = pd.concat(shards, ignore_index=True).sort_values("sample", kind="stable")
    got = df["sample"].to_numpy()
    if len(got) != n or not np.array_equal(got, np.arange(n)):
        raise RuntimeError(
            f"shards cover {len(got)} rows / {len(np.unique(got))} samples, expected {n}"
        )
    return df.reset_index(drop=True)


# A top-1 item shared by this fraction of at least this many samples is reported as a
# collapsed (history-blind) model; see genrec.eval.metrics.top1_concentration.
COLLAPSE_SHARE = 0.5
COLLAPSE_MIN_SAMPLES = 50


def finalize(
    df: pd.DataFrame,
    ks: list[int],
    out_predictions: str | Path,
    out_metrics: str | Path,
    model_name: str,
    sid_method: str | None,
    split: str,
    num_beams: int,
) -> dict:
    """Score merged predictions; write ``predictions.parquet`` and ``metrics.json``."""
    preds, invalid, repeats = drop_repeats(np.asarray(df["predictions"].tolist(), dtype=np.int64))
    if repeats:
        log.warning(
            "%s (%s, %s): %d repeated item(s) in ranked lists, counted as invalid slots",
            model_name,
            sid_method,
            split,
            repeats,
        )
        df = df.assign(predictions=[list(map(int, r)) for r in preds])
    if preds.size and (preds < 0).all():
        raise ValueError(
            f"{model_name} ({sid_method}, {split}): all {preds.size} predicted slots of "
            f"{len(df)} samples are invalid SIDs; the model is broken (e.g. non-finite "
            "weights), so no metrics are written"
        )
    metrics = {
        "model": model_name,
        "sid_method": sid_method,
        "split": split,
        "n": len(df),
        "num_beams": num_beams,
        "invalid": invalid,
        "repeats": repeats,
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
        **top1_concentration(preds),
        **ranking_metrics(preds, df["target"].to_numpy(dtype=np.int64), ks),
    }
    if len(df) >= COLLAPSE_MIN_SAMPLES and metrics["top1_share"] >= COLLAPSE_SHARE:
        log.warning(
            "%s (%s, %s): %.0f%% of %d samples share one top-1 item (%d distinct): the "
            "model barely reads the history; train longer / larger, or check the SIDs",
            model_name,
            sid_method,
            split,
            100 * metrics["top1_share"],
            len(df),
            metrics["top1_distinct"],
        )
    out = df[["user_id", "target", "predictions", "predicted_sids"]].assign(
        rank=rank_column(preds, df["target"].to_numpy(dtype=np.int64))
    )
    write_parquet(out, out_predictions)
    write_json(metrics, out_metrics)
    log.info("metrics: %s", json.dumps(metrics))
    return metrics


# ------------------------------------------------------------------ entry
def evaluate(
    model_dir: str | Path,
    sids: str | Path,
    samples: str | Path,
    out_predictions: str | Path,
    out_metrics: str | Path,
    params: EvalParams,
    stage: str,
    sid_method: str | None,
    split: str = "test",
    num_gpus: int = 0,
) -> dict | None:
    """Evaluate ``model_dir`` on ``samples``; write predictions + metrics; return the metrics.

    ``params`` comes from :meth:`EvalParams.from_config`; ``stage`` (``sft``/``rl``)
    names the model in ``metrics.json``. With ``num_gpus > 1`` every GPU runs
    :func:`evaluate_rank` through :func:`genrec.distributed.launch` (the metrics are
    read back from disk).
    """
    if num_gpus > 1:
        shard_dir = Path(f"{out_predictions}.shards")
        kwargs = {
            "model_dir": model_dir, "sids": sids, "samples": samples,
            "out_predictions": out_predictions, "out_metrics": out_metrics,
            "params": params, "stage": stage, "sid_method": sid_method,
            "split": split, "shard_dir": shard_dir,
        }  # fmt: skip
        launch("genrec.eval.generative:evaluate_rank", kwargs, num_gpus, shard_dir / "launch.json")
        shutil.rmtree(shard_dir, ignore_errors=True)
        with open(out_metrics) as fh:
            return json.load(fh)
    df = run_shard(model_dir, sids, samples, params, device=pick_device(num_gpus))
    return finalize(
        df, params.ks, out_predictions, out_metrics, stage, sid_method, split, params.num_beams
    )


def evaluate_rank(
    model_dir: str,
    sids: str,
    samples: str,
    out_predictions: str,
    out_metrics: str,
    params: EvalParams,
    stage: str,
    sid_method: str | None,
    split: str,
    shard_dir: str,
) -> None:
    """One rank of a multi-GPU evaluation: its shard, then rank 0 merges and scores."""
    from accelerate import PartialState

    p = params
    state = PartialState()
    rank, world = state.process_index, state.num_processes
    with torch.no_grad():
        df = run_shard(model_dir, sids, samples, p, rank, world, device=str(state.device))
    write_parquet(df, Path(shard_dir) / f"rank-{rank:03d}.parquet")
    state.wait_for_everyone()
    if state.is_main_process:
        shards = [pd.read_parquet(Path(shard_dir) / f"rank-{r:03d}.parquet") for r in range(world)]
        n = len(read_samples(samples, p.max_samples))
        finalize(
            merge_shards(shards, n), p.ks, out_predictions, out_metrics, stage, sid_method,
            split, p.num_beams,
        )  # fmt: skip
    state.wait_for_everyone()
