"""``brainpipe`` subcommands: offline and pseudo-online BCI evaluation.

Each handler takes the parsed arguments and calls the step's function with
its inputs, outputs and ``**args.opts`` (the step's slice of the config);
imports are local so that ``brainpipe --help`` stays fast.
"""

from __future__ import annotations

from ._args import add_fragment, add_opts


def _bci_offline(args):
    from ..bci.offline import run_offline

    source = args.bids_root if args.bids_root else args.inputs
    run_offline(source, args.subject, args.output, fragment=args.fragment, seed=args.seed, **args.opts)


def _bci_pseudo_online(args):
    from ..bci.pseudo_online import run_pseudo_online

    if args.bids_root:  # the raw runs it names, read through the BIDS root (sidecars, events)
        run_pseudo_online(args.bids_root, args.subject, args.output, fragment=args.fragment,
                          recordings=args.inputs or None, **args.opts)
    else:
        run_pseudo_online(args.inputs, args.subject, args.output, fragment=args.fragment, **args.opts)


def _bci_pseudo_online_group(args):
    from ..bci.pseudo_online import run_pseudo_online_group

    run_pseudo_online_group(args.inputs, args.output, args.figure, fragment=args.fragment)


def register(add):
    """Add this module's subcommands; ``add(name, handler, help)`` returns the subparser."""
    p = add("bci-offline", _bci_offline, "offline (epoch-based, MOABB) BCI evaluation of one subject")
    p.add_argument("--subject", required=True, help="subject label without 'sub-'")
    p.add_argument("--bids-root", default=None, help="read the subject from this BIDS root instead of FIF files")
    p.add_argument("--output", required=True, help="scores TSV")
    add_fragment(p, "report fragment JSON")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation splits")
    p.add_argument("inputs", nargs="*", help="preprocessed runs (FIF) of the subject")
    add_opts(p)

    p = add("bci-pseudo-online", _bci_pseudo_online, "pseudo-online (sliding-window) BCI evaluation of one subject")
    p.add_argument("--subject", required=True, help="subject label without 'sub-'")
    p.add_argument("--bids-root", default=None, help="read the subject's raw runs from this BIDS root")
    p.add_argument("--output", required=True, help="scores TSV")
    add_fragment(p, "report fragment JSON")
    p.add_argument("inputs", nargs="*",
                   help="the subject's runs: preprocessed FIF files, or with --bids-root the raw recordings to "
                        "evaluate (default: every run in the root)")
    add_opts(p)

    p = add("bci-pseudo-online-group", _bci_pseudo_online_group, "offline vs pseudo-online across subjects")
    p.add_argument("--output", required=True, help="statistics TSV")
    p.add_argument("--figure", required=True, help="group figure PNG")
    add_fragment(p, "report fragment JSON")
    p.add_argument("inputs", nargs="+", help="per-subject pseudo-online scores TSVs")
