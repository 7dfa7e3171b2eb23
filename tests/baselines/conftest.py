from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def markov_splits(n_users: int, n_items: int, seed: int = 0, max_history: int = 8):
    """Per-user sequences where the next item is mostly item+1..3 (mod n_items); the last
    step of each user is test, the one before valid, earlier steps train (one sample per
    prefix, as the data stage emits them)."""
    rng = np.random.default_rng(seed)
    rows = {"train": [], "valid": [], "test": []}
    ts = 0
    for u in range(n_users):
        length = int(rng.integers(5, 10))
        seq = [int(rng.integers(n_items))]
        for _ in range(length - 1):
            step = int(rng.choice([1, 2, 3])) if rng.random() < 0.85 else int(rng.integers(n_items))
            seq.append((seq[-1] + step) % n_items)
        times = list(range(ts, ts + length))
        ts += length
        for t in range(1, length):
            split = "test" if t == length - 1 else "valid" if t == length - 2 else "train"
            lo = max(0, t - max_history)
            rows[split].append(
                {
                    "user_id": u,
                    "history": seq[lo:t],
                    "target": seq[t],
                    "history_ts": times[lo:t],
                    "target_ts": times[t],
                }
            )
    return {k: pd.DataFrame(v) for k, v in rows.items()}


def write_tables(splits: dict, n_items: int, outdir: Path) -> dict:
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in splits.items():
        paths[name] = outdir / f"{name}.parquet"
        df.to_parquet(paths[name], index=False)
    items = pd.DataFrame(
        {"item_id": np.arange(n_items), "title": [f"t{i}" for i in range(n_items)]}
    )
    paths["items"] = outdir / "items.parquet"
    items.to_parquet(paths["items"], index=False)
    return paths


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    n_items = 40
    splits = markov_splits(n_users=120, n_items=n_items, seed=3)
    paths = write_tables(splits, n_items, tmp_path_factory.mktemp("tiny_data"))
    return {"splits": splits, "paths": paths, "n_items": n_items}
