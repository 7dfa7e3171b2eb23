"""Streamed readers for the Amazon review layouts of 2014, 2018 and 2023.

| layout | reviews (JSON lines)                          | metadata                                    |
| ------ | --------------------------------------------- | ------------------------------------------- |
| 2014   | ``reviewerID``, ``asin``, ``unixReviewTime``  | Python-literal dicts: ``asin``, ``title``,   |
|        |                                               | ``description`` (str), ``brand``,           |
|        |                                               | ``categories`` (list of lists)              |
| 2018   | same as 2014                                  | JSON: ``asin``, ``title``, ``description``   |
|        |                                               | (list), ``brand``, ``category`` (list)      |
| 2023   | ``user_id``, ``parent_asin``, ``timestamp``   | JSON: ``parent_asin``, ``title``,            |
|        | (milliseconds)                                | ``description`` (list), ``store``,          |
|        |                                               | ``categories`` (list)                       |

Files may be plain or gzip (detected from the magic bytes, not the name).
Reviews are parsed in chunks of lines by pyarrow's JSON reader (falling back to
``json.loads`` line by line for a chunk with a bad line, to name or skip it);
metadata line by line into column lists. Neither holds the records as Python
dicts in bulk.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
from tqdm import tqdm

from genrec.data import DataError

log = logging.getLogger(__name__)

FORMATS = ("2014", "2018", "2023")
CHUNK_BYTES = 32 << 20  # lines are read and parsed in chunks of about this size
BLOCK_BYTES = 8 << 20  # pyarrow JSON block (a longer line falls back to json.loads)

# Required review fields per layout: (user, item, timestamp, timestamp divisor).
REVIEW_FIELDS = {
    "2014": ("reviewerID", "asin", "unixReviewTime", 1),
    "2018": ("reviewerID", "asin", "unixReviewTime", 1),
    "2023": ("user_id", "parent_asin", "timestamp", 1000),
}
REVIEWS_SCHEMA = pa.schema([("user", pa.string()), ("item", pa.string()), ("ts", pa.int64())])
META_ID = {"2014": "asin", "2018": "asin", "2023": "parent_asin"}


@dataclass
class ReadStats:
    """Line counts of one file, reported in ``stats.json``."""

    path: str
    lines: int = 0
    records: int = 0
    bad_lines: int = 0
    missing_field_lines: int = 0
    first_bad: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "lines": self.lines,
            "records": self.records,
            "bad_lines": self.bad_lines,
            "missing_field_lines": self.missing_field_lines,
        }


# what a truncated or corrupted (gzip) file raises while it is read
READ_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, OSError)


def _unreadable(path, exc: BaseException, where: str = "") -> DataError:
    if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile):
        # an I/O failure (disk, network file system), not damaged content
        return DataError(f"{path}: cannot be read{where} ({type(exc).__name__}: {exc})")
    kind = "gzip file" if _is_gzip(path) else "file"
    name = type(exc).__name__
    if type(exc).__module__ not in ("builtins", "gzip"):
        name = f"{type(exc).__module__}.{name}"  # zlib.error, not a bare "error"
    detail = str(exc) or name
    return DataError(f"{path}: corrupt or truncated {kind}{where} ({name}: {detail})")


def _is_gzip(path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def open_text(path: str | Path) -> io.TextIOBase:
    """Open ``path`` for reading text, gunzipping when the content is gzip."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a reviews/metadata file")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _first_record_line(path: str | Path) -> str | None:
    with open_text(path) as fh:
        try:
            for line in fh:
                if line.strip():
                    return line
        except READ_ERRORS as exc:
            raise _unreadable(path, exc, " in its first line") from None
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc})") from None
    return None


def _parse_json(line: str):
    return json.loads(line)


