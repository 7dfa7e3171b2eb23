"""The README's demo table, written from a run's ``metrics.csv`` (never typed by hand).

    python -m genrec.report.readme --metrics results/demo/metrics.csv \\
        [--readme README.md] [--keep docs/results/demo_metrics.csv]

Renders the results page's quality table (:func:`genrec.report.results.quality.
quality_section`) at K = 10, every value with its 95% bootstrap interval, and puts it
between the two marker lines :data:`START` and :data:`END` of the README; everything
outside them is left as it is. ``--keep`` stores a copy of the ``metrics.csv`` the table
came from, so that the table can be checked against its source
(``tests/report/test_readme.py``). Both files are written atomically. Run it after a
demo run whose numbers changed (``make readme``).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

from genrec.io import atomic_path
from genrec.report.results.quality import load_metrics, quality_section

START = "<!-- demo-table: written by `python -m genrec.report.readme` from a metrics.csv -->"
END = "<!-- /demo-table -->"


def demo_table(metrics_csv: str | Path, k: int = 10) -> str:
    """The Markdown table (with its one-paragraph legend) of ``metrics_csv`` at ``k``."""
    return quality_section(load_metrics(metrics_csv), ks=[k])


def replace_block(text: str, block: str, where: str = "README") -> str:
    """``text`` with the lines between :data:`START` and :data:`END` replaced by ``block``.

    A clear error when the markers are missing, repeated or out of order."""
    starts, ends = text.count(START), text.count(END)
    if starts != 1 or ends != 1 or text.index(START) > text.index(END):
        raise ValueError(
            f"{where}: expected one line {START!r} followed by one line {END!r} "
            f"(found {starts} and {ends})"
        )
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block.strip()}\n{END}{tail}"


def current_block(text: str) -> str:
    """What stands between the markers now (stripped)."""
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def update_readme(
    metrics_csv: str | Path, readme: str | Path, keep: str | Path | None = None
) -> str:
    """Rewrite the demo block of ``readme`` from ``metrics_csv``; copy the CSV to ``keep``.
    Returns the new block."""
    readme = Path(readme)
    block = demo_table(metrics_csv)
    text = replace_block(readme.read_text(encoding="utf-8"), block, where=str(readme))
    if keep is not None and Path(keep).resolve() != Path(metrics_csv).resolve():
        with atomic_path(keep) as tmp:
            shutil.copyfile(metrics_csv, tmp)
    with atomic_path(readme) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return block


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m genrec.report.readme",
        description="Write the README's demo table from a run's metrics.csv.",
    )
    p.add_argument("--metrics", required=True, help="metrics.csv of a demo run")
    p.add_argument("--readme", default="README.md")
    p.add_argument(
        "--keep",
        default="docs/results/demo_metrics.csv",
        help="where to keep a copy of the metrics.csv the table came from",
    )
    args = p.parse_args(argv)
    update_readme(args.metrics, args.readme, args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
