"""The SFT task mixture (train split) and the validation set (valid split).

Tasks (prompt text from :mod:`genrec.prompts`, response = SID string or title):

1. ``sid_next``: a sample's history as SIDs -> its target's SID;
2. ``sid_to_title`` / ``title_to_sid``: an item's SID <-> its title (every item
   of ``items.parquet``: item metadata, not interactions);
3. ``title_history_to_sid``: history as titles -> target SID;
4. ``sid_history_to_title``: history as SIDs -> target title;
5. ``title_history_to_title``: history as titles -> target title (optional).

``sft.tasks.<task>.max_samples`` caps each task (``null`` = all, ``0`` = off);
capped tasks are a seeded random subset. Samples come from the train split
only; the validation set is task 1 on the valid split (capped by
``sft.max_valid_samples``), which drives early stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from genrec import prompts
from genrec.io import atomic_path
from genrec.sft.params import SftDataParams

log = logging.getLogger(__name__)

SAMPLE_TASKS = (
    "sid_next",
    "title_history_to_sid",
    "sid_history_to_title",
    "title_history_to_title",
)
ITEM_TASKS = ("sid_to_title", "title_to_sid")
COLUMNS = ("task", "prompt", "response", "user_id", "target")


def _read(path: str | Path, columns: list[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    df = pd.read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (has {list(df.columns)})")
    return df


def _pick(n: int, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Row indices: all ``n`` (cap None or >= n) or a seeded sorted subset of ``cap``."""
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=cap, replace=False))


def _lookups(items: pd.DataFrame, sids: pd.DataFrame, sids_name: str) -> tuple[dict, dict]:
    sid_of = dict(zip(sids["item_id"].astype(int), sids["sid"].astype(str), strict=True))
    title_of = dict(zip(items["item_id"].astype(int), items["title"].astype(str), strict=True))
    lacking = sorted(set(title_of) - set(sid_of))
    if lacking:
        raise ValueError(
            f"{sids_name}: {len(lacking)} item(s) have no SID, e.g. item_id {lacking[:5]}"
        )
    return sid_of, title_of


def sample_rows(
    samples: pd.DataFrame,
    sid_of: Mapping[int, str],
    title_of: Mapping[int, str],
    task: str,
    cap: int | None,
    rng: np.random.Generator,
    source: str = "samples",
) -> list[dict]:
    """Rows of a history-based task for (a seeded subset of) ``samples``."""
    rows = []
    for k in _pick(len(samples), cap, rng):
        hist = [int(i) for i in samples["history"].iat[k]]
        target = int(samples["target"].iat[k])
        unknown = [i for i in [*hist, target] if i not in sid_of or i not in title_of]
        if unknown:
            raise ValueError(f"{source}: row {k} refers to unknown item_id(s) {unknown}")
        if task == "sid_next":
            prompt, response = prompts.sid_next([sid_of[i] for i in hist]), sid_of[target]
        elif task == "title_history_to_sid":
            prompt = prompts.title_history_to_sid([title_of[i] for i in hist])
            response = sid_of[target]
        elif task == "sid_history_to_title":
            prompt = prompts.sid_history_to_title([sid_of[i] for i in hist])
            response = title_of[target]
        elif task == "title_history_to_title":
            prompt = prompts.title_history_to_title([title_of[i] for i in hist])
            response = title_of[target]
        else:
            raise ValueError(f"not a history task: {task!r}")
        user = int(samples["user_id"].iat[k])
        rows.append(
            {
                "task": task,
                "prompt": prompt,
                "response": response,
                "user_id": user,
                "target": target,
            }
        )
    return rows


