"""brainpipe: fMRI, EEG and structural MRI from raw files to features, BCI
evaluation, deep models and per-subject reports."""

__version__ = "0.1.0"
