"""The argument helpers every ``brainpipe`` subcommand uses (one definition of each option)."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_figure_dir", "add_fragment", "add_opts", "add_report_args", "add_threads",
           "json_options", "torch_threads"]


def json_options(text):
    """``--opts`` value: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--opts is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--opts must be a JSON object")
    return value


def add_opts(p):
    """``--opts``: the step's slice of the config, as JSON."""
    p.add_argument("--opts", type=json_options, default={}, help="JSON object of step options (the config slice)")


def add_fragment(p, help="report fragment JSON to write", *, many=False):
    """``--fragment``: the report fragment the step writes (``many``: one per
    subject of a step that handles several, in their order)."""
    p.add_argument("--fragment", default=None, help=help, **({"nargs": "+"} if many else {}))


def add_figure_dir(p, help="folder for figures"):
    """``--figure-dir``: where the step writes its figures."""
    p.add_argument("--figure-dir", default=None, help=help)


def add_report_args(p):
    """``--figure-dir`` and ``--fragment``."""
    add_figure_dir(p)
    add_fragment(p)


def add_threads(p):
    """``--threads``: torch CPU threads (Snakemake's ``threads``)."""
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def torch_threads(n):
    """Give torch the job's threads (Snakemake's ``threads``), not every core."""
    if n:
        import torch

        torch.set_num_threads(int(n))
