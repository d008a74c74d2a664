"""``brainpipe validate``: its arguments and what it runs (``cli.py`` delegates here)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..._check import BrainpipeInputError

__all__ = ["add_arguments", "run"]


def _columns(text):
    """``"age,sex"`` -> ``["age", "sex"]`` (one comma list, or one column per word)."""
    return [c for c in (part.strip() for part in text.split(",")) if c]


class _Extend(argparse.Action):
    """Collect columns given as words, comma lists, or both."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = list(getattr(namespace, self.dest) or [])
        for value in values:
            current += value
        setattr(namespace, self.dest, current)


def add_arguments(parser):
    """Add the ``validate`` arguments to an argparse (sub)parser.

    ``validate ROOT --demographics age sex``, ``validate --demographics age
    sex -- ROOT`` and ``validate --demographics age,sex ROOT`` all work; the
    root may come before or after the options.
    """
    parser.add_argument("bids_root", help="root of the BIDS dataset")
    parser.add_argument(
        "--demographics", nargs="*", type=_columns, action=_Extend, default=None, metavar="COLUMN",
        help="participants.tsv columns required (words or one comma list; end the list with -- "
        "before the root). Default: with a config, the columns its enabled steps use; else age, sex")
    parser.add_argument("--official", action="store_true",
                        help="run the official BIDS validator (the default; kept for old scripts)")
    parser.add_argument("--no-official", action="store_true",
                        help="skip the official BIDS validator (bids-validator-deno)")
    parser.add_argument("--configfile", action="append", default=[], metavar="CONFIG",
                        help="workflow config YAML to check against the data (repeatable; merged over "
                        "./config/config.yaml when it exists, as snakemake --configfile merges)")
    parser.add_argument("--config-json", default=None, help="the merged workflow config as JSON")
    parser.add_argument("--config-env", default=None, metavar="NAME",
                        help="environment variable holding the merged config as JSON")
    parser.add_argument("--config-only", action="store_true",
                        help="check only the config (data not written yet, e.g. the simulated demo)")
    parser.add_argument("--headers-only", action="store_true",
                        help="check headers and file sizes only, do not read the samples")
    return parser


def _read_config(args):
    """The merged config the arguments name, or None."""
    from .config import load_config

    if args.config_env is not None:
        import os

        if args.config_env not in os.environ:
            raise BrainpipeInputError(f"--config-env: the environment variable {args.config_env} is not set")
        args.config_json = os.environ[args.config_env]
    if args.config_json is not None:
        try:
            return json.loads(args.config_json)
        except json.JSONDecodeError as err:
            raise BrainpipeInputError(f"--config-json: not valid JSON ({err})") from err
    if args.configfile:
        # merged over the workflow's default, as `snakemake --configfile` does
        base = Path("config/config.yaml")
        use_base = base.is_file() and all(Path(c).resolve() != base.resolve() for c in args.configfile)
        return load_config(args.configfile, base=base if use_base else None)
    return None


def run(args):
    """Run the checks the parsed arguments ask for; raise on problems, print the verdict.

    Warnings (configured stages the data leave out) are printed one a line,
    prefixed ``warning:``, and do not fail the check.
    """
    from .core import find_warnings, validate_bids, validate_config
    from .plan import normalise_evaluations

    config = _read_config(args)
    if args.config_only:
        if config is None:
            raise BrainpipeInputError("--config-only needs --configfile or --config-json")
        validate_config(config)
        for line in normalise_evaluations(config):
            print(f"config: warning: {line}")
        print("config: no problems found")
        return
    demographics = args.demographics
    if demographics is None and config is None:
        demographics = ["age", "sex"]
    validate_bids(args.bids_root, demographics=None if demographics is None else tuple(demographics),
                  official=not args.no_official, config=config, read_data=not args.headers_only)
    if config is not None:
        for line in normalise_evaluations(config):
            print(f"config: warning: {line}")
        for line in find_warnings(args.bids_root, config):
            print(f"{args.bids_root}: warning: {line}")
    print(f"{args.bids_root}: no problems found" + (" (with the config's checks)" if config else ""))
