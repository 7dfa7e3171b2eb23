"""Tiny SFT inputs (items, samples and SID tables as the contract's parquet files) and params
(a helper module for the sft, lm and workflow tests; tests/ is on sys.path through
tests/conftest.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parent.parent
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


def default_config() -> dict:
    """The validated embedded config (defaults filled in)."""
    from genrec.config import validate_config

    with open(REPO / "config" / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)
    return validate_config(cfg, REPO / "config" / "schema.yaml")


def tiny_params(**sft_overrides) -> tuple[dict, dict]:
    """(lm, sft) sections for a seconds-long CPU run."""
    cfg = copy.deepcopy(default_config())
    lm = cfg["lm"]
    lm["scratch"].update(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=256,
        tokenizer_vocab_size=400,
    )
    sft = cfg["sft"]
    # the task mix of these tests (not the demo's, which trains sid_next alone)
    caps = {"sid_next": None, "sid_to_title": None, "title_to_sid": None}
    caps.update(title_history_to_sid=300, sid_history_to_title=300, title_history_to_title=0)
    sft["tasks"] = {task: {"max_samples": cap} for task, cap in caps.items()}
    sft.update(
        max_valid_samples=16,
        cutoff_len=128,
        epochs=1,
        max_steps=20,
        learning_rate=5e-3,
        per_device_batch_size=8,
        per_device_eval_batch_size=16,
        global_batch_size=8,
        eval_steps=10,
        logging_steps=2,
        early_stopping_patience=0,
        warmup_ratio=0.1,
    )
    sft.update(sft_overrides)
    return lm, sft
