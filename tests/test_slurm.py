"""The tiny workflow on a real SLURM cluster, and ``--cores 1`` vs ``--cores 2``.

``tests/cluster/slurm_up.sh`` starts a private single-node SLURM on localhost
(Debian's slurmctld, slurmd and munge; state, logs and PID files in a temp
folder). The workflow of ``.test/config/config.yaml`` then runs twice in temp
copies of the repository layout (as tests/test_workflow.py does): locally with
``--cores 2``, and with ``--profile profiles/slurm``. The test checks that
every job went through ``sbatch`` with the profile's resources (partition,
memory, time limit, CPUs, GPU) as slurmctld recorded them, and that both runs
wrote the same files and the same tables and arrays. The cluster's daemons are
stopped by PID (``tests/cluster/slurm_down.sh``).

Where SLURM cannot run (not root, no packages and no apt-get, or a machine
with its own /etc/slurm/slurm.conf) the SLURM tests skip with the reason; as
root with apt-get, missing packages are installed first (set
``BRAINPIPE_SLURM_INSTALL=0`` to forbid that). ``BRAINPIPE_REQUIRE_SLURM=1``
(set by .ci/run where it installed SLURM) turns the skips into failures.

The ``--cores 1`` check needs no cluster: in a copy of the ``--cores 2`` run
(jobs side by side), the fMRI chain's and the EEG covariances' outputs are
removed and rebuilt with ``--cores 1`` (one job at a time), and their tables
must be identical.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests/cluster"
PROFILE = REPO / "profiles/slurm"
slow = pytest.mark.slow

# Whole-run limits (s): a hung plugin ignores SIGTERM, hence `timeout -s KILL`.
RUN_TIMEOUT = 2400
# Outputs compared between runs. Binary containers that stamp the time or the
# writer (FIF file ids, gzip headers, HTML reports, PNG metadata) are compared
# by presence only; their content comes from the tables and arrays checked here.
TABLES = (".tsv",)
ARRAYS = (".npz",)
SIDECARS = (".json",)
# Report fragments embed their stage's tables as HTML, timings included:
# compared by presence (the tables themselves are compared).
FRAGMENTS = ("_fragment.json",)
# Columns that hold wall-clock measurements (MOABB's `time`, the pseudo-online
# timings, the training loop's seconds per epoch): dropped before comparing.
TIMING_COLUMNS = {"time", "fit_s", "window_s", "classify_s", "windows_per_s", "seconds"}


def _env(extra=None):
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MPLBACKEND", "Agg")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env.update(extra or {})
    return env


def _snakemake(workdir, *args, env=None, timeout=RUN_TIMEOUT):
    cmd = ["timeout", "-s", "KILL", str(timeout), sys.executable, "-m", "snakemake",
           "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env or _env(),
                          timeout=timeout + 60)


def _new_workdir(tmp_path_factory, name):
    workdir = tmp_path_factory.mktemp(name)
    (workdir / "config").mkdir()
    shutil.copy(REPO / ".test/config/config.yaml", workdir / "config/config.yaml")
    return workdir


def _check(proc, what):
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n"
                    f"{proc.stderr[-8000:]}")


#: Folders of results/ that hold how a run went, not what it computed: the
#: jobs' logs and Snakemake's per-job benchmark files (wall time, memory).
RUN_RECORDS = ("logs", "benchmarks")


def _outputs(results):
    """Relative paths of every output under results/, logs and benchmark files excluded."""
    return sorted(
        p.relative_to(results).as_posix()
        for p in results.rglob("*")
        if p.is_file() and not set(p.relative_to(results).parts) & set(RUN_RECORDS)
    )


def _timing_key(key):
    return key in TIMING_COLUMNS or key.endswith("_seconds")


def _strip_root(node, root):
    """``node`` (parsed JSON) without the work dir ``root/`` in its strings and
    without wall-clock entries (``train_seconds``, ``fit_s``...)."""
    if isinstance(node, dict):
        return {k: _strip_root(v, root) for k, v in node.items() if not _timing_key(k)}
    if isinstance(node, list):
        return [_strip_root(v, root) for v in node]
    if isinstance(node, str):
        return node.replace(f"{root}/", "")
    return node


def _arrays_equal(x, y):
    nan = x.dtype.kind in "fc" and y.dtype.kind in "fc"
    return x.shape == y.shape and np.array_equal(x, y, equal_nan=nan)


def compare_outputs(run_a, run_b, files=None):
    """Differences between the outputs of two runs (empty list: identical).

    Tables (TSV) must be equal cell for cell (wall-clock columns aside),
    arrays (NPZ) bit for bit, JSON sidecars equal once work-dir paths are
    removed; every other output (report fragments included) must exist in
    both runs.
    """
    res_a, res_b = Path(run_a) / "results", Path(run_b) / "results"
    names_a, names_b = _outputs(res_a), _outputs(res_b)
    problems = []
    if files is None:
        if names_a != names_b:
            problems.append(f"file sets differ: only in first {sorted(set(names_a) - set(names_b))}, "
                            f"only in second {sorted(set(names_b) - set(names_a))}")
        files = sorted(set(names_a) & set(names_b))
    files = [f for f in files if not set(f.split("/")) & set(RUN_RECORDS)]
    for name in files:
        a, b = res_a / name, res_b / name
        if name.endswith(TABLES):
            ta = pd.read_csv(a, sep="\t", keep_default_na=False)
            tb = pd.read_csv(b, sep="\t", keep_default_na=False)
            ta = ta.drop(columns=TIMING_COLUMNS & set(ta.columns))
            tb = tb.drop(columns=TIMING_COLUMNS & set(tb.columns))
            if not ta.equals(tb):
                problems.append(f"table differs: {name}")
        elif name.endswith(ARRAYS):
            with np.load(a) as za, np.load(b) as zb:
                if sorted(za.files) != sorted(zb.files) or not all(
                    _arrays_equal(za[k], zb[k]) for k in za.files
                ):
                    problems.append(f"arrays differ: {name}")
        elif name.endswith(SIDECARS) and not name.endswith(FRAGMENTS):
            # sidecars may name their sources by absolute path
            ja = _strip_root(json.loads(a.read_text()), Path(run_a).resolve())
            jb = _strip_root(json.loads(b.read_text()), Path(run_b).resolve())
            if ja != jb:
                problems.append(f"JSON differs: {name}")
    return problems


# --------------------------------------------------------------------------
# the local reference run (--cores 2), shared by both checks
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    workdir = _new_workdir(tmp_path_factory, "local_cores2")
    _check(_snakemake(workdir, "--cores", "2"), "local snakemake --cores 2")
    return workdir


# --------------------------------------------------------------------------
# SLURM
# --------------------------------------------------------------------------
def _skip_or_fail(reason):
    if os.environ.get("BRAINPIPE_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM is required here (BRAINPIPE_REQUIRE_SLURM=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running single-node SLURM; yields the environment its clients need."""
    state = tmp_path_factory.mktemp("slurm")
    install = "0" if os.environ.get("BRAINPIPE_SLURM_INSTALL") == "0" else "1"
    proc = subprocess.run(
        ["timeout", "-s", "KILL", "600", "bash", str(CLUSTER / "slurm_up.sh"), str(state)],
        capture_output=True, text=True, env=_env({"SLURM_INSTALL": install}),
    )
    if proc.returncode != 0:
        subprocess.run(["bash", str(CLUSTER / "slurm_down.sh"), str(state)], capture_output=True)
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        _skip_or_fail(f"single-node SLURM could not start (slurm_up.sh exit {proc.returncode}): {reason}")
    env = _env({"SLURM_CONF": str(state / "slurm.conf"),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}:/usr/sbin"})
    try:
        yield {"env": env, "state": state}
    finally:
        down = subprocess.run(["bash", str(CLUSTER / "slurm_down.sh"), str(state)],
                              capture_output=True, text=True)
        assert down.returncode == 0, down.stderr


def _jobs(env, run_id):
    """Jobs of one Snakemake run as slurmctld records them (MinJobAge keeps them)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, env=env,
        check=True,
    ).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("JobName") == run_id:
            jobs.append(fields)
    return jobs


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    workdir = _new_workdir(tmp_path_factory, "slurm")
    # the cluster has no slurmdbd: jobs are polled with squeue (MinJobAge=7200
    # keeps finished jobs there); a short first check keeps the run quick
    proc = _snakemake(
        workdir, "--profile", str(PROFILE), "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "5", "--jobs", "4",
        env=slurm_cluster["env"],
    )
    _check(proc, "snakemake --profile profiles/slurm")
    run_id = re.search(r"SLURM run ID: (\S+)", proc.stdout + proc.stderr).group(1)
    return workdir, proc, _jobs(slurm_cluster["env"], run_id)


def _expected(rule, attempt=1):
    """Partition, memory, minutes, CPUs and GPUs the profile asks for a rule.

    None where the profile leaves it to the rule's own resources or to the
    cluster (the default partition).
    """
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    merged = dict(profile["default-resources"])
    merged.update(profile["set-resources"].get(rule, {}))
    own = rule not in profile["set-resources"]

    def value(key):
        v = merged.get(key)
        return eval(str(v), {"attempt": attempt}) if v is not None else None  # noqa: S307

    return {
        "partition": merged.get("slurm_partition", "main"),
        "mem_mb": None if own else value("mem_mb"),
        "runtime": None if own else value("runtime"),
        "gpu": value("gpu") or 0,
    }


def _minutes(limit):
    # scontrol TimeLimit: [days-]hours:minutes:seconds or minutes:seconds
    days, _, rest = limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1] + parts[2] / 60


@slow
def test_slurm_jobs_went_through_sbatch(slurm_run):
    workdir, proc, jobs = slurm_run
    log = proc.stdout + proc.stderr
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert submitted, "no job was submitted with sbatch"
    assert {j["JobId"] for j in jobs} == set(submitted)
    assert all(j["JobState"] == "COMPLETED" for j in jobs), [
        (j["Comment"], j["JobState"]) for j in jobs if j["JobState"] != "COMPLETED"
    ]
    # every job of the DAG but the target rule ran as a SLURM job
    stats = log.split("Job stats:", 1)[1].split("Select jobs", 1)[0]
    planned = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", stats, flags=re.M)
               if rule not in ("all", "total")}
    ran = {}
    for j in jobs:
        rule = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", j["Comment"]).group(1)
        ran[rule] = ran.get(rule, 0) + 1
    assert ran == planned


def _threads(log):
    """Threads of each rule, from the job blocks Snakemake printed (1 when not shown)."""
    threads = {}
    for block in re.split(r"\n(?=rule \w+:\n)", log)[1:]:
        rule = re.match(r"rule (\w+):", block).group(1)
        head = block.split("Shell command:", 1)[0]
        m = re.search(r"^\s+threads: (\d+)$", head, flags=re.M)
        threads[rule] = int(m.group(1)) if m else 1
    return threads


@slow
def test_slurm_jobs_have_the_profiles_resources(slurm_run):
    _, proc, jobs = slurm_run
    threads = _threads(proc.stdout + proc.stderr)
    checked_gpu = False
    for j in jobs:
        rule = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", j["Comment"]).group(1)
        want = _expected(rule)
        assert j["Partition"] == want["partition"], (rule, j["Partition"])
        # --cpus-per-task is the rule's threads (profile: cpus_per_task: "threads")
        assert int(j["NumCPUs"]) == threads[rule], (rule, j["NumCPUs"], threads[rule])
        if want["mem_mb"] is not None:
            assert j["MinMemoryNode"] == f"{want['mem_mb']}M", (rule, j["MinMemoryNode"])
        if want["runtime"] is not None:
            assert _minutes(j["TimeLimit"]) == want["runtime"], (rule, j["TimeLimit"])
        if want["gpu"]:
            assert j.get("TresPerJob") == f"gres:gpu:{want['gpu']}", (rule, j.get("TresPerJob"))
            checked_gpu = True
        else:
            assert "gpu" not in j.get("TresPerJob", ""), rule
    # profiles/slurm asks for one job per subject (subjects_per_job=1) where the
    # test config batches 4 subjects per job: every subject is its own sbatch
    sim = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())["simulate"]
    n_eeg_sessions = sim["n_eeg_subjects"] * sim["n_sessions"]
    expected = {"fmri_subject": sim["n_subjects"], "mri_qc": sim["n_subjects"],
                "preprocess_eeg": n_eeg_sessions * sim["n_runs"], "eeg_covariances": n_eeg_sessions}
    for rule, n in expected.items():
        assert sum(j["Comment"].startswith(f"rule_{rule}_wildcards_") for j in jobs) == n, rule
    # a rule without resources of its own gets the cluster profile's defaults,
    # not those of the local workflow profile, which Snakemake applies on top
    default_mem = eval(str(yaml.safe_load((PROFILE / "config.yaml").read_text())
                           ["default-resources"]["mem_mb"]), {"attempt": 1})  # noqa: S307
    plain = [j for j in jobs if j["Comment"] == "rule_dataset_description"]
    assert plain and plain[0]["MinMemoryNode"] == f"{default_mem}M"
    if not checked_gpu:
        pytest.skip("no GPU rule in this workflow's DAG (profile GPU settings not exercised)")


@slow
def test_slurm_outputs_equal_local_run(slurm_run, local_run):
    workdir, _, _ = slurm_run
    problems = compare_outputs(local_run, workdir)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# --cores 2 vs --cores 1
# --------------------------------------------------------------------------
# Rules whose outputs are rebuilt with --cores 1: the fMRI chain (8 subjects,
# then the group steps) and the EEG covariances.
REBUILT = ("fmri_subject", "fmri_tangent",
           "fmri_dynamic", "fmri_predict", "eeg_covariances")


@slow
def test_cores_1_and_2_give_identical_tables(local_run, tmp_path):
    copy = tmp_path / "cores1"
    shutil.copytree(local_run, copy, symlinks=True)  # keeps mtimes and metadata
    shutil.rmtree(copy / ".snakemake/locks", ignore_errors=True)
    summary = _snakemake(copy, "--cores", "1", "--summary", timeout=300)
    _check(summary, "snakemake --summary")
    rows = [line.split("\t") for line in summary.stdout.splitlines()[1:] if "\t" in line]
    # the test config runs fmri_subject over batches of subjects (fmri_subject_batch1, ...)
    targets = sorted({row[0] for row in rows if len(row) > 2 and re.sub(r"_batch\d+$", "", row[2]) in REBUILT})
    assert targets, summary.stdout[-2000:]
    for name in targets:
        (copy / name).unlink()
    proc = _snakemake(copy, "--cores", "1", *targets)
    _check(proc, "snakemake --cores 1")
    assert "Finished job" in proc.stdout + proc.stderr
    rebuilt = [Path(t).relative_to("results").as_posix() for t in targets if t.startswith("results/")]
    assert any(t.endswith(".tsv") for t in rebuilt)
    problems = compare_outputs(local_run, copy, files=rebuilt)
    assert not problems, "\n".join(problems)


def test_compare_outputs_sees_a_changed_cell_array_and_file(tmp_path):
    # the comparison itself, on two small result trees
    for run in ("a", "b"):
        res = tmp_path / run / "results"
        (res / "sub-01/logs").mkdir(parents=True)
        pd.DataFrame({"x": [1.0, 2.0], "y": ["p", "q"], "fit_s": [0.1, 0.2] if run == "a" else [0.3, 0.1]}
                     ).to_csv(res / "sub-01/t.tsv", sep="\t", index=False)
        np.savez(res / "sub-01/a.npz", covs=np.eye(3))
        (res / "sub-01/s.json").write_text(json.dumps({"Sources": [f"{tmp_path / run}/data/x"],
                                                       "train_seconds": len(run) * 1.5 * ord(run)}))
        (res / "sub-01/logs/r.log").write_text(run)  # logs are not compared
    a, b = tmp_path / "a", tmp_path / "b"
    assert compare_outputs(a, b) == []
    pd.DataFrame({"x": [1.0, 2.0 + 1e-12], "y": ["p", "q"]}).to_csv(
        b / "results/sub-01/t.tsv", sep="\t", index=False)
    np.savez(b / "results/sub-01/a.npz", covs=2 * np.eye(3))
    (b / "results/extra.png").write_bytes(b"")
    problems = compare_outputs(a, b)
    assert any("table differs: sub-01/t.tsv" in p for p in problems)
    assert any("arrays differ: sub-01/a.npz" in p for p in problems)
    assert any("extra.png" in p for p in problems)
    assert not any("s.json" in p for p in problems)


def test_profile_names_existing_rules_and_valid_values():
    # every set-resources rule but the model-training ones (which the model
    # rule files define only when the model is enabled) is a rule of the workflow
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    rules = set(re.findall(r"^\s*rule (\w+):", "\n".join(
        p.read_text() for p in (REPO / "workflow/rules").glob("*.smk")), flags=re.M))
    # and the rules made in loops (rule: / name:), e.g. report_eeg, report_imaging
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    rules |= {line.strip() for line in listed.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", line)}
    named = set(profile["set-resources"])
    training = {"demovae_fit", "brainmae_pretrain", "tfm_tokenizer", "tfm_tokenizer_train"}
    assert named - rules <= training, named - rules
    for rule, res in profile["set-resources"].items():
        for attempt in (1, 2, 3):
            mem = eval(str(res["mem_mb"]), {"attempt": attempt})  # noqa: S307
            minutes = eval(str(res["runtime"]), {"attempt": attempt})  # noqa: S307
            assert mem >= 1000 * attempt and minutes >= 10 * attempt, rule
    for rule in sorted(training):
        res = profile["set-resources"][rule]
        assert res["gpu"] == 1 and res["slurm_partition"] and res["slurm_extra"].startswith("'")
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    # profiles/default is applied on top: it must not replace these
    default = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert not {"default-resources", "set-resources", "latency-wait", "jobs"} & set(default)
