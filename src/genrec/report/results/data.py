"""Data sections: data set statistics (``data/stats.json``) and Semantic ID statistics
(``sid/<method>/sid_stats.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from genrec.report.results.markdown import NA, fmt_float, fmt_int, md_table, not_found, read_json


def data_section(stats_path: Path) -> str:
    if not stats_path.is_file():
        return not_found(stats_path)
    stats = read_json(stats_path)
    final, split = stats.get("final", {}), stats.get("split", {})
    summary = [
        ["users", fmt_int(final.get("users"))],
        ["items", fmt_int(final.get("items"))],
        ["interactions", fmt_int(final.get("interactions"))],
        ["density", fmt_float(final.get("density"), 5)],
        ["mean sequence length", fmt_float(final.get("mean_sequence_length"), 2)],
        ["split method", split.get("method", NA)],
        ["train / valid / test samples"]
        + [" / ".join(fmt_int(split.get(s)) for s in ("train", "valid", "test"))],
        ["max history", fmt_int(stats.get("max_history"))],
        ["raw format", stats.get("format", NA)],
    ]
    steps = [
        [
            s.get("step", "?"),
            fmt_int(s.get("users")),
            fmt_int(s.get("items")),
            fmt_int(s.get("interactions")),
        ]
        for s in stats.get("steps", [])
    ]
    out = f"From `{stats_path}`.\n\n" + md_table(["", "value"], summary, "lr")
    if steps:
        out += "\n\nFiltering steps:\n\n" + md_table(
            ["step", "users", "items", "interactions"], steps, "lrrr"
        )
    return out


def sid_section(results: Path, methods: Sequence[str]) -> str:
    header = ["SID method", "codebooks", "collision rate (before resolution)"]
    header += ["unique SID ratio", "items moved", "items with an extra level"]
    header += ["max SID length", "reconstruction MSE"]
    rows, missing = [], []
    for m in methods:
        path = results / "sid" / m / "sid_stats.json"
        if not path.is_file():
            missing.append(str(path))
            rows.append([m] + [NA] * (len(header) - 1))
            continue
        s = read_json(path)
        sizes = s.get("codebook_sizes")
        rows.append(
            [
                m,
                " x ".join(map(str, sizes)) if sizes else NA,
                fmt_float(s.get("collision_rate_before")),
                fmt_float(s.get("unique_sid_ratio")),
                fmt_int(s.get("n_reassigned")),
                fmt_int(s.get("n_extra_level")),
                fmt_int(s.get("max_sid_length")),
                fmt_float(s.get("reconstruction_mse"), 6),
            ]
        )
    if not rows:
        return "_No SID methods in the metrics table._"
    out = (
        f"From `{results / 'sid'}/<method>/sid_stats.json`. Collision rate = 1 - distinct "
        "code tuples / items, before collision resolution; unique SID ratio = the same "
        "after it (1.0: every item has its own SID).\n\n"
        + md_table(header, rows, "ll" + "r" * (len(header) - 2))
    )
    if missing:
        out += "\n\nNot found: " + ", ".join(f"`{p}`" for p in missing) + "."
    return out