def _parse_json_or_literal(line: str):
    """2014 metadata is Python-literal dicts (single quotes); accept strict JSON too."""
    try:
        return json.loads(line)
    except ValueError:
        try:
            return ast.literal_eval(line.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise ValueError(f"neither JSON nor a Python literal ({exc})") from None


def _first_record(path: str | Path, literal_ok: bool) -> tuple[dict, bool]:
    """The first record of ``path`` (for :func:`detect_format`) and whether it is a Python
    literal rather than JSON (only accepted with ``literal_ok``); it must be an object."""
    line = _first_record_line(path)
    if line is None:
        raise DataError(f"{path}: file is empty, cannot detect its format")
    literal = False
    try:
        rec = json.loads(line)
    except ValueError as exc:
        if not literal_ok:
            raise DataError(
                f"{path}:1: unknown format: the first record is not JSON ({exc}); "
                f"set data.format to one of {FORMATS}"
            ) from None
        try:
            rec, literal = ast.literal_eval(line.strip()), True
        except (ValueError, SyntaxError) as exc:
            raise DataError(
                f"{path}:1: unknown format: the first record is neither JSON nor a Python "
                f"literal ({exc}); set data.format to one of {FORMATS}"
            ) from None
    if not isinstance(rec, dict):
        kind = "an object" if literal_ok else "a JSON object"
        raise DataError(f"{path}:1: unknown format: the first record is not {kind}")
    return rec, literal


def detect_format(reviews: str | Path, meta: str | Path) -> str:
    """Guess the layout ("2014", "2018" or "2023") from the first record of each file."""
    rrec, _ = _first_record(reviews, literal_ok=False)
    if "parent_asin" in rrec or "user_id" in rrec:
        rfmt = "2023"
    elif "reviewerID" in rrec or "asin" in rrec:
        rfmt = "2014/2018"
    else:
        raise DataError(
            f"{reviews}:1: unknown format: none of the keys reviewerID/asin (2014, 2018) or "
            f"user_id/parent_asin (2023) found (keys: {sorted(rrec)[:10]}); "
            f"set data.format to one of {FORMATS}"
        )
    mrec, literal = _first_record(meta, literal_ok=True)
    if literal:
        mfmt = "2014"
    elif "parent_asin" in mrec:
        mfmt = "2023"
    elif "category" in mrec or isinstance(mrec.get("description"), list):
        mfmt = "2018"
    elif "categories" in mrec or isinstance(mrec.get("description"), str):
        mfmt = "2014"
    elif "asin" in mrec:
        mfmt = "2018"
    else:
        raise DataError(
            f"{meta}:1: unknown format: no asin/parent_asin key "
            f"(keys: {sorted(mrec)[:10]}); set data.format to one of {FORMATS}"
        )
    if (rfmt == "2023") != (mfmt == "2023"):
        raise DataError(
            f"inconsistent formats: {reviews} looks like {rfmt} reviews but {meta} looks "
            f"like {mfmt} metadata; set data.format explicitly"
        )
    return mfmt


def resolve_format(fmt: str, reviews: str | Path, meta: str | Path) -> str:
    fmt = str(fmt)
    if fmt == "auto":
        fmt = detect_format(reviews, meta)
        log.info("detected Amazon %s layout", fmt)
        return fmt
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}: data.format must be 'auto' or one of {FORMATS}")
    return fmt


def _records(
    path: str | Path, parse: Callable[[str], object], on_bad_line: str, stats: ReadStats
) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, record)``; malformed lines raise or are skipped and counted."""
    if on_bad_line not in ("error", "skip"):
        raise DataError(f"unknown on_bad_line {on_bad_line!r}: expected 'error' or 'skip'")
    with open_text(path) as fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, 1):  # noqa: B007 (used in except)
                if not line.strip():
                    continue
                try:
                    rec = parse(line)
                    if not isinstance(rec, dict):
                        raise ValueError(f"expected an object, got {type(rec).__name__}")
                except (ValueError, SyntaxError) as exc:
                    bad(stats, on_bad_line, f"{path}:{lineno}: malformed record: {exc}")
                    continue
                yield lineno, rec
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text after line {lineno} ({exc})") from None
        except READ_ERRORS as exc:
            raise _unreadable(path, exc, f" after line {lineno}") from None
        stats.lines = lineno


def bad(stats: ReadStats, on_bad_line: str, message: str, missing: bool = False) -> None:
    """Raise ``DataError(message)`` or count the line as bad (``on_bad_line='skip'``)."""
    if on_bad_line == "error":
        raise DataError(message + " (set data.on_bad_line: skip to skip and count such lines)")
    stats.bad_lines += 1
    if missing:
        stats.missing_field_lines += 1
    if len(stats.first_bad) < 5:
        stats.first_bad.append(message)
        log.warning("skipping %s", message)


def _fast_chunk(block: bytes, parse_options, fields) -> pa.Table | None:
    """Parse a block of whole JSON lines with pyarrow; None when a line needs a closer look."""
    try:
        table = pa_json.read_json(
            io.BytesIO(block),
            read_options=pa_json.ReadOptions(use_threads=True, block_size=BLOCK_BYTES),
            parse_options=parse_options,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows > block.count(b"\n") + 1:  # more records than lines
        return None
    if any(table.column(f).null_count for f in fields):
        return None
    return table.select(list(fields)).rename_columns(["user", "item", "ts"])


def _blocks(path: str | Path) -> Iterator[bytes]:
    """The file's bytes in blocks of about ``CHUNK_BYTES`` that end at a line end."""
    with open_text(path) as text:
        fh = text.buffer
        rest = b""
        while True:
            try:
                data = fh.read(CHUNK_BYTES)
            except READ_ERRORS as exc:
                raise _unreadable(path, exc) from None
            if not data:
                if rest:
                    yield rest
                return
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # no line end yet: keep reading
                rest = data
                continue
            rest = data[cut:]
            yield data[:cut]


