"""The workflow manifest, ``results/{dataset}/manifest.json``: per rule, its benchmark
file pattern and its JSON output patterns, as Snakemake declares them.

The ``write_manifest`` rule (``rules/report.smk``) reads the patterns from Snakemake's
rule objects and :func:`write_manifest` writes them; the results page reads them back
(:func:`read_manifest`) to tell which rule, with which wildcards, wrote a benchmark file
(:func:`match_benchmark`) and which JSON files that job wrote (:func:`json_outputs`).
So a rule or output renamed in a ``.smk`` file reaches the page through the manifest::

    {"results_dir": "results",
     "rules": {"train_sft": {
         "benchmark": "results/{dataset}/benchmarks/sft/train_sft.{method}.tsv",
         "json_outputs": ["results/{dataset}/sft/{method}/loss.json"],
         "wildcard_constraints": {}}, ...}}

Patterns use Snakemake's wildcard syntax without constraints (``{name}`` matches any
non-empty text); a rule's constraints are listed next to them. ``results_dir`` is the
directory of the workflow the patterns start with; the page finds the files under the
results directory it is given instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from genrec.io import atomic_path
from genrec.report.results.markdown import read_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DATASET_WILDCARD = "dataset"  # the page covers one dataset: this wildcard is fixed to it
_WILDCARD = re.compile(r"\{(\w+)\}")


def wildcard_names(pattern: str) -> list[str]:
    """The wildcards of ``pattern`` in order of first appearance."""
    return list(dict.fromkeys(_WILDCARD.findall(pattern)))


def manifest_entry(benchmark: str, outputs: Sequence[str], constraints: Mapping[str, str]) -> dict:
    """One rule's manifest entry: its benchmark pattern, the patterns of its ``.json``
    outputs (in declaration order) and the constraints of the wildcards they use."""
    json_outputs = [str(o) for o in outputs if str(o).endswith(".json")]
    used = {w for p in (benchmark, *json_outputs) for w in wildcard_names(p)}
    return {
        "benchmark": str(benchmark),
        "json_outputs": json_outputs,
        "wildcard_constraints": {k: str(v) for k, v in constraints.items() if k in used},
    }


def write_manifest(rules: Mapping[str, Mapping], results_dir: str, out: str | Path) -> Path:
    """Write the manifest of ``rules`` to ``out`` (atomically).

    ``rules`` maps each rule name to ``benchmark`` (its benchmark pattern; rules without
    one are left out), ``outputs`` (all its output patterns) and ``wildcard_constraints``.
    """
    entries = {
        name: manifest_entry(
            r["benchmark"], r.get("outputs", []), r.get("wildcard_constraints", {})
        )
        for name, r in rules.items()
        if r.get("benchmark")
    }
    out = Path(out)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(
            json.dumps({"results_dir": str(results_dir), "rules": entries}, indent=2) + "\n"
        )
    log.info("%d rules with a benchmark file -> %s", len(entries), out)
    return out


def read_manifest(path: Path) -> dict:
    """The manifest at ``path``; a ValueError naming the path when it is malformed."""
    data = read_json(path)
    rules = data.get("rules") if isinstance(data, dict) else None
    ok = isinstance(rules, dict) and isinstance(data.get("results_dir"), str)
    ok = ok and all(
        isinstance(r, dict)
        and isinstance(r.get("benchmark"), str)
        and isinstance(r.get("json_outputs"), list)
        for r in rules.values()
    )
    if not ok:
        raise ValueError(
            f"{path}: expected the workflow manifest ('results_dir' and, per rule, "
            "'benchmark' and 'json_outputs')"
        )
    return data


def _below_results(pattern: str, root: str) -> str | None:
    """``pattern`` relative to the workflow's results directory ``root`` (None outside it)."""
    try:
        return PurePosixPath(pattern).relative_to(PurePosixPath(root)).as_posix()
    except ValueError:
        return None


def _regex(pattern: str, constraints: Mapping[str, str]) -> re.Pattern:
    """A regex for the whole of ``pattern``, as Snakemake matches files: a wildcard matches
    its constraint, else any non-empty text; a repeated wildcard the same text again."""
    parts, seen, last = [], set(), 0
    for m in _WILDCARD.finditer(pattern):
        parts.append(re.escape(pattern[last : m.start()]))
        name = m.group(1)
        parts.append(
            f"(?P={name})" if name in seen else f"(?P<{name}>{constraints.get(name, '.+')})"
        )
        seen.add(name)
        last = m.end()
    parts.append(re.escape(pattern[last:]))
    return re.compile("".join(parts))


def match_benchmark(
    manifest: Mapping, results_dir: Path, dataset: str, path: Path
) -> tuple[str, dict[str, str]] | None:
    """The rule whose benchmark pattern ``path`` (a file under ``results_dir``) matches,
    and the wildcard values (in pattern order); None when no rule declares it. The
    ``dataset`` wildcard must equal ``dataset``; when several rules match, the one with
    the fewest wildcards (the most specific pattern) wins."""
    rel = Path(path).relative_to(results_dir).as_posix()
    hits = []
    for name, entry in manifest["rules"].items():
        pattern = _below_results(entry["benchmark"], manifest["results_dir"])
        if pattern is None:
            continue
        constraints = {
            **entry.get("wildcard_constraints", {}),
            DATASET_WILDCARD: re.escape(dataset),
        }
        m = _regex(pattern, constraints).fullmatch(rel)
        if m:
            hits.append((name, {w: m.group(w) for w in wildcard_names(pattern)}))
    return min(hits, key=lambda hit: len(hit[1]), default=None)


def json_outputs(
    manifest: Mapping, results_dir: Path, rule: str, wildcards: Mapping[str, str]
) -> list[Path]:
    """The JSON files the job of ``rule`` with ``wildcards`` declares, under ``results_dir``."""
    paths = []
    for pattern in manifest["rules"][rule]["json_outputs"]:
        rel = _below_results(pattern, manifest["results_dir"])
        if rel is not None and set(wildcard_names(rel)) <= set(wildcards):
            paths.append(Path(results_dir) / _WILDCARD.sub(lambda m: wildcards[m.group(1)], rel))
    return paths
