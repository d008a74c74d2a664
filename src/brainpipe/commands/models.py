"""``brainpipe`` subcommands: the deep models (DemoVAE, BrainMAE, TFM tokenizer).

Each handler takes the parsed arguments and calls the step's function with
its inputs, outputs and ``**args.opts`` (the step's slice of the config);
imports are local so that ``brainpipe --help`` stays fast.
"""

from __future__ import annotations

from ._args import add_figure_dir, add_fragment, add_opts, add_threads, torch_threads


def _demovae_fit(args):
    from ..models.demovae_steps import fit_step

    torch_threads(args.threads)
    fit_step(args.relmats, args.participants, args.model, args.training, args.latents,
             checkpoint_dir=args.checkpoint_dir, curves_figure=args.curves, correlation_figure=args.correlations,
             fragment=args.fragment, **args.opts)


def _demovae_generate(args):
    from ..models.demovae_steps import generate_step

    torch_threads(args.threads)
    generate_step(args.model, args.relmats, args.participants, args.output, figure=args.figure,
                  fragment=args.fragment, subject_figures=args.subject_figures or (),
                  subject_fragments=args.subject_fragments or (), **args.opts)


def _demovae_harmonize(args):
    from ..models.demovae_steps import harmonize_step

    torch_threads(args.threads)
    harmonize_step(args.model, args.relmats, args.participants, args.outputs, args.output,
                   figure=args.figure, fragment=args.fragment, **args.opts)


def _brainmae_pretrain(args):
    from ..models.brainmae_steps import pretrain_brainmae

    torch_threads(args.threads)
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
    from ..models.brainmae_steps import probe_brainmae

    torch_threads(args.threads)
    probe_brainmae(args.model, args.timeseries, args.participants, args.output,
                   out_predictions_tsv=args.predictions, figure=args.figure, fragment=args.fragment, **args.opts)


def _brainmae_subject(args):
    from ..models.brainmae_subject import brainmae_subject_figures

    torch_threads(args.threads)
    brainmae_subject_figures(args.model, args.timeseries, args.bold, args.figure, args.fragment, **args.opts)


def _tfm_tokenizer(args):
    from ..models.tfm_steps import train_group_tokenizer

    torch_threads(args.threads)
    train_group_tokenizer(args.runs, args.model, args.training, figure_dir=args.figure_dir,
                          fragment=args.fragment, **args.opts)


def register(add):
    """Add this module's subcommands; ``add(name, handler, help)`` returns the subparser."""
    p = add("demovae-fit", _demovae_fit, "train DemoVAE on every subject's FC and demographics")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--model", required=True, help="model file to write (.pt)")
    p.add_argument("--training", required=True, help="per-epoch training metrics TSV")
    p.add_argument("--latents", required=True, help="per-subject latents TSV")
    p.add_argument("--curves", default=None, help="training curves PNG")
    p.add_argument("--correlations", default=None, help="latent-demographic correlation PNG")
    add_fragment(p, "report fragment JSON")
    p.add_argument("--checkpoint-dir", default=None, help="folder for the resumable checkpoint")
    add_threads(p)
    p.add_argument("relmats", nargs="+", help="Pearson FC relmat TSVs, one per subject")
    add_opts(p)

    p = add("demovae-generate", _demovae_generate, "synthetic FC from DemoVAE: figures and fidelity table")
    p.add_argument("--model", required=True, help="DemoVAE model (.pt)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="faithful-synthesis table TSV")
    p.add_argument("--figure", default=None, help="group figure PNG")
    add_fragment(p, "group report fragment JSON")
    p.add_argument("--subject-figures", nargs="*", default=None, help="one PNG per relmat")
    p.add_argument("--subject-fragments", nargs="*", default=None, help="one fragment per relmat")
    add_threads(p)
    p.add_argument("--relmats", nargs="+", required=True, help="Pearson FC relmat TSVs")
    add_opts(p)

    p = add("demovae-harmonize", _demovae_harmonize, "DemoVAE harmonization to a reference site")
    p.add_argument("--model", required=True, help="DemoVAE model (.pt)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="harmonization scores TSV")
    p.add_argument("--outputs", nargs="+", required=True, help="harmonized relmat TSVs, one per input")
    p.add_argument("--figure", default=None, help="figure PNG")
    add_fragment(p, "group report fragment JSON")
    add_threads(p)
    p.add_argument("--relmats", nargs="+", required=True, help="Pearson FC relmat TSVs")
    add_opts(p)

    p = add("brainmae-pretrain", _brainmae_pretrain, "pretrain BrainMAE on every subject's ROI time series")
    p.add_argument("--model", required=True, help="model file to write (.pt)")
    p.add_argument("--training", required=True, help="per-epoch training metrics TSV")
    p.add_argument("--reconstruction", required=True, help="held-out masked reconstruction error TSV")
    p.add_argument("--similarity", required=True, help="ROI-embedding similarity vs FC TSV")
    p.add_argument("--embeddings", default=None, help="ROI embeddings and matrices .npz")
    p.add_argument("--labels", default=None, help="atlas label table TSV (network order in figures)")
    p.add_argument("--curves", default=None, help="training curves PNG")
    p.add_argument("--similarity-figure", default=None, help="embedding similarity vs FC PNG")
    add_fragment(p, "group report fragment JSON")
    p.add_argument("--checkpoint-dir", default=None, help="folder for the resumable checkpoint")
    add_threads(p)
    p.add_argument("--bolds", nargs="+", required=True, help="BOLD runs (their JSON sidecars give the TR)")
    p.add_argument("--timeseries", nargs="+", required=True, help="ROI time series TSVs, same order")
    add_opts(p)

    p = add("brainmae-probe", _brainmae_probe, "linear probes: BrainMAE vs random init vs FC + ridge")
    p.add_argument("--model", required=True, help="BrainMAE model (.pt)")
    p.add_argument("--participants", required=True, help="participants.tsv")
    p.add_argument("--output", required=True, help="scores TSV")
    p.add_argument("--predictions", default=None, help="out-of-fold predictions TSV")
    p.add_argument("--figure", default=None, help="scores PNG")
    add_fragment(p, "group report fragment JSON")
    add_threads(p)
    p.add_argument("--timeseries", nargs="+", required=True, help="ROI time series TSVs")
    add_opts(p)

    p = add("brainmae-subject", _brainmae_subject,
            "each subject's masked segment and its BrainMAE reconstruction (one or more subjects, the model "
            "loaded once)")
    p.add_argument("--model", required=True, help="BrainMAE model (.pt)")
    p.add_argument("--timeseries", nargs="+", required=True, help="the subjects' ROI time series TSVs")
    p.add_argument("--bold", nargs="+", required=True,
                   help="the subjects' BOLD runs, same order (their sidecars give the TR)")
    p.add_argument("--figure", nargs="+", required=True, help="the PNGs to write, same order")
    add_fragment(p, "the subject report fragments, same order", many=True)
    add_threads(p)
    add_opts(p)

    p = add("tfm-tokenizer", _tfm_tokenizer, "train the group TFM EEG tokenizer on every preprocessed run")
    p.add_argument("--model", required=True, help="tokenizer file to write (.pt)")
    p.add_argument("--training", required=True, help="per-epoch training metrics TSV")
    add_figure_dir(p, "folder for the figures (default: the fragment's)")
    add_fragment(p, "group report fragment JSON")
    add_threads(p)
    p.add_argument("runs", nargs="+", help="preprocessed EEG runs (FIF) of every subject")
    add_opts(p)
