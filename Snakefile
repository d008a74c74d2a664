# brainpipe: raw fMRI, EEG and T1 -> features, BCI evaluation, per-subject reports.
# Run `snakemake --cores N` here; profiles/default is loaded automatically.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


# `snakemake --report results/snakemake_report.html`: the figures the rules tag
# with report() (captions under workflow/report/).
report: "workflow/report/workflow.rst"


# The rules call `brainpipe`: the one installed beside the Python running
# Snakemake comes first on PATH, so `.venv/bin/snakemake` works without
# activating the venv. One BLAS/OpenMP thread per job unless the caller set
# it (jobs run in parallel; Snakemake's threads are the parallelism).
from brainpipe._runtime import prepare_job_environment

prepare_job_environment()


# --configfile: nested mappings merge into the defaults key by key, except
# `pipelines:` mappings, which replace the default ones whole (the pipelines a
# user lists are the ones that run); docs in README "Your own data".
import yaml
from brainpipe.io.validate import replace_whole_mappings

replace_whole_mappings(config, [yaml.safe_load(open(f)) for f in workflow.overwrite_configfiles or ()])


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/subject_steps.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/bci.smk"
include: "workflow/rules/models_demovae.smk"
include: "workflow/rules/models_brainmae.smk"
include: "workflow/rules/models_tfm.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
