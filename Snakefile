# brainpipe: raw fMRI, EEG and T1 -> features, BCI evaluation, per-subject reports.
# Run `snakemake --cores N` here; profiles/default is loaded automatically.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
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
