"""``brainpipe`` subcommands: fMRI features, atlases and the T1 QC.

Each handler takes the parsed arguments and calls the step's function with
its inputs, outputs and ``**args.opts`` (the step's slice of the config);
imports are local so that ``brainpipe --help`` stays fast.
"""

from __future__ import annotations

import json

from ._args import add_fragment, add_opts


def _fmri_timeseries(args):
    from ..fmri.timeseries import extract_timeseries

    extract_timeseries(
        args.bold, args.atlas, args.labels, args.output, confounds=args.confounds,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_connectivity(args):
    from ..fmri.connectivity import subject_connectivity

    if len(args.kinds) != len(args.outputs):
        raise SystemExit(f"--kinds has {len(args.kinds)} entries but --outputs has {len(args.outputs)}")
    subject_connectivity(
        args.timeseries, dict(zip(args.kinds, args.outputs)), atlas_labels=args.labels,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_group(args):
    from ..fmri.connectivity import group_connectivity

    group_connectivity(
        args.timeseries, args.outputs, args.group, atlas_labels=args.labels,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_dynamic(args):
    from ..fmri.dynamic import dynamic_connectivity

    dynamic_connectivity(
        args.timeseries, args.states, args.metrics, out_labels_tsv=args.labels_out,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_graph(args):
    from ..fmri.graph import graph_features

    graph_features(
        args.relmat, args.nodes, out_network_tsv=args.network, atlas_labels=args.labels,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_predict(args):
    from ..fmri.prediction import predict_demographics

    predict_demographics(
        args.relmats, args.participants, args.output, out_predictions_tsv=args.predictions,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fetch_atlas(args):
    from ..fmri.atlases import fetch_atlas

    fetch_atlas(args.name, args.maps, args.labels, **args.opts)


def _mri_qc(args):
    from ..mri.qc import t1_qc

    t1_qc(
        args.t1, args.mask, args.metrics, figure=args.figure, figure_background=args.figure_background,
        fragment=args.fragment, **args.opts,
    )


def register(add):
    """Add this module's subcommands; ``add(name, handler, help)`` returns the subparser."""
    p = add("fmri-timeseries", _fmri_timeseries, "denoised regional time series of one BOLD run (nilearn)")
    p.add_argument("--bold", required=True, help="4D BOLD NIfTI")
    p.add_argument("--atlas", required=True, help="atlas labels image")
    p.add_argument("--labels", required=True, help="atlas label table TSV")
    p.add_argument("--confounds", default=None, help="confounds TSV (fMRIPrep-style)")
    p.add_argument("--output", required=True, help="time series TSV")
    p.add_argument("--figure", default=None, help="carpet plot PNG")
    add_fragment(p, "report fragment JSON")
    add_opts(p)

    p = add("fmri-connectivity", _fmri_connectivity, "per-subject functional connectivity (nilearn)")
    p.add_argument("--timeseries", required=True, help="regional time series TSV")
    p.add_argument("--labels", default=None, help="atlas label table TSV (network order)")
    p.add_argument("--kinds", type=json.loads, required=True, help='JSON list, e.g. ["correlation"]')
    p.add_argument("--outputs", nargs="+", required=True, help="one relmat TSV per kind, same order")
    p.add_argument("--figure", default=None, help="matrix figure PNG")
    add_fragment(p, "report fragment JSON")
    add_opts(p)

    p = add("fmri-group-connectivity", _fmri_group, "connectivity fitted across subjects (tangent)")
    p.add_argument("--timeseries", nargs="+", required=True, help="time series TSVs, one per subject")
    p.add_argument("--outputs", nargs="+", required=True, help="one relmat TSV per subject, same order")
    p.add_argument("--group", required=True, help="group mean relmat TSV")
    p.add_argument("--labels", default=None, help="atlas label table TSV")
    p.add_argument("--figure", default=None, help="group figure PNG")
    add_fragment(p, "report fragment JSON")
    add_opts(p)

    p = add("fmri-dynamic", _fmri_dynamic, "sliding-window FC, group dFC states, dwell times, transitions")
    p.add_argument("--timeseries", nargs="+", required=True, help="time series TSVs, one per subject")
    p.add_argument("--states", required=True, help="states .npz")
    p.add_argument("--metrics", required=True, help="per-subject state metrics TSV")
    p.add_argument("--labels-out", default=None, help="window state labels TSV")
    p.add_argument("--figure", default=None, help="states figure PNG")
    add_fragment(p, "report fragment JSON")
    add_opts(p)

    p = add("fmri-graph", _fmri_graph, "graph features of one connectivity matrix")
    p.add_argument("--relmat", required=True, help="relmat TSV")
    p.add_argument("--nodes", required=True, help="node features TSV")
    p.add_argument("--network", default=None, help="network features TSV")
    p.add_argument("--labels", default=None, help="atlas label table TSV")
    p.add_argument("--figure", default=None, help="figure PNG")
    add_fragment(p, "report fragment JSON")
    add_opts(p)

    p = add("fmri-predict", _fmri_predict, "predict demographics from FC (site-aware CV, permutations)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="results TSV")
    p.add_argument("--predictions", default=None, help="out-of-fold predictions TSV")
    p.add_argument("--figure", default=None, help="figure PNG")
    add_fragment(p, "report fragment JSON")
    p.add_argument("relmats", nargs="+", help="one relmat TSV per subject")
    add_opts(p)

    p = add("fetch-atlas", _fetch_atlas, "fetch an atlas with nilearn (schaefer, harvard_oxford, power264)")
    p.add_argument("--name", required=True, help="schaefer, harvard_oxford or power264")
    p.add_argument("--maps", required=True, help="labels NIfTI to write")
    p.add_argument("--labels", required=True, help="label table TSV to write")
    add_opts(p)

    p = add("mri-qc", _mri_qc, "brain mask and MRIQC-style quality metrics of a T1w image")
    p.add_argument("--t1", required=True, help="T1w NIfTI")
    p.add_argument("--mask", required=True, help="brain mask NIfTI")
    p.add_argument("--metrics", required=True, help="metrics TSV")
    p.add_argument("--figure", default=None, help="mosaic PNG")
    p.add_argument("--figure-background", default=None, help="background-stretched mosaic PNG")
    add_fragment(p, "report fragment JSON")
    add_opts(p)