def item_rows(
    sid_of: Mapping[int, str],
    title_of: Mapping[int, str],
    task: str,
    cap: int | None,
    rng: np.random.Generator,
) -> list[dict]:
    """Rows of an item task (``sid_to_title`` or ``title_to_sid``) for (a subset of) the items."""
    ids = sorted(title_of)
    rows = []
    for k in _pick(len(ids), cap, rng):
        item = ids[k]
        if task == "sid_to_title":
            prompt, response = prompts.sid_to_title(sid_of[item]), title_of[item]
        elif task == "title_to_sid":
            prompt, response = prompts.title_to_sid(title_of[item]), sid_of[item]
        else:
            raise ValueError(f"not an item task: {task!r}")
        rows.append(
            {"task": task, "prompt": prompt, "response": response, "user_id": -1, "target": item}
        )
    return rows


def build_sft_tables(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    items: pd.DataFrame,
    sids: pd.DataFrame,
    params: SftDataParams,
    names: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train mixture and the validation set as DataFrames with columns :data:`COLUMNS`.

    ``params``: ``tasks`` (examples per task; a task not listed is off),
    ``max_valid_samples`` and the ``seed`` that samples and shuffles the mixture.
    """
    names = dict(names or {})
    tasks = params.task_limits()
    unknown = set(tasks) - set(prompts.TASKS)
    if unknown:
        raise ValueError(
            f"sft.tasks: unknown task(s) {sorted(unknown)}; known: {list(prompts.TASKS)}"
        )
    sid_of, title_of = _lookups(items, sids, names.get("sids", "sids"))
    rng = np.random.default_rng(params.seed)
    rows: list[dict] = []
    for task in prompts.TASKS:
        cap = tasks.get(task, 0)
        if cap == 0:
            continue
        if task in ITEM_TASKS:
            new = item_rows(sid_of, title_of, task, cap, rng)
        else:
            new = sample_rows(train, sid_of, title_of, task, cap, rng, names.get("train", "train"))
        log.info("task %s: %d examples", task, len(new))
        rows += new
    if not rows:
        raise ValueError("sft.tasks: every task has max_samples 0; the SFT set would be empty")
    train_df = pd.DataFrame(rows, columns=list(COLUMNS))
    train_df = train_df.iloc[rng.permutation(len(train_df))].reset_index(drop=True)
    valid_rows = sample_rows(
        valid,
        sid_of,
        title_of,
        "sid_next",
        params.max_valid_samples,
        rng,
        names.get("valid", "valid"),
    )
    if not valid_rows:
        raise ValueError(f"{names.get('valid', 'valid')}: no samples; validation loss needs some")
    valid_df = pd.DataFrame(valid_rows, columns=list(COLUMNS))
    return train_df, valid_df


def build_sft_datasets(
    train_parquet: str | Path,
    valid_parquet: str | Path,
    items_parquet: str | Path,
    sids_parquet: str | Path,
    outdir: str | Path,
    params: SftDataParams,
) -> dict[str, int]:
    """Build the SFT ``DatasetDict`` (``train``, ``valid``) and ``save_to_disk`` it to ``outdir``.

    Text only (``task``, ``prompt``, ``response``, ``user_id``, ``target``);
    tokenisation happens in training with the model's tokenizer. Returns the
    example count per task (train) and of the validation set.
    """
    from datasets import Dataset, DatasetDict

    sample_cols = ["user_id", "history", "target"]
    train = _read(train_parquet, sample_cols)
    valid = _read(valid_parquet, sample_cols)
    items = _read(items_parquet, ["item_id", "title"])
    sids = _read(sids_parquet, ["item_id", "tokens", "sid"])
    names = {"train": str(train_parquet), "valid": str(valid_parquet), "sids": str(sids_parquet)}
    train_df, valid_df = build_sft_tables(train, valid, items, sids, params, names)
    dd = DatasetDict(
        {
            "train": Dataset.from_pandas(train_df, preserve_index=False),
            "valid": Dataset.from_pandas(valid_df, preserve_index=False),
        }
    )
    with atomic_path(outdir, directory=True) as tmp:
        dd.save_to_disk(str(tmp))
    counts = {f"train/{k}": int(v) for k, v in train_df["task"].value_counts().sort_index().items()}
    counts["valid"] = len(valid_df)
    log.info("SFT datasets in %s: %s", outdir, counts)
    return counts
