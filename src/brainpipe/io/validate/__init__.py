"""Up-front checks of a BIDS input dataset and of a workflow config.

``brainpipe validate BIDS_ROOT [--configfile CONFIG]`` runs them, and the
workflow runs it first (``onstart``), so that a problem visible before any
work is reported in seconds, with the file (or config key) named, instead of
minutes in, after preprocessing. What is checked (each check is a row of
``docs/bad_inputs.md``):

* the dataset: ``dataset_description.json``, every JSON and TSV file parses,
  file and folder names are valid BIDS entity values (alphanumeric labels;
  no spaces or shell syntax), no symlink or file reference (BrainVision
  ``DataFile``/``MarkerFile``, ``scans.tsv`` filenames, ``IntendedFor``)
  leaves the dataset root;
* participants.tsv: the demographic columns, unique ids, numeric and
  possible ages, every subject folder listed;
* EEG: events present, with numeric onsets and task events; the data on
  disk as long as the header and sidecar say (:mod:`brainpipe.eeg.integrity`);
  no NaN/inf samples; not mostly flat;
* BOLD and T1w: readable NIfTI (the compressed stream read to its end),
  4-D BOLD with a positive TR in seconds, 3-D T1w;
* with a config: what the configured workflow implies: filter edges below
  the Nyquist frequency of each recording, band edges and epoch windows in
  order, pipelines that exist and build, ACM orders and lags that fit the
  windows, a BOLD long enough for the high-pass and the dFC window, the
  atlas readable and overlapping the BOLD, the confounds with the configured
  columns and one row per volume, the prediction targets in participants.tsv.

The official BIDS validator (``bids-validator-deno``) runs too when asked.

Modules: :mod:`.tree` (the dataset as files), :mod:`.recordings` (EEG runs,
NIfTI images), :mod:`.eeg_settings` and :mod:`.fmri_settings` (the config
against the data), :mod:`.config` (reading and merging config files),
:mod:`.core` (the entry points) and :mod:`.cli` (``brainpipe validate``).
"""

from .config import REPLACED_KEYS, load_config, merge_config, replace_whole_mappings
from .core import (
    config_problems,
    find_problems,
    find_warnings,
    run_bids_validator,
    validate_bids,
    validate_config,
    validator_errors,
)
from .tree import _events_problems, name_problems  # noqa: F401  (_events_problems: tests)

__all__ = [
    "REPLACED_KEYS",
    "config_problems",
    "find_problems",
    "find_warnings",
    "load_config",
    "merge_config",
    "name_problems",
    "replace_whole_mappings",
    "run_bids_validator",
    "validate_bids",
    "validate_config",
    "validator_errors",
]
