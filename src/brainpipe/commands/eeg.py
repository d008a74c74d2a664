"""``brainpipe`` subcommands: EEG preprocessing and trial covariances.

Each handler takes the parsed arguments and calls the step's function with
its inputs, outputs and ``**args.opts`` (the step's slice of the config);
imports are local so that ``brainpipe --help`` stays fast.
"""

from __future__ import annotations

from ._args import add_fragment, add_opts, add_report_args


def _preprocess_eeg(args):
    from ..eeg.preprocess import preprocess_eeg_run

    preprocess_eeg_run(
        args.input, args.output, args.events, figure_dir=args.figure_dir, fragment=args.fragment, **args.opts
    )


def _eeg_covariances(args):
    from ..eeg.epochs import session_covariances

    session_covariances(args.runs, args.output, fragment=args.fragment, **args.opts)


def register(add):
    """Add this module's subcommands; ``add(name, handler, help)`` returns the subparser."""
    p = add("preprocess-eeg", _preprocess_eeg, "preprocess one BIDS EEG run with MNE")
    p.add_argument("--input", required=True, help="BIDS EEG recording")
    p.add_argument("--output", required=True, help="preprocessed FIF")
    p.add_argument("--events", required=True, help="events TSV")
    add_report_args(p)
    add_opts(p)

    p = add("eeg-covariances", _eeg_covariances, "trial covariance matrices of one EEG session")
    p.add_argument("--output", required=True, help="output .npz")
    add_fragment(p, "report fragment JSON to write")
    p.add_argument("runs", nargs="+", help="preprocessed runs of the session (FIF)")
    add_opts(p)