def _slow_chunk(
    lines: list[bytes], first_lineno: int, path, fmt: str, on_bad_line: str, stats: ReadStats
) -> pa.Table:
    """Line-by-line parse of a chunk: finds (and raises on or skips) the offending lines."""
    ukey, ikey, tkey, _ = REVIEW_FIELDS[fmt]
    users: list[str] = []
    items: list[str] = []
    times: list[int] = []
    for lineno, raw in enumerate(lines, first_lineno):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
            if not isinstance(rec, dict):
                raise ValueError(f"expected an object, got {type(rec).__name__}")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            bad(stats, on_bad_line, f"{path}:{lineno}: malformed record: {exc}")
            continue
        try:
            u, i, t = rec[ukey], rec[ikey], rec[tkey]
        except KeyError as exc:
            bad(
                stats,
                on_bad_line,
                f"{path}:{lineno}: missing required field {exc.args[0]!r} "
                f"(Amazon {fmt} reviews need {ukey}, {ikey}, {tkey})",
                missing=True,
            )
            continue
        try:
            t = int(t)
        except (TypeError, ValueError):
            bad(stats, on_bad_line, f"{path}:{lineno}: field {tkey!r} is not an integer: {t!r}")
            continue
        if u is None or i is None:
            bad(stats, on_bad_line, f"{path}:{lineno}: field {ukey!r} or {ikey!r} is null")
            continue
        users.append(u if isinstance(u, str) else str(u))
        items.append(i if isinstance(i, str) else str(i))
        times.append(t)
    return pa.table(
        {
            "user": pa.array(users, pa.string()),
            "item": pa.array(items, pa.string()),
            "ts": pa.array(times, pa.int64()),
        }
    )


def iter_reviews(
    path: str | Path, fmt: str, on_bad_line: str, stats: ReadStats
) -> Iterator[pa.Table]:
    """The reviews of ``path`` as pyarrow tables ``user:str, item:str, ts:int64`` (unix
    seconds), one per chunk of lines, in file order; fills ``stats`` as it goes.

    Each chunk is parsed by pyarrow's JSON reader (only the three required fields);
    a chunk that it rejects (a malformed line, a missing field, an id that is a
    number, ...) is parsed line by line with :mod:`json`, which names the offending
    line or skips it.
    """
    if on_bad_line not in ("error", "skip"):
        raise DataError(f"unknown on_bad_line {on_bad_line!r}: expected 'error' or 'skip'")
    ukey, ikey, tkey, div = REVIEW_FIELDS[fmt]
    fields = (ukey, ikey, tkey)
    parse_options = pa_json.ParseOptions(
        explicit_schema=pa.schema([(ukey, pa.string()), (ikey, pa.string()), (tkey, pa.int64())]),
        unexpected_field_behavior="ignore",
    )
    lineno = 1
    with tqdm(desc=f"reading {Path(path).name}", unit=" lines", mininterval=5) as bar:
        for block in _blocks(path):
            n_lines = block.count(b"\n") + (not block.endswith(b"\n"))
            table = _fast_chunk(block, parse_options, fields)
            if table is None:
                lines = block.split(b"\n")[:n_lines]
                table = _slow_chunk(lines, lineno, path, fmt, on_bad_line, stats)
            if div != 1:
                ts = np.floor_divide(table.column("ts").to_numpy(), div)
                table = table.set_column(2, "ts", pa.array(ts, pa.int64()))
            lineno += n_lines
            stats.lines = lineno - 1
            stats.records += table.num_rows
            bar.update(n_lines)
            yield table


