"""The SLURM profile: partition routing (unit) and a real single-node cluster (integration).

The integration test installs Debian's SLURM and munge packages, starts munged,
slurmctld and slurmd on localhost (ports picked free, state under a temp dir,
its slurm.conf and gres.conf in /etc/slurm, earlier ones restored), runs the data stage of a small
synthetic config through ``snakemake --profile slurm`` from a copy of the
repository, checks that the jobs went through the scheduler, and stops the
daemons it started by PID. It needs root and apt; otherwise it is skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"
SLURM_PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
ETC_SLURM = Path("/etc/slurm")
SLURM_BINARIES = ["slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "munged"]


# --------------------------------------------------------------------------- profile


def _profile() -> dict:
    return yaml.safe_load((PROFILE / "config.yaml").read_text())


def test_bare_profile_name_resolves_to_profiles_slurm():
    """`snakemake --profile slurm` looks for ./slurm first: it must be our profile."""
    link = REPO / "slurm"
    assert link.is_symlink(), "repository root needs the symlink slurm -> profiles/slurm"
    assert link.resolve() == PROFILE.resolve()
    assert (link / "config.yaml").is_file()


def test_profile_settings():
    prof = _profile()
    assert prof["executor"] == "slurm"
    assert prof["rerun-incomplete"] is True
    assert prof["keep-going"] is True
    assert int(prof["latency-wait"]) >= 30
    assert "--nv" in prof["apptainer-args"].split()
    assert (PROFILE / prof["slurm-partition-config"]).is_file()
    for key in ("mem_mb", "runtime"):
        assert int(prof["default-resources"][key]) > 0
    # The GPU count must come from config `resources.gpu.<stage>`, not the profile,
    # and no task geometry may be forced: with `tasks` set the plugin adds
    # --ntasks-per-gpu and a gpu=N job would run its script N times.
    for rule, res in prof.get("set-resources", {}).items():
        for key in ("gpu", "gres", "tasks", "tasks_per_gpu"):
            assert key not in res, f"set-resources.{rule}.{key} overrides the config"


def _fake_job(gpu: int, threads: int = 1, runtime: int = 120):
    resources = SimpleNamespace(gpu=gpu, runtime=runtime, mem_mb=8000)
    resources.get = lambda key, default=None: getattr(resources, key, default)
    return SimpleNamespace(resources=resources, threads=threads, name="job")


@pytest.mark.parametrize(("gpu", "partition"), [(0, "cpu"), (1, "gpu"), (4, "gpu")])
def test_partition_selection_follows_gpu_resource(gpu, partition):
    """The plugin's partition selection with our partitions.yaml: gpu=0 -> CPU partition."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    parts = read_partition_file(PROFILE / _profile()["slurm-partition-config"])
    logger = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=print)
    assert get_best_partition(parts, _fake_job(gpu), logger) == partition


