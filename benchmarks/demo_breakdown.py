"""Where a workflow run's time went: the per-rule sums of Snakemake's ``benchmark:`` files.

Every rule writes ``results/benchmarks/<rule>/<job>.tsv`` (Snakemake's
``benchmark:`` directive: wall seconds, peak RSS, CPU seconds of the job's
process tree). This script sums them per rule, slowest first, so the
breakdown in the README is the workflow's own output. With ``--overhead`` it
also measures what each rule's job pays before any work: a fresh interpreter
importing the modules that rule's step imports (CPU seconds, best of 3), and
how much of the rule's CPU time that is.

Usage::

    .venv/bin/python benchmarks/demo_breakdown.py results             # after `make demo`
    .venv/bin/python benchmarks/demo_breakdown.py results --overhead  # + per-job import cost
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd

#: The modules each rule's step imports (what a job pays at start).
RULE_IMPORTS = {
    "preprocess_eeg": "brainpipe.eeg.preprocess, mne",
    "fmri_subject": "brainpipe.fmri.timeseries, nilearn.maskers, nilearn.signal, brainpipe.fmri.connectivity, "
                    "brainpipe.fmri.graph",
    "mri_qc": "brainpipe.mri.qc",
    "report": "brainpipe.report.subject, mne",
    "eeg_covariances": "brainpipe.eeg.epochs, mne",
}


def rule_table(results):
    """One row per rule: jobs, wall and CPU seconds (sum, mean, max), peak RSS."""
    rows = []
    for folder in sorted((Path(results) / "benchmarks").iterdir()):
        files = sorted(folder.glob("*.tsv"))
        if not files:
            continue
        t = pd.concat([pd.read_csv(f, sep="\t") for f in files], ignore_index=True)
        rows.append({
            "rule": folder.name, "jobs": len(t),
            "wall_s": t["s"].sum(), "cpu_s": t["cpu_time"].sum(),
            "mean_wall_s": t["s"].mean(), "max_wall_s": t["s"].max(),
            "max_rss_mb": t["max_rss"].max(),
        })
    if not rows:
        raise SystemExit(f"no benchmark files under {Path(results) / 'benchmarks'}: run the workflow first")
    table = pd.DataFrame(rows).sort_values("cpu_s", ascending=False, ignore_index=True)
    table["share_cpu"] = table["cpu_s"] / table["cpu_s"].sum()
    return table


def import_cpu_seconds(modules, repeats=3):
    """CPU seconds a fresh interpreter spends importing ``modules`` (best of ``repeats``)."""
    best = float("inf")
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results")
    parser.add_argument("--overhead", action="store_true", help="measure each rule's per-job import cost")
    args = parser.parse_args(argv)
    table = rule_table(args.results)
    if args.overhead:
        per_job = {rule: import_cpu_seconds(mods) for rule, mods in RULE_IMPORTS.items()
                   if rule in set(table["rule"])}
        table["import_cpu_s_per_job"] = table["rule"].map(per_job)
        table["import_share"] = table["import_cpu_s_per_job"] * table["jobs"] / table["cpu_s"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    total = table["cpu_s"].sum()
    print(f"jobs={int(table['jobs'].sum())} cpu_s={total:.0f} job_wall_s={table['wall_s'].sum():.0f}")


if __name__ == "__main__":
    main()
