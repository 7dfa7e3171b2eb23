"""The tests that run the Snakemake workflow share one way to set up a scratch workflow
directory and to run ``snakemake`` in it: the ``wrapper_workflow`` and ``snakemake``
fixtures below."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIGFILE = 'configfile: "config/config.yaml"\n\n'


def write_wrapper(
    d: Path,
    rules: tuple[str, ...] = (),
    includes: tuple[str, ...] = (),
    config: dict | None = None,
    header: str = CONFIGFILE,
    footer: str = "",
    report: Path | None = None,
) -> Path:
    """A Snakefile in ``d``: ``header``, then ``include:`` of the repository's
    ``rules/common.smk`` and ``rules/<name>.smk`` for each name in ``rules`` (none without
    ``rules``), then of each other repository path in ``includes`` (e.g. ``Snakefile``),
    then ``footer``. With ``report``, a ``report:`` directive for that file follows ``header``.

    ``d/config`` is a link to the repository's config directory, or, with ``config``,
    a directory holding that config as ``config.yaml`` next to a copy of the schema.
    """
    d.mkdir(parents=True, exist_ok=True)
    if config is None:
        (d / "config").symlink_to(REPO / "config")
    else:
        (d / "config").mkdir()
        shutil.copy(REPO / "config" / "schema.yaml", d / "config" / "schema.yaml")
        (d / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    paths = [f"rules/{name}.smk" for name in ("common", *rules)] if rules else []
    lines = "".join(f'include: "{REPO / path}"\n' for path in [*paths, *includes])
    if report is not None:
        header += f'report: "{report}"\n\n'
    (d / "Snakefile").write_text(header + lines + footer)
    return d


class SnakemakeRun(subprocess.CompletedProcess):
    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_snakemake(
    workdir: Path, *args: str, cores: int = 2, check: bool = True, env: dict | None = None
) -> SnakemakeRun:
    """``python -m snakemake -d workdir --cores cores *args`` in ``workdir``; with ``check``,
    a non-zero exit fails the test with snakemake's output."""
    cmd = [sys.executable, "-m", "snakemake", "-d", str(workdir), "--cores", str(cores), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=env)
    run = SnakemakeRun(proc.args, proc.returncode, proc.stdout, proc.stderr)
    if check:
        assert run.returncode == 0, run.output
    return run


def small_demo(n_users: int, n_items: int) -> dict:
    """The repository's config/config.yaml with its one dataset, the synthetic demo,
    cut to ``n_users`` users and ``n_items`` items."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    synthetic = {**cfg["datasets"]["demo"]["synthetic"], "n_users": n_users, "n_items": n_items}
    cfg["datasets"] = {"demo": {"synthetic": synthetic}}
    return cfg


@pytest.fixture(scope="session")
def small_demo_config():
    """``small_demo_config(n_users, n_items)``: see :func:`small_demo`."""
    return small_demo


@pytest.fixture(scope="session")
def wrapper_workflow():
    """``wrapper_workflow(d, rules=(), includes=(), config=None, header=..., footer="",
    report=None)``: see :func:`write_wrapper`."""
    return write_wrapper


@pytest.fixture(scope="session")
def snakemake():
    """``snakemake(workdir, *args, cores=2, check=True, env=None)``: see :func:`run_snakemake`."""
    return run_snakemake