def test_gpu_job_asks_for_n_gpus_in_one_task():
    """gpu=N becomes `--gpus=N` and no --ntasks-per-gpu (one process launches N ranks)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = _fake_job(gpu=4, threads=8)
    params = dict(
        run_uuid="u", slurm_logfile="l", comment_str="c", account="", partition="-p gpu", workdir=""
    )
    call = get_submit_command(job, params) + set_gres_string(job)
    assert "--gpus=4" in call
    assert "--ntasks-per-gpu" not in call
    assert "--cpus-per-task=8" in call


# --------------------------------------------------------------------------- cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float = 60.0, logs: list[Path] = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


def _ok(cmd: list[str], env=None) -> bool:
    return subprocess.run(cmd, capture_output=True, env=env).returncode == 0


def _install_slurm() -> str | None:
    """Install the packages if missing; return a reason to skip, or None."""
    if all(shutil.which(b) or Path("/usr/sbin", b).exists() for b in SLURM_BINARIES):
        return None
    if shutil.which("apt-get") is None:
        return "apt-get not available to install SLURM"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *SLURM_PACKAGES],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-500:]}"
    return None


SLURM_CONF = """\
ClusterName=genrectest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/slurmd
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
"""

GRES_CONF = "AutoDetect=off\nNodeName=localhost Name=gpu File=/dev/null\n"


def _start_munged(procs: list) -> None:
    """Use a running munged, or start one as user munge (stopped at teardown)."""
    if Path("/run/munge/munge.socket.2").exists() and _ok(["sh", "-c", "munge -n | unmunge"]):
        return
    for d in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
        Path(d).mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "munge", "munge")
    proc = subprocess.Popen(
        ["runuser", "-u", "munge", "--", "/usr/sbin/munged", "-F"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(proc)
    _wait(lambda: _ok(["sh", "-c", "munge -n | unmunge"]), "munged", timeout=30)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM cluster (partitions cpu and gpu, one fake GPU) for this module."""
    if os.geteuid() != 0:
        pytest.skip("the SLURM integration test needs root (it installs and starts daemons)")
    t0 = time.monotonic()
    reason = _install_slurm()
    if reason:
        pytest.skip(reason)
    install_s = time.monotonic() - t0

    state = tmp_path_factory.mktemp("slurm")
    for d in ("ctld", "slurmd"):
        (state / d).mkdir()
    mem_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    mem_mb = int(mem_kb / 1024 * 0.8)
    conf_text = SLURM_CONF.format(
        ctld_port=_free_port(),
        slurmd_port=_free_port(),
        state=state,
        cpus=os.cpu_count(),
        mem_mb=mem_mb,
    )
    # The config must sit at the default path: the jobstep executor strips SLURM_*
    # variables (SLURM_CONF included) before its nested `srun`. Existing files are
    # restored at teardown.
    backups = {}
    for name, text in (("slurm.conf", conf_text), ("gres.conf", GRES_CONF)):
        path = ETC_SLURM / name
        if path.exists():
            backups[path] = path.read_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    conf = ETC_SLURM / "slurm.conf"
    env = dict(os.environ)
    env.pop("SLURM_CONF", None)
    logs = [state / "slurmctld.log", state / "slurmd.log"]

    procs: list[subprocess.Popen] = []
    try:
        _start_munged(procs)
        procs.append(
            subprocess.Popen(
                ["/usr/sbin/slurmctld", "-D", "-i"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait(lambda: _ok(["scontrol", "ping"], env), "slurmctld", logs=logs)
        procs.append(
            subprocess.Popen(
                ["/usr/sbin/slurmd", "-D", "-N", "localhost"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

        def node_idle():
            out = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, env=env
            ).stdout
            return "idle" in out

        _wait(node_idle, "slurmd to register an idle node", logs=logs)
        print(
            f"SLURM packages ready in {install_s:.1f}s; cluster up in {time.monotonic() - t0:.1f}s"
        )
        yield SimpleNamespace(env=env, conf=conf, state=state, logs=logs, mem_mb=mem_mb)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for name in ("slurm.conf", "gres.conf"):
            path = ETC_SLURM / name
            if path in backups:
                path.write_bytes(backups[path])
            else:
                path.unlink(missing_ok=True)


def _squeue_history(env) -> list[dict]:
    """Jobs squeue still knows about (finished ones stay for MinJobAge seconds)."""
    out = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i|%j|%P|%T|%b"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    keys = ("id", "name", "partition", "state", "gres")
    return [dict(zip(keys, line.split("|"), strict=True)) for line in out.splitlines() if line]


def _slurm_logs(wf: Path) -> dict[str, str]:
    """SLURM job id -> rule name, from .snakemake/slurm_logs/rule_<name>/[<wildcards>/]<id>.log."""
    out = {}
    for p in (wf / ".snakemake" / "slurm_logs").rglob("*.log"):
        rule = next(part for part in p.parts if part.startswith("rule_"))
        out[p.stem] = rule.removeprefix("rule_")
    return out


def _copy_workflow(dest: Path) -> Path:
    """The workflow files of the repository (no results, venv, git), incl. the slurm link."""
    shutil.copytree(
        REPO,
        dest,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".snakemake",
            "results",
            "resources",
            "checkpoints",
            "tests",
            "*.pyc",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            "src",
        ),
    )
    return dest


def _run_snakemake(cwd: Path, cluster, args: list[str], timeout: int = 300):
    env = dict(cluster.env, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    default_mem = int(_profile()["default-resources"]["mem_mb"])
    if cluster.mem_mb < 2 * default_mem:
        # A small machine: two jobs of the profile's default memory would not fit
        # side by side, so ask for less (the profile's value is for real clusters).
        args = ["--default-resources", f"mem_mb={cluster.mem_mb // 4}", "runtime=30", *args]
    cmd = [
        sys.executable, "-m", "snakemake", "--profile", "slurm",
        # No slurmdbd here, so sacct cannot answer; squeue keeps finished jobs for
        # MinJobAge (600 s) seconds, long enough for the plugin's status checks.
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
        "--seconds-between-status-checks", "3",
        "--latency-wait", "5",
        # The plugin deletes the SLURM logs of successful jobs unless told not to.
        "--slurm-keep-successful-logs",
        *args,
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
    return proc, elapsed


GPU_TOY_SNAKEFILE = """\
rule all:
    input: "cpu.txt", "gpu.txt"

rule on_cpu:
    output: "cpu.txt"
    resources: gpu=0
    shell: "echo $SLURM_JOB_PARTITION > {output}"

rule on_gpu:
    output: "gpu.txt"
    resources: gpu=1
    shell: "echo $SLURM_JOB_PARTITION $CUDA_VISIBLE_DEVICES > {output}"
"""


@pytest.mark.slow
@pytest.mark.slurm
def test_gpu_resource_routes_jobs_to_partitions(slurm_cluster, tmp_path):
    """Through the real scheduler: gpu=0 runs in partition cpu, gpu=1 in gpu with a GPU."""
    wf = tmp_path / "toy"
    wf.mkdir()
    (wf / "Snakefile").write_text(GPU_TOY_SNAKEFILE)
    (wf / "slurm").symlink_to(PROFILE, target_is_directory=True)
    _, elapsed = _run_snakemake(wf, slurm_cluster, [])
    print(f"toy cpu+gpu DAG through SLURM: {elapsed:.1f}s")
    assert (wf / "cpu.txt").read_text().split() == ["cpu"]
    assert (wf / "gpu.txt").read_text().split() == ["gpu", "0"]
    assert set(_slurm_logs(wf).values()) == {"on_cpu", "on_gpu"}


@pytest.mark.slow
@pytest.mark.slurm
def test_data_stage_runs_through_slurm_profile(slurm_cluster, tmp_path):
    """`snakemake --profile slurm` from the repository root runs the data stage as SLURM jobs."""
    if not (REPO / "rules" / "data.smk").exists():
        pytest.skip("rules/data.smk does not exist yet")
    wf = _copy_workflow(tmp_path / "repo")
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["datasets"] = {
        "tiny": {
            "synthetic": {
                "n_users": 150,
                "n_items": 60,
                "n_categories": 3,
                "n_brands": 5,
                "min_seq_len": 5,
                "max_seq_len": 8,
                "seed": 3,
            }
        }
    }
    (wf / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    targets = [
        f"results/tiny/data/{n}"
        for n in ("train.parquet", "valid.parquet", "test.parquet", "items.parquet", "stats.json")
    ]
    proc, elapsed = _run_snakemake(wf, slurm_cluster, targets)
    print(f"data stage through SLURM: {elapsed:.1f}s")
    for t in targets:
        assert (wf / t).stat().st_size > 0, t

    # Every job went through sbatch: one SLURM log per job, named by rule ...
    logs = _slurm_logs(wf)
    assert len(set(logs.values())) >= 2, f"expected the data rules as SLURM jobs, got {logs}"
    slurm_ids = set(logs)
    # ... and the scheduler knows them as completed jobs in the CPU partition.
    history = {job["id"]: job for job in _squeue_history(slurm_cluster.env)}
    ours = [history[i] for i in slurm_ids if i in history]
    assert len(ours) == len(slurm_ids), f"jobs {slurm_ids} missing from squeue {history}"
    assert {j["state"] for j in ours} == {"COMPLETED"}
    assert {j["partition"] for j in ours} == {"cpu"}
    assert "Job " in proc.stderr and "has been submitted with SLURM jobid" in proc.stderr
