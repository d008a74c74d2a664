"""Command line: ``brainpipe <step> ...``, what the Snakemake rules call.

Every step follows one pattern: explicit input and output paths, a JSON
``--opts`` object holding the step's slice of the config (its keys are the
keyword arguments of the Python function behind the step), one worker call,
atomic writes. Errors about input data are printed as one clear message
naming the file, with exit status 2. The stages' subcommands are in
:mod:`brainpipe.commands` (one module per stage); this module assembles
them, keeps the few that belong to no stage (simulate, validate, report,
dataset-description) and picks matplotlib's backend, once.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ._check import BrainpipeInputError
from .commands import bci, eeg, imaging, models
from .commands._args import add_opts

logger = logging.getLogger("brainpipe")


# -- steps that belong to no stage ---------------------------------------------
# Each function takes the parsed arguments and does the work; imports are
# local so that `brainpipe --help` stays fast.


def _simulate(args):
    from .io.simulate import simulate_dataset

    opts = dict(args.opts)
    if args.subjects is not None:
        opts["n_subjects"] = args.subjects
        # a small --subjects should shrink the EEG subset too, not fail
        opts["n_eeg_subjects"] = min(opts.get("n_eeg_subjects", 3), args.subjects)
    path = simulate_dataset(args.output, seed=args.seed, **opts)
    print(f"Demo dataset written to {path}")


def _validate(args):
    from .io.validate.cli import run

    run(args)


def _report(args):
    from .report import build_group_report, build_subject_report

    if args.subject is None:
        build_group_report(args.fragments, args.output, tables=args.tables, subject_reports=args.subject_reports,
                           inputs=args.inputs, config_hash=args.config_hash, **args.opts)
    else:
        build_subject_report(args.subject, args.fragments, args.output, inputs=args.inputs,
                             config_hash=args.config_hash, tfm_tokenizer=args.tfm_tokenizer,
                             scores=args.tables, **args.opts)


def _dataset_description(args):
    from .io.derivatives import write_dataset_description

    write_dataset_description(args.output_dir, sources=args.sources)


#: Separates the steps of ``brainpipe steps``.
STEP_SEPARATOR = "++"


def split_steps(argv):
    """The step command lines of ``brainpipe steps A ... ++ B ...``.

    Parameters
    ----------
    argv : list of str
        Everything after ``steps``.

    Returns
    -------
    steps : list of list of str
        One ``brainpipe`` argument list per step, in order.
    """
    steps, current = [], []
    for token in list(argv) + [STEP_SEPARATOR]:
        if token != STEP_SEPARATOR:
            current.append(token)
            continue
        if not current:
            raise SystemExit(f"brainpipe steps: an empty step (two '{STEP_SEPARATOR}' in a row, or one at an end)")
        if current[0] == "steps":
            raise SystemExit("brainpipe steps: a step cannot be 'steps' itself")
        steps.append(current)
        current = []
    return steps


def _steps(args):
    # Several steps of one subject in one process: on the demo each step is
    # a second of work after seconds of imports (nilearn, matplotlib,
    # scipy.stats), which a job per step pays again; Snakemake's `group:`
    # does not help locally (it only bundles cluster submissions).
    parser = build_parser()
    steps = split_steps(args.commands)
    parsed = [parser.parse_args(step) for step in steps]  # every step's arguments checked first
    for k, step_args in enumerate(parsed, 1):
        # the step and its first input: which subject a batch job is at
        logger.info("step %d/%d: %s", k, len(parsed), " ".join(steps[k - 1][:3]))
        try:
            step_args.func(step_args)
        except BrainpipeInputError as err:
            raise BrainpipeInputError(f"{step_args.step}: {err}") from err


def build_parser():
    """Return the argument parser of the ``brainpipe`` command."""
    parser = argparse.ArgumentParser(prog="brainpipe", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="step", required=True, metavar="<step>")

    def add(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("simulate", _simulate, "write the simulated demo BIDS dataset")
    p.add_argument("--output", required=True, help="dataset folder (e.g. data/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed driving every random choice")
    p.add_argument("--subjects", type=int, default=None, help="number of subjects (fMRI/T1)")
    add_opts(p)

    p = add("validate", _validate, "check a BIDS input dataset (and a workflow config) up front")
    from .io.validate.cli import add_arguments as add_validate_arguments

    add_validate_arguments(p)

    # one module per stage holds its subcommands (brainpipe.commands)
    for module in (eeg, imaging, bci, models):
        module.register(add)

    # -- models: tfm --
    p = add("report", _report, "assemble one subject's (or the group) HTML report from fragments")
    p.add_argument("--subject", default=None, help="subject label without 'sub-' (none: group report)")
    p.add_argument("--output", required=True, help="report HTML")
    p.add_argument("fragments", nargs="*", help="fragment JSON files")
    p.add_argument("--inputs", nargs="*", default=[], help="input files checksummed in the provenance footer")
    p.add_argument("--tables", nargs="*", default=[],
                   help="group: per-subject key-number tables; subject: its BCI score tables (TFM section)")
    p.add_argument("--tfm-tokenizer", default=None, help="subject: the group TFM tokenizer (adds its section)")
    p.add_argument("--subject-reports", nargs="*", default=[], help="group: subject reports to link")
    p.add_argument("--config-hash", default=None, help="hash of the run's config (provenance footer)")
    add_opts(p)

    p = add("steps", _steps, f"run several steps in one process, in order: "
            f"brainpipe steps <step> ... {STEP_SEPARATOR} <step> ...")
    p.add_argument("commands", nargs=argparse.REMAINDER,
                   help=f"the steps' command lines, separated by '{STEP_SEPARATOR}'")

    p = add("dataset-description", _dataset_description, "write the derivatives dataset_description.json")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--sources", nargs="*", default=[])
    return parser


def main(argv=None):
    """Entry point of the ``brainpipe`` command."""
    args = build_parser().parse_args(argv)
    import matplotlib

    # the one place that picks matplotlib's backend: steps run headless
    matplotlib.use("Agg")
    from .io.atomic import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()  # a stopped step removes its temporary files
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        args.func(args)
    except BrainpipeInputError as err:
        print(f"brainpipe {args.step}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