def read_reviews(
    path: str | Path, fmt: str, on_bad_line: str = "error"
) -> tuple[pd.DataFrame, ReadStats]:
    """Interactions as a DataFrame ``user:str, item:str, ts:int64`` (unix seconds), file
    order: :func:`iter_reviews`, concatenated."""
    stats = ReadStats(str(path))
    chunks = list(iter_reviews(path, fmt, on_bad_line, stats))
    table = pa.concat_tables(chunks) if chunks else REVIEWS_SCHEMA.empty_table()
    df = table.to_pandas()
    log.info("%s: %d reviews (%d bad lines skipped)", path, len(df), stats.bad_lines)
    return df, stats


def _text(value) -> str:
    """A metadata text field (str, list of str or missing) as one string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value if v is not None)
    return str(value)


def _categories(value) -> list[str]:
    """Flatten ``category`` (list) / ``categories`` (list of lists); unique, in order."""
    out: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if v is None:
            continue
        if isinstance(v, str):
            if v.strip():
                out.append(v)
        elif isinstance(v, list | tuple):
            stack.extend(reversed(v))
    return list(dict.fromkeys(out))


def iter_meta(
    path: str | Path,
    fmt: str,
    on_bad_line: str,
    stats: ReadStats,
    keep: set[str] | None = None,
    chunk_rows: int = 100_000,
) -> Iterator[pd.DataFrame]:
    """Item metadata ``source_id, title, description, brand, categories`` (raw,
    uncleaned) in file order, in DataFrames of up to ``chunk_rows`` records; fills
    ``stats``. ``keep``: only items whose id is in this set are kept. Duplicates are
    kept too (:func:`read_meta` drops them)."""
    id_key = META_ID[fmt]
    parse = _parse_json_or_literal if fmt == "2014" else _parse_json
    cat_key = {"2014": "categories", "2018": "category", "2023": "categories"}[fmt]

    def empty():
        return {k: [] for k in ("source_id", "title", "description", "brand")}, []

    def frame(cols, cats):
        df = pd.DataFrame(cols, dtype=object)
        df["categories"] = pd.Series(cats, dtype=object, index=df.index)
        return df

    cols, cats = empty()
    for lineno, rec in tqdm(
        _records(path, parse, on_bad_line, stats),
        desc=f"reading {Path(path).name}",
        unit=" items",
        mininterval=5,
    ):
        sid = rec.get(id_key)
        if sid is None:
            bad(
                stats,
                on_bad_line,
                f"{path}:{lineno}: missing required field {id_key!r} (Amazon {fmt} metadata)",
                missing=True,
            )
            continue
        sid = sid if isinstance(sid, str) else str(sid)
        stats.records += 1
        if keep is not None and sid not in keep:
            continue
        brand = rec.get("brand") if fmt != "2023" else rec.get("store")
        if fmt == "2023" and not brand and isinstance(rec.get("details"), dict):
            brand = rec["details"].get("Brand") or rec["details"].get("brand")
        cols["source_id"].append(sid)
        cols["title"].append(_text(rec.get("title")))
        cols["description"].append(_text(rec.get("description")))
        cols["brand"].append(_text(brand))
        cats.append(_categories(rec.get(cat_key)))
        if len(cats) >= chunk_rows:
            yield frame(cols, cats)
            cols, cats = empty()
    if cats:
        yield frame(cols, cats)


def read_meta(
    path: str | Path,
    fmt: str,
    on_bad_line: str = "error",
    keep: set[str] | None = None,
) -> tuple[pd.DataFrame, ReadStats]:
    """Item metadata ``source_id, title, description, brand, categories`` (raw, uncleaned).

    ``keep``: only items whose id is in this set are kept (the reviewed items),
    which keeps memory proportional to the items that matter. Duplicate ids keep
    the first record.
    """
    stats = ReadStats(str(path))
    chunks = list(iter_meta(path, fmt, on_bad_line, stats, keep, chunk_rows=1 << 62))
    if chunks:
        df = chunks[0]
    else:
        df = pd.DataFrame(
            {k: [] for k in ("source_id", "title", "description", "brand")}, dtype=object
        )
        df["categories"] = pd.Series([], dtype=object)
    df = df.drop_duplicates("source_id", keep="first").reset_index(drop=True)
    log.info("%s: %d metadata records, %d kept", path, stats.records, len(df))
    return df, stats
