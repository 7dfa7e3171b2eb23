"""Interop with MiniOneRec's files.

Export: per split a CSV with columns ``user_id, history_item_title, item_title,
history_item_id, item_id, history_item_sid, item_sid`` (history columns are
Python-list strings, as upstream reads them with ``eval``), ``info/<name>.txt``
(``SID\\ttitle\\titem_id`` per line, no header), ``index/<name>.index.json``
(item id -> list of code tokens) and ``index/<name>.item.json`` (item id ->
title and description).

Import: a MiniOneRec ``index.json`` as SID codes for our items.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from genrec.io import atomic_path
from genrec.sid.tokens import parse_tokens

log = logging.getLogger(__name__)

CSV_COLUMNS = [
    "user_id",
    "history_item_title",
    "item_title",
    "history_item_id",
    "item_id",
    "history_item_sid",
    "item_sid",
]


def index_dict(sids: pd.DataFrame) -> dict[str, list[str]]:
    """MiniOneRec ``index.json`` content: ``{str(item_id): [token, ...]}``."""
    return {str(int(i)): list(t) for i, t in zip(sids["item_id"], sids["tokens"], strict=True)}


KEY_KINDS = ("asin", "item_id")


def read_index_json(
    path: str | Path,
    items: pd.DataFrame,
    keys: str | None = None,
    id_map: str | Path | None = None,
) -> list[list[int]]:
    """Codes per item (row order of ``items``) from a MiniOneRec ``index.json``.

    What the keys are must be unambiguous: upstream's published files are keyed by
    their own integer ids ``"0".."N-1"``, which look exactly like our ``item_id``
    values but name other items. So

    - ``id_map`` (a JSON object ``{key: asin}``, e.g. upstream's id -> asin map)
      translates every key to an asin first; or
    - ``keys="asin"``: keys are the items' ``source_id``; or
    - ``keys="item_id"``: keys are our ``item_id`` values (a file this workflow
      exported); or
    - ``keys=None``: accepted only when no key is a number (then: asins); numeric
      keys without ``keys`` or ``id_map`` are refused.

    Entries for unknown items are ignored (logged); a missing item is an error.
    """
    path = Path(path)
    raw = _read_json_object(path, "item key -> list of tokens")
    if keys is not None and keys not in KEY_KINDS:
        raise ValueError(f"sid.import.keys must be one of {KEY_KINDS} or null, got {keys!r}")
    if id_map is not None:
        mapping = _read_json_object(Path(id_map), "upstream key -> asin")
        unmapped = [k for k in raw if k not in mapping]
        if unmapped:
            raise ValueError(
                f"{id_map}: no asin for {len(unmapped)} key(s) of {path}, e.g. {unmapped[:5]}"
            )
        raw = {str(mapping[k]): v for k, v in raw.items()}
        keys = "asin"
    if keys is None:
        numeric = [k for k in raw if str(k).strip().lstrip("-").isdigit()]
        if numeric:
            raise ValueError(
                f"{path}: keys such as {numeric[:3]} are numbers, which is ambiguous: "
                "upstream MiniOneRec files use their own item ids 0..N-1, not ours. Set "
                "sid.import.keys to 'asin' (keys are the items' asins, e.g. ISBN-10s), to "
                "'item_id' (a file exported by this workflow), or give sid.import.id_map "
                "(a JSON object upstream id -> asin)"
            )
        keys = "asin"
    if keys == "item_id":
        lookup = {str(int(i)): k for k, i in enumerate(items["item_id"])}
    else:
        if "source_id" not in items:
            raise ValueError("items table has no source_id column: cannot match asin keys")
        lookup = {str(s): k for k, s in enumerate(items["source_id"])}
    rows: list[list[int] | None] = [None] * len(items)
    for key, tokens in raw.items():
        if key not in lookup:
            continue
        if not isinstance(tokens, list):
            raise ValueError(f"{path}: entry {key!r} is not a list of tokens")
        try:
            rows[lookup[key]] = parse_tokens(tokens)
        except ValueError as exc:
            raise ValueError(f"{path}: entry {key!r}: {exc}") from exc
    missing = [int(items["item_id"].iloc[i]) for i, r in enumerate(rows) if r is None]
    if missing:
        raise ValueError(
            f"{path}: no SID for {len(missing)} item(s) (keys read as {keys}), item_id "
            f"{missing[:20]}" + (" ..." if len(missing) > 20 else "")
        )
    unused = len(set(raw) - set(lookup))
    if unused:
        log.warning("%s: %d entries do not match any item and were ignored", path, unused)
    return rows  # type: ignore[return-value]


def _read_json_object(path: Path, what: str) -> Mapping:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read JSON ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path}: expected a JSON object ({what})")
    return raw


def _clean(text) -> str:
    return " ".join(str(text if text is not None else "").split())


def split_frame(samples: pd.DataFrame, sid_of: dict[int, str], title_of: dict[int, str]):
    """One split in MiniOneRec's CSV layout."""
    hist = samples["history"].map(lambda h: [int(i) for i in h])
    tgt = samples["target"].astype(int)
    return pd.DataFrame(
        {
            "user_id": samples["user_id"].astype(int).to_numpy(),
            "history_item_title": hist.map(lambda h: str([title_of[i] for i in h])),
            "item_title": tgt.map(title_of),
            "history_item_id": hist.map(str),
            "item_id": tgt,
            "history_item_sid": hist.map(lambda h: str([sid_of[i] for i in h])),
            "item_sid": tgt.map(sid_of),
        },
        columns=CSV_COLUMNS,
    )


def export_minionerec(
    sids_parquet: str | Path,
    items_parquet: str | Path,
    splits: Mapping[str, str | Path],
    outdir: str | Path,
    name: str,
) -> None:
    """Write the MiniOneRec layout for one SID method into ``outdir`` (atomically)."""
    sids = pd.read_parquet(sids_parquet)
    items = pd.read_parquet(items_parquet)
    if len(sids) != len(items) or set(sids["item_id"]) != set(items["item_id"]):
        raise ValueError(f"{sids_parquet}: SIDs do not cover the items of {items_parquet}")
    sid_of = dict(zip(sids["item_id"].astype(int), sids["sid"], strict=True))
    title_of = {int(i): _clean(t) for i, t in zip(items["item_id"], items["title"], strict=True)}
    with atomic_path(outdir, directory=True) as tmp:
        for split, path in splits.items():
            frame = split_frame(pd.read_parquet(path), sid_of, title_of)
            (tmp / split).mkdir()
            frame.to_csv(tmp / split / f"{name}.csv", index=False)
        (tmp / "info").mkdir()
        with open(tmp / "info" / f"{name}.txt", "w") as fh:
            for i in sorted(sid_of):
                fh.write(f"{sid_of[i]}\t{title_of[i]}\t{i}\n")
        (tmp / "index").mkdir()
        with open(tmp / "index" / f"{name}.index.json", "w") as fh:
            json.dump(index_dict(sids), fh)
        item_json = {
            str(int(r.item_id)): {"title": _clean(r.title), "description": _clean(r.description)}
            for r in items.itertuples(index=False)
        }
        with open(tmp / "index" / f"{name}.item.json", "w") as fh:
            json.dump(item_json, fh)
    log.info("MiniOneRec export of %d items written to %s", len(items), outdir)
