"""Command line: ``brainpipe <step> ...``, what the Snakemake rules call.

Every step follows one pattern: explicit input and output paths, a JSON
``--opts`` object holding the step's slice of the config (its keys are the
keyword arguments of the Python function behind the step), one worker call,
atomic writes. Errors about input data are printed as one clear message
naming the file, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ._check import BrainpipeInputError

logger = logging.getLogger("brainpipe")


def _opts(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--opts is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--opts must be a JSON object")
    return value


def _torch_threads(n):
    """Give torch the job's threads (Snakemake's ``threads``), not every core."""
    if n:
        import torch

        torch.set_num_threads(int(n))


# -- steps -------------------------------------------------------------------
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


def _preprocess_eeg(args):
    from .eeg.preprocess import preprocess_eeg_run

    preprocess_eeg_run(
        args.input, args.output, args.events, figure_dir=args.figure_dir, fragment=args.fragment, **args.opts
    )


def _eeg_covariances(args):
    from .eeg.epochs import session_covariances

    session_covariances(args.runs, args.output, fragment=args.fragment, **args.opts)


def _fmri_timeseries(args):
    from .fmri.timeseries import extract_timeseries

    extract_timeseries(
        args.bold, args.atlas, args.labels, args.output, confounds=args.confounds,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_connectivity(args):
    from .fmri.connectivity import subject_connectivity

    if len(args.kinds) != len(args.outputs):
        raise SystemExit(f"--kinds has {len(args.kinds)} entries but --outputs has {len(args.outputs)}")
    subject_connectivity(
        args.timeseries, dict(zip(args.kinds, args.outputs)), atlas_labels=args.labels,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_group(args):
    from .fmri.connectivity import group_connectivity

    group_connectivity(
        args.timeseries, args.outputs, args.group, atlas_labels=args.labels,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_dynamic(args):
    from .fmri.dynamic import dynamic_connectivity

    dynamic_connectivity(
        args.timeseries, args.states, args.metrics, out_labels_tsv=args.labels_out,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_graph(args):
    from .fmri.graph import graph_features

    graph_features(
        args.relmat, args.nodes, out_network_tsv=args.network, atlas_labels=args.labels,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fmri_predict(args):
    from .fmri.prediction import predict_demographics

    predict_demographics(
        args.relmats, args.participants, args.output, out_predictions_tsv=args.predictions,
        figure=args.figure, fragment=args.fragment, **args.opts,
    )


def _fetch_atlas(args):
    from .fmri.atlases import fetch_atlas

    fetch_atlas(args.name, args.maps, args.labels, **args.opts)


def _mri_qc(args):
    from .mri.qc import t1_qc

    t1_qc(
        args.t1, args.mask, args.metrics, figure=args.figure, figure_background=args.figure_background,
        fragment=args.fragment, **args.opts,
    )


def _bci_offline(args):
    from .bci.offline import run_offline

    source = args.bids_root if args.bids_root else args.inputs
    run_offline(source, args.subject, args.output, config=args.opts, fragment=args.fragment, seed=args.seed)


def _bci_pseudo_online(args):
    from .bci.pseudo_online import run_pseudo_online

    source = args.bids_root if args.bids_root else args.inputs
    run_pseudo_online(source, args.subject, args.output, config=args.opts, fragment=args.fragment)


def _bci_pseudo_online_group(args):
    from .bci.pseudo_online import run_pseudo_online_group

    run_pseudo_online_group(args.inputs, args.output, args.figure, fragment=args.fragment)


# -- model steps: demovae --
def _demovae_fit(args):
    from .models.demovae_steps import fit_step

    _torch_threads(args.threads)
    fit_step(args.relmats, args.participants, args.model, args.training, args.latents,
             checkpoint_dir=args.checkpoint_dir, curves_figure=args.curves, correlation_figure=args.correlations,
             fragment=args.fragment, **args.opts)


def _demovae_generate(args):
    from .models.demovae_steps import generate_step

    _torch_threads(args.threads)
    generate_step(args.model, args.relmats, args.participants, args.output, figure=args.figure,
                  fragment=args.fragment, subject_figures=args.subject_figures or (),
                  subject_fragments=args.subject_fragments or (), **args.opts)


def _demovae_harmonize(args):
    from .models.demovae_steps import harmonize_step

    _torch_threads(args.threads)
    harmonize_step(args.model, args.relmats, args.participants, args.outputs, args.output,
                   figure=args.figure, fragment=args.fragment, **args.opts)


# -- model steps: brainmae --
def _brainmae_pretrain(args):
    from .models.brainmae_steps import pretrain_brainmae

    _torch_threads(args.threads)
    if len(args.bolds) != len(args.timeseries):
        raise SystemExit(f"--bolds has {len(args.bolds)} files but --timeseries has {len(args.timeseries)}")
    pretrain_brainmae(
        args.timeseries, args.bolds, args.model, out_training_tsv=args.training,
        out_reconstruction_tsv=args.reconstruction, out_similarity_tsv=args.similarity,
        out_embeddings_npz=args.embeddings, atlas_labels=args.labels, figure_training=args.curves,
        figure_similarity=args.similarity_figure, fragment=args.fragment, checkpoint_dir=args.checkpoint_dir,
        **args.opts,
    )


def _brainmae_probe(args):
    from .models.brainmae_steps import probe_brainmae

    _torch_threads(args.threads)
    probe_brainmae(args.model, args.timeseries, args.participants, args.output,
                   out_predictions_tsv=args.predictions, figure=args.figure, fragment=args.fragment, **args.opts)


def _brainmae_subject(args):
    from .models.brainmae_steps import brainmae_subject_figure

    _torch_threads(args.threads)
    brainmae_subject_figure(args.model, args.timeseries, args.bold, args.figure, args.fragment, **args.opts)


# -- model steps: tfm --
def _tfm_tokenizer(args):
    from .models.tfm_steps import train_group_tokenizer

    _torch_threads(args.threads)
    train_group_tokenizer(args.runs, args.model, args.training, figure_dir=args.figure_dir,
                          fragment=args.fragment, **args.opts)


def _report(args):
    from .report.subject import build_group_report, build_subject_report

    if args.subject is None:
        build_group_report(args.fragments, args.output, **args.opts)
    else:
        build_subject_report(args.subject, args.fragments, args.output, **args.opts)


def _dataset_description(args):
    from .io.derivatives import write_dataset_description

    write_dataset_description(args.output_dir, sources=args.sources)


def build_parser():
    """Return the argument parser of the ``brainpipe`` command."""
    parser = argparse.ArgumentParser(prog="brainpipe", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="step", required=True, metavar="<step>")

    def add(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    def add_opts(p):
        p.add_argument("--opts", type=_opts, default={}, help="JSON object of step options (the config slice)")

    def add_report_args(p):
        p.add_argument("--figure-dir", default=None, help="folder for figures")
        p.add_argument("--fragment", default=None, help="report fragment JSON to write")

    p = add("simulate", _simulate, "write the simulated demo BIDS dataset")
    p.add_argument("--output", required=True, help="dataset folder (e.g. data/demo)")
    p.add_argument("--seed", type=int, default=0, help="seed driving every random choice")
    p.add_argument("--subjects", type=int, default=None, help="number of subjects (fMRI/T1)")
    add_opts(p)

    p = add("validate", _validate, "check a BIDS input dataset (and a workflow config) up front")
    from .io.validate.cli import add_arguments as add_validate_arguments

    add_validate_arguments(p)

    p = add("preprocess-eeg", _preprocess_eeg, "preprocess one BIDS EEG run with MNE")
    p.add_argument("--input", required=True, help="BIDS EEG recording")
    p.add_argument("--output", required=True, help="preprocessed FIF")
    p.add_argument("--events", required=True, help="events TSV")
    add_report_args(p)
    add_opts(p)

    p = add("eeg-covariances", _eeg_covariances, "trial covariance matrices of one EEG session")
    p.add_argument("--output", required=True, help="output .npz")
    p.add_argument("--fragment", default=None, help="report fragment JSON to write")
    p.add_argument("runs", nargs="+", help="preprocessed runs of the session (FIF)")
    add_opts(p)

    p = add("fmri-timeseries", _fmri_timeseries, "denoised regional time series of one BOLD run (nilearn)")
    p.add_argument("--bold", required=True, help="4D BOLD NIfTI")
    p.add_argument("--atlas", required=True, help="atlas labels image")
    p.add_argument("--labels", required=True, help="atlas label table TSV")
    p.add_argument("--confounds", default=None, help="confounds TSV (fMRIPrep-style)")
    p.add_argument("--output", required=True, help="time series TSV")
    p.add_argument("--figure", default=None, help="carpet plot PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    add_opts(p)

    p = add("fmri-connectivity", _fmri_connectivity, "per-subject functional connectivity (nilearn)")
    p.add_argument("--timeseries", required=True, help="regional time series TSV")
    p.add_argument("--labels", default=None, help="atlas label table TSV (network order)")
    p.add_argument("--kinds", type=json.loads, required=True, help='JSON list, e.g. ["correlation"]')
    p.add_argument("--outputs", nargs="+", required=True, help="one relmat TSV per kind, same order")
    p.add_argument("--figure", default=None, help="matrix figure PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    add_opts(p)

    p = add("fmri-group-connectivity", _fmri_group, "connectivity fitted across subjects (tangent)")
    p.add_argument("--timeseries", nargs="+", required=True, help="time series TSVs, one per subject")
    p.add_argument("--outputs", nargs="+", required=True, help="one relmat TSV per subject, same order")
    p.add_argument("--group", required=True, help="group mean relmat TSV")
    p.add_argument("--labels", default=None, help="atlas label table TSV")
    p.add_argument("--figure", default=None, help="group figure PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    add_opts(p)

    p = add("fmri-dynamic", _fmri_dynamic, "sliding-window FC, group dFC states, dwell times, transitions")
    p.add_argument("--timeseries", nargs="+", required=True, help="time series TSVs, one per subject")
    p.add_argument("--states", required=True, help="states .npz")
    p.add_argument("--metrics", required=True, help="per-subject state metrics TSV")
    p.add_argument("--labels-out", default=None, help="window state labels TSV")
    p.add_argument("--figure", default=None, help="states figure PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    add_opts(p)

    p = add("fmri-graph", _fmri_graph, "graph features of one connectivity matrix")
    p.add_argument("--relmat", required=True, help="relmat TSV")
    p.add_argument("--nodes", required=True, help="node features TSV")
    p.add_argument("--network", default=None, help="network features TSV")
    p.add_argument("--labels", default=None, help="atlas label table TSV")
    p.add_argument("--figure", default=None, help="figure PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    add_opts(p)

    p = add("fmri-predict", _fmri_predict, "predict demographics from FC (site-aware CV, permutations)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="results TSV")
    p.add_argument("--predictions", default=None, help="out-of-fold predictions TSV")
    p.add_argument("--figure", default=None, help="figure PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
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
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    add_opts(p)

    p = add("bci-offline", _bci_offline, "offline (epoch-based, MOABB) BCI evaluation of one subject")
    p.add_argument("--subject", required=True, help="subject label without 'sub-'")
    p.add_argument("--bids-root", default=None, help="read the subject from this BIDS root instead of FIF files")
    p.add_argument("--output", required=True, help="scores TSV")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation splits")
    p.add_argument("inputs", nargs="*", help="preprocessed runs (FIF) of the subject")
    add_opts(p)

    p = add("bci-pseudo-online", _bci_pseudo_online, "pseudo-online (sliding-window) BCI evaluation of one subject")
    p.add_argument("--subject", required=True, help="subject label without 'sub-'")
    p.add_argument("--bids-root", default=None, help="read the subject's raw runs from this BIDS root")
    p.add_argument("--output", required=True, help="scores TSV")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    p.add_argument("inputs", nargs="*", help="preprocessed runs (FIF) of the subject")
    add_opts(p)

    p = add("bci-pseudo-online-group", _bci_pseudo_online_group, "offline vs pseudo-online across subjects")
    p.add_argument("--output", required=True, help="statistics TSV")
    p.add_argument("--figure", required=True, help="group figure PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    p.add_argument("inputs", nargs="+", help="per-subject pseudo-online scores TSVs")

    # -- models: demovae --
    p = add("demovae-fit", _demovae_fit, "train DemoVAE on every subject's FC and demographics")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--model", required=True, help="model file to write (.pt)")
    p.add_argument("--training", required=True, help="per-epoch training metrics TSV")
    p.add_argument("--latents", required=True, help="per-subject latents TSV")
    p.add_argument("--curves", default=None, help="training curves PNG")
    p.add_argument("--correlations", default=None, help="latent-demographic correlation PNG")
    p.add_argument("--fragment", default=None, help="report fragment JSON")
    p.add_argument("--checkpoint-dir", default=None, help="folder for the resumable checkpoint")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("relmats", nargs="+", help="Pearson FC relmat TSVs, one per subject")
    add_opts(p)

    p = add("demovae-generate", _demovae_generate, "synthetic FC from DemoVAE: figures and fidelity table")
    p.add_argument("--model", required=True, help="DemoVAE model (.pt)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="faithful-synthesis table TSV")
    p.add_argument("--figure", default=None, help="group figure PNG")
    p.add_argument("--fragment", default=None, help="group report fragment JSON")
    p.add_argument("--subject-figures", nargs="*", default=None, help="one PNG per relmat")
    p.add_argument("--subject-fragments", nargs="*", default=None, help="one fragment per relmat")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--relmats", nargs="+", required=True, help="Pearson FC relmat TSVs")
    add_opts(p)

    p = add("demovae-harmonize", _demovae_harmonize, "DemoVAE harmonization to a reference site")
    p.add_argument("--model", required=True, help="DemoVAE model (.pt)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="harmonization scores TSV")
    p.add_argument("--outputs", nargs="+", required=True, help="harmonized relmat TSVs, one per input")
    p.add_argument("--figure", default=None, help="figure PNG")
    p.add_argument("--fragment", default=None, help="group report fragment JSON")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--relmats", nargs="+", required=True, help="Pearson FC relmat TSVs")
    add_opts(p)

    # -- models: brainmae --
    p = add("brainmae-pretrain", _brainmae_pretrain, "pretrain BrainMAE on every subject's ROI time series")
    p.add_argument("--model", required=True, help="model file to write (.pt)")
    p.add_argument("--training", required=True, help="per-epoch training metrics TSV")
    p.add_argument("--reconstruction", required=True, help="held-out masked reconstruction error TSV")
    p.add_argument("--similarity", required=True, help="ROI-embedding similarity vs FC TSV")
    p.add_argument("--embeddings", default=None, help="ROI embeddings and matrices .npz")
    p.add_argument("--labels", default=None, help="atlas label table TSV (network order in figures)")
    p.add_argument("--curves", default=None, help="training curves PNG")
    p.add_argument("--similarity-figure", default=None, help="embedding similarity vs FC PNG")
    p.add_argument("--fragment", default=None, help="group report fragment JSON")
    p.add_argument("--checkpoint-dir", default=None, help="folder for the resumable checkpoint")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--bolds", nargs="+", required=True, help="BOLD runs (their JSON sidecars give the TR)")
    p.add_argument("--timeseries", nargs="+", required=True, help="ROI time series TSVs, same order")
    add_opts(p)

    p = add("brainmae-probe", _brainmae_probe, "linear probes: BrainMAE vs random init vs FC + ridge")
    p.add_argument("--model", required=True, help="BrainMAE model (.pt)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="scores TSV")
    p.add_argument("--predictions", default=None, help="out-of-fold predictions TSV")
    p.add_argument("--figure", default=None, help="scores PNG")
    p.add_argument("--fragment", default=None, help="group report fragment JSON")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--timeseries", nargs="+", required=True, help="ROI time series TSVs")
    add_opts(p)

    p = add("brainmae-subject", _brainmae_subject, "one subject's masked segment and its BrainMAE reconstruction")
    p.add_argument("--model", required=True, help="BrainMAE model (.pt)")
    p.add_argument("--timeseries", required=True, help="the subject's ROI time series TSV")
    p.add_argument("--bold", required=True, help="the subject's BOLD (its sidecar gives the TR)")
    p.add_argument("--figure", required=True, help="PNG to write")
    p.add_argument("--fragment", default=None, help="subject report fragment JSON")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_opts(p)

    # -- models: tfm --
    p = add("tfm-tokenizer", _tfm_tokenizer, "train the group TFM EEG tokenizer on every preprocessed run")
    p.add_argument("--model", required=True, help="tokenizer file to write (.pt)")
    p.add_argument("--training", required=True, help="per-epoch training metrics TSV")
    p.add_argument("--figure-dir", default=None, help="folder for the figures (default: the fragment's)")
    p.add_argument("--fragment", default=None, help="group report fragment JSON")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("runs", nargs="+", help="preprocessed EEG runs (FIF) of every subject")
    add_opts(p)

    p = add("report", _report, "assemble one subject's (or the group) HTML report from fragments")
    p.add_argument("--subject", default=None, help="subject label without 'sub-' (none: group report)")
    p.add_argument("--output", required=True, help="report HTML")
    p.add_argument("fragments", nargs="*", help="fragment JSON files")
    add_opts(p)

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
