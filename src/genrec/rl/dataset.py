"""The RL prompt mixture, built from the train split only.

Three tasks (the ones whose answer is a SID, so every reward applies):

- ``sid_next``: a train sample's history as SIDs -> its target's SID;
- ``title_history_to_sid``: a train sample's history as titles -> its target's SID;
- ``title_to_sid``: an item's title -> its SID, for items seen in the train split.

Each row carries its own ``target`` (and ``history``) column taken from the
sample itself; rewards read it from there. Nothing is looked up by prompt text
(upstream MiniOneRec maps history text -> target, which leaks targets of other
samples sharing a history), and valid/test files are never read, so no
valid/test target can reach RL training.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from genrec import prompts

log = logging.getLogger(__name__)

RL_TASKS = ("sid_next", "title_to_sid", "title_history_to_sid")
COLUMNS = ("prompt", "target", "history", "task", "user_id")


def _read(path: str | Path, columns: list[str]) -> pd.DataFrame:
    df = pd.read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (has {list(df.columns)})")
    return df


def _pick(n_available: int, size: int | None, rng: np.random.Generator, task: str) -> np.ndarray:
    """Indices of ``size`` rows out of ``n_available`` (all when ``size`` is None), seeded."""
    if size is None or size >= n_available:
        if size is not None and size > n_available:
            log.warning(
                "rl.prompts.%s = %d but only %d available; using all", task, size, n_available
            )
        return rng.permutation(n_available)
    return np.sort(rng.choice(n_available, size=size, replace=False))


def _pick_recent(target_ts: np.ndarray, size: int | None) -> np.ndarray:
    """Indices of the ``size`` samples with the latest target times (all when None), sorted."""
    n = len(target_ts)
    if size is None or size >= n:
        return np.arange(n)
    order = np.argsort(-np.asarray(target_ts), kind="stable")
    return np.sort(order[:size])


def build_rl_rows(
    train: pd.DataFrame,
    items: pd.DataFrame,
    sids: pd.DataFrame,
    sizes: Mapping[str, int | None],
    seed: int,
    selection: str = "random",
) -> pd.DataFrame:
    """The prompt mixture as a DataFrame with columns :data:`COLUMNS`.

    ``sizes`` maps each task in :data:`RL_TASKS` to a row count (0 skips it,
    ``None`` takes every available row). Sampling is seeded by ``seed``.
    ``selection`` ``recent`` gives the history tasks the train samples with the
    latest ``target_ts`` instead of a random subset.
    """
    if selection not in ("random", "recent"):
        raise ValueError(f"rl.prompt_selection must be 'random' or 'recent', got {selection!r}")
    if selection == "recent" and "target_ts" not in train.columns:
        raise ValueError("rl.prompt_selection 'recent' needs a target_ts column in the train split")
    unknown = set(sizes) - set(RL_TASKS)
    if unknown:
        raise ValueError(f"unknown RL prompt task(s) {sorted(unknown)}; known: {list(RL_TASKS)}")
    sid_of = dict(zip(sids["item_id"].astype(int), sids["sid"], strict=True))
    title_of = dict(zip(items["item_id"].astype(int), items["title"].astype(str), strict=True))
    rng = np.random.default_rng(seed)

    hist = [list(map(int, h)) for h in train["history"]]
    tgt = train["target"].astype(int).tolist()
    users = train["user_id"].astype(int).tolist()
    needed = {i for h in hist for i in h} | set(tgt)
    for name, table in (("sids", sid_of), ("items", title_of)):
        lacking = sorted(needed - set(table))
        if lacking:
            raise ValueError(
                f"{len(lacking)} train item(s) have no entry in {name}, e.g. {lacking[:5]}"
            )

    rows: list[dict] = []
    for task in RL_TASKS:
        size = sizes.get(task, 0)
        if size == 0:
            continue
        if task == "title_to_sid":
            seen = sorted(needed)
            for k in _pick(len(seen), size, rng, task):
                item = seen[k]
                rows.append(
                    {
                        "prompt": prompts.title_to_sid(title_of[item]),
                        "target": item,
                        "history": [],
                        "task": task,
                        "user_id": -1,
                    }
                )
            continue
        picked = (
            _pick_recent(train["target_ts"].to_numpy(), size)
            if selection == "recent"
            else _pick(len(tgt), size, rng, task)
        )
        for k in picked:
            h = hist[k]
            if task == "sid_next":
                text = prompts.sid_next([sid_of[i] for i in h])
            else:
                text = prompts.title_history_to_sid([title_of[i] for i in h])
            rows.append(
                {"prompt": text, "target": tgt[k], "history": h, "task": task, "user_id": users[k]}
            )
    if not rows:
        raise ValueError("the RL prompt mixture is empty: give rl.prompts at least one size > 0")
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["target"] = df["target"].astype("int64")
    df["user_id"] = df["user_id"].astype("int64")
    return df


def length_grouped_order(
    lengths: np.ndarray, batch: int, seed: int, megabatch: int = 50
) -> np.ndarray:
    """An order of the prompts in which each run of ``batch`` holds prompts of similar length.

    As transformers' length-grouped sampler: a seeded permutation is cut into
    mega-batches of ``megabatch * batch`` prompts, each sorted by ``lengths``
    (longest first, ties by position) and cut into batches; the batches are then
    shuffled (seeded), the short last one kept last. Every prompt appears once. A
    rollout batch of one length needs no padding to a longer prompt in its beam search
    or its scoring passes, so a mix of 40-token SID histories and 400-token title
    histories costs what its tokens cost.
    """
    lengths = np.asarray(lengths)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(lengths))
    size = batch * max(1, megabatch)
    batches = []
    for start in range(0, len(perm), size):
        chunk = perm[start : start + size]
        chunk = chunk[np.lexsort((chunk, -lengths[chunk]))]
        batches += [chunk[i : i + batch] for i in range(0, len(chunk), batch)]
    full = [b for b in batches if len(b) == batch]
    short = [b for b in batches if len(b) < batch]
    order = rng.permutation(len(full))
    return np.concatenate([full[i] for i in order] + short) if batches else perm


def build_rl_dataset(
    train_parquet: str | Path,
    items_parquet: str | Path,
    sids_parquet: str | Path,
    sizes: Mapping[str, int | None],
    seed: int,
    selection: str = "random",
):
    """Read the train split, items and SIDs; return the mixture as a ``datasets.Dataset``."""
    from datasets import Dataset, Features, List, Value

    train = _read(
        train_parquet,
        ["user_id", "history", "target"] + (["target_ts"] if selection == "recent" else []),
    )
    items = _read(items_parquet, ["item_id", "title"])
    sids = _read(sids_parquet, ["item_id", "sid"])
    df = build_rl_rows(train, items, sids, sizes, seed, selection)
    counts = df["task"].value_counts().to_dict()
    log.info("RL prompts from %s: %d rows %s", train_parquet, len(df), counts)
    features = Features(
        {
            "prompt": Value("string"),
            "target": Value("int64"),
            "history": List(Value("int64")),
            "task": Value("string"),
            "user_id": Value("int64"),
        }
    )
    return Dataset.from_pandas(df, features=features, preserve_index=False)
