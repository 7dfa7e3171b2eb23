"""Tiny SFT inputs (items, samples and SID tables as the contract's parquet files) and the
lm / sft parameter objects of a seconds-long CPU run (a helper module for the sft, lm and
workflow tests; tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from genrec.lm.params import LmParams
from genrec.sft.params import SftDataParams, SftTrainParams

WORDS = ["steel", "bolt", "nut", "washer", "glove", "tape", "drill", "bit", "valve", "pipe"]


def make_tables(n_items: int = 24, n_users: int = 30, seed: int = 0) -> dict[str, pd.DataFrame]:
    """items, sids (3 levels, one item with a 4th level) and train/valid/test samples.

    Users walk through the items in steps of one (item i is followed by i + 1), so
    the next SID is learnable.
    """
    rng = np.random.default_rng(seed)
    items = pd.DataFrame(
        {
            "item_id": np.arange(n_items, dtype="int64"),
            "source_id": [f"P{i:04d}" for i in range(n_items)],
            "title": [
                f"{WORDS[i % 10].capitalize()} {WORDS[(i // 10) % 10]} model {i}"
                for i in range(n_items)
            ],
            "description": ["" for _ in range(n_items)],
            "brand": ["acme" for _ in range(n_items)],
            "categories": [["tools"] for _ in range(n_items)],
        }
    )
    # unique for n_items <= 60 (Chinese remainder theorem on 4, 3 and 5)
    codes = [[i % 4, (i // 4) % 3, i % 5] for i in range(n_items)]
    codes[-1] = [*codes[-1], 1]  # a longer SID (disambiguation level)
    tokens = [[f"<{'abcdefgh'[lvl]}_{c}>" for lvl, c in enumerate(cs)] for cs in codes]
    sids = pd.DataFrame(
        {
            "item_id": np.arange(n_items, dtype="int64"),
            "codes": codes,
            "tokens": tokens,
            "sid": ["".join(t) for t in tokens],
        }
    )
    rows = {"train": [], "valid": [], "test": []}
    for u in range(n_users):
        start = int(rng.integers(0, n_items))
        length = int(rng.integers(5, 9))
        seq = [(start + k) % n_items for k in range(length)]
        for t in range(1, length):
            split = "test" if t == length - 1 else "valid" if t == length - 2 else "train"
            rows[split].append(
                {
                    "user_id": u,
                    "history": seq[max(0, t - 5) : t],
                    "target": seq[t],
                    "history_ts": list(range(max(0, t - 5), t)),
                    "target_ts": t,
                }
            )
    out = {"items": items, "sids": sids}
    for split, r in rows.items():
        out[split] = pd.DataFrame(r).astype(
            {"user_id": "int64", "target": "int64", "target_ts": "int64"}
        )
    return out


def write_tables(tables: dict[str, pd.DataFrame], root: Path) -> dict[str, Path]:
    paths = {}
    for name, df in tables.items():
        paths[name] = root / f"{name}.parquet"
        df.to_parquet(paths[name], index=False)
    return paths


# the lm.scratch shape of these tests (the rest: schema defaults)
TINY_SCRATCH = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
    "max_position_embeddings": 256,
    "tokenizer_vocab_size": 400,
}
# the task mix of these tests (not the demo's, which trains sid_next alone)
TINY_CAPS = {
    "sid_next": None,
    "sid_to_title": None,
    "title_to_sid": None,
    "title_history_to_sid": 300,
    "sid_history_to_title": 300,
    "title_history_to_title": 0,
}
# sft keys for a seconds-long CPU run (seed 0: the seed these tests train and sample with)
TINY_SFT = {
    "max_valid_samples": 16,
    "cutoff_len": 128,
    "epochs": 1,
    "max_steps": 20,
    "learning_rate": 5e-3,
    "per_device_batch_size": 8,
    "per_device_eval_batch_size": 16,
    "global_batch_size": 8,
    "eval_steps": 10,
    "logging_steps": 2,
    "early_stopping_patience": 0,
    "warmup_ratio": 0.1,
    "seed": 0,
}


def tiny_tasks(**caps) -> dict:
    """``sft.tasks`` of the test mix, with ``caps`` (task -> max_samples) on top."""
    return {task: {"max_samples": cap} for task, cap in {**TINY_CAPS, **caps}.items()}


def tiny_lm(**overrides) -> LmParams:
    """The tiny scratch LM; ``scratch`` overrides merge into its shape."""
    scratch = {**TINY_SCRATCH, **overrides.pop("scratch", {})}
    return LmParams.defaults(scratch=scratch, **overrides)


def _sft_section(overrides: dict) -> dict:
    return {"tasks": tiny_tasks(), **TINY_SFT, **overrides}


def tiny_sft_data(**sft_overrides) -> SftDataParams:
    """SftDataParams of the test mix (``sft`` keys in ``sft_overrides`` on top)."""
    return SftDataParams.defaults(**_sft_section(sft_overrides))


def tiny_sft_train(lm: LmParams | None = None, **sft_overrides) -> SftTrainParams:
    """SftTrainParams for a seconds-long CPU run on ``lm`` (default :func:`tiny_lm`)."""
    return SftTrainParams.defaults(lm=lm or tiny_lm(), **_sft_section(sft_overrides))
