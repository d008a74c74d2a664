"""Workflow config files: reading and merging them as ``snakemake --configfile`` does."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from ..._check import BrainpipeInputError

#: Mappings under these keys replace the default mapping whole instead of
#: being merged into it: a user's list of pipelines is the list that runs.
REPLACED_KEYS = ("pipelines",)


def merge_config(base, override):
    """Merge ``override`` over ``base`` as the workflow merges ``--configfile``.

    Nested dictionaries are merged key by key (Snakemake's rule), except the
    mappings named in :data:`REPLACED_KEYS` (``pipelines``), which replace the
    default mapping whole; every other value (lists included) replaces the
    base value.
    """
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in REPLACED_KEYS:
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def replace_whole_mappings(config, overrides):
    """Give ``config`` (already merged by Snakemake) the user's ``pipelines`` mappings whole.

    Snakemake merges every nested mapping of a ``--configfile`` into the
    default config, so a user listing two pipelines would also run the
    defaults. For each override (a parsed config file, in order), every
    mapping under a key of :data:`REPLACED_KEYS` is copied over the merged
    value. Modifies and returns ``config``.
    """

    def walk(target, source):
        for key, value in source.items():
            if key in REPLACED_KEYS and isinstance(target, dict):
                target[key] = copy.deepcopy(value)
            elif isinstance(value, dict) and isinstance(target.get(key), dict):
                walk(target[key], value)

    for override in overrides:
        if isinstance(override, dict):
            walk(config, override)
    return config


def load_config(configfiles, *, base=None):
    """Read and merge config YAML files, in order, over ``base``.

    Parameters
    ----------
    configfiles : sequence of path-like
        YAML (or JSON) files, later ones winning.
    base : dict | path-like | None
        Config (or file) the others are merged over, e.g. the workflow's
        ``config/config.yaml``.

    Returns
    -------
    config : dict
    """
    import yaml

    def read(path):
        path = Path(path)
        if not path.is_file():
            raise BrainpipeInputError(f"{path}: config file does not exist")
        try:
            # JSON through json: PyYAML reads JSON's 1e-07 as a string
            value = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        except (yaml.YAMLError, json.JSONDecodeError) as err:
            raise BrainpipeInputError(f"{path}: not valid YAML/JSON ({err})") from err
        if not isinstance(value, dict):
            raise BrainpipeInputError(f"{path}: a config must be a mapping of keys to values")
        return value

    config = read(base) if isinstance(base, (str, os.PathLike)) else dict(base or {})
    for path in configfiles:
        config = merge_config(config, read(path))
    return config


