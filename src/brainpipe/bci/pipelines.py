"""Named BCI pipelines: scikit-learn pipelines on epochs, for MOABB evaluations.

Every pipeline takes epochs ``X`` of shape (n_trials, n_channels, n_times)
and labels ``y`` of shape (n_trials,), as MOABB paradigms return them.

======================  ======================================================
name                    steps
======================  ======================================================
``csp_lda``             Covariances(oas) -> pyriemann CSP -> LDA (MOABB's CSP+LDA)
``ts_svm``              Covariances(oas) -> TangentSpace(riemann) -> SVC
``mdm``                 Covariances(oas) -> MDM(riemann) (batched distances)
``acm_ts_svm``          AugmentedCovariances(order, lag) -> TangentSpace -> SVC
``psd_lda``             PSDBandPower -> SignedR2Selector -> shrinkage LDA
``coh_lda``             ConnectivityNodeStrength -> SignedR2Selector -> shrinkage LDA
``tfm_transformer``     frozen TFM tokenizer -> token transformer (brainpipe.models)
======================  ======================================================

Feature estimators from :mod:`brainpipe.features` are imported inside the
builders, so this module imports (and the Riemannian pipelines run) on their
own.
"""

from __future__ import annotations

import inspect

from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from .._check import check_option, check_positive_int, validate_type
from .spectral_pipelines import _check_sfreq, coh_lda, psd_lda

__all__ = ["PIPELINES", "make_pipeline", "make_pipelines", "acm_parameters", "uses_group_tokenizer"]

# pyriemann's covariance estimator names (also those of brainpipe.kernels).
_ESTIMATORS = ("scm", "cov", "oas", "lwf", "sch", "mcd", "hub", "stu", "tyl", "corr")


def csp_lda(nfilter=6, estimator="oas", metric="euclid"):
    """CSP + LDA as in MOABB's benchmark: Covariances -> pyriemann CSP -> LDA (svd).

    Parameters
    ----------
    nfilter : int
        Number of CSP spatial filters (log-variance features).
    estimator : str
        pyriemann covariance estimator.
    metric : str
        Metric of the CSP's mean covariance (``"euclid"`` is classical CSP).
    """
    from pyriemann.estimation import Covariances
    from pyriemann.spatialfilters import CSP

    check_option("estimator", estimator, _ESTIMATORS)
    return Pipeline(
        [
            ("cov", Covariances(estimator=estimator)),
            ("csp", CSP(nfilter=check_positive_int(nfilter, "nfilter"), metric=metric, log=True)),
            ("lda", LinearDiscriminantAnalysis(solver="svd")),
        ]
    )


def _ts_svm_steps(metric, C, kernel, fast, tangent_dtype="float64"):
    """Tangent space + SVM steps: ours (same outputs, faster) or pyriemann + libsvm.

    ``fast=True`` (for ``metric="riemann"``): :class:`~brainpipe.features.RiemannTangentSpace`
    (pyriemann's reference point and vectors, Newton mean) and
    :class:`~brainpipe.features.GramSVC` (libsvm's SVC on a BLAS Gram matrix,
    same decisions); ``fast=False``: pyriemann ``TangentSpace`` and ``SVC``.
    ``tangent_dtype="float32"`` (fast only): float32 log maps at decision time,
    an estimator change (see :class:`~brainpipe.features.RiemannTangentSpace`).
    """
    check_option("tangent_dtype", tangent_dtype, ("float64", "float32"))
    if fast and metric == "riemann":
        from ..features.gram_svc import GramSVC
        from ..features.tangent_space import RiemannTangentSpace

        return [("ts", RiemannTangentSpace(transform_dtype=tangent_dtype)), ("svm", GramSVC(C=C, kernel=kernel))]
    from pyriemann.tangentspace import TangentSpace

    return [("ts", TangentSpace(metric=metric)), ("svm", SVC(C=C, kernel=kernel))]


def ts_svm(estimator="oas", metric="riemann", C=1.0, kernel="linear", fast=True, tangent_dtype="float64"):
    """Tangent space + SVM: Covariances -> TangentSpace -> SVC.

    Parameters
    ----------
    estimator : str
        pyriemann covariance estimator (MOABB uses ``"oas"``).
    metric : str
        Metric of the tangent-space reference point.
    C : float
        SVM regularisation.
    kernel : str
        SVM kernel.
    fast : bool
        brainpipe's tangent space and Gram-matrix SVC (same outputs to float
        tolerance, several times faster on many windows); False: pyriemann's
        ``TangentSpace`` and scikit-learn's ``SVC``.
    tangent_dtype : {"float64", "float32"}
        Precision of the decision-time log maps (fast only); ``"float32"`` is
        a (slightly) different estimator, compared in ``bench_pseudo_online``.
    """
    from pyriemann.estimation import Covariances

    check_option("estimator", estimator, _ESTIMATORS)
    return Pipeline([("cov", Covariances(estimator=estimator))]
                    + _ts_svm_steps(metric, C, kernel, fast, tangent_dtype))


def mdm(estimator="oas", metric="riemann", fast=True):
    """Minimum distance to Riemannian mean: Covariances -> MDM.

    Parameters
    ----------
    estimator : str
        pyriemann covariance estimator.
    metric : str
        MDM metric (means and distances).
    fast : bool
        :class:`~brainpipe.features.mdm.RiemannMDM`: pyriemann's class means
        and distances (to float tolerance), the distances of a batch of
        windows by batched ``eigvalsh``; False: pyriemann's ``MDM``.
    """
    from pyriemann.estimation import Covariances

    check_option("estimator", estimator, _ESTIMATORS)
    if fast:
        from ..features.mdm import RiemannMDM as MDM
    else:
        from pyriemann.classification import MDM
    return Pipeline([("cov", Covariances(estimator=estimator)), ("mdm", MDM(metric=metric))])


def acm_ts_svm(order=4, lag=2, estimator="oas", C=1.0, kernel="linear", backend="auto",
               implementation="brainpipe", fast=True, tangent_dtype="float64"):
    """Augmented covariance (ACM) + tangent space + SVM (Carrara & Papadopoulo 2023).

    Parameters
    ----------
    order : int | "auto"
        Embedding dimension p (number of delayed copies stacked; 1 = plain
        covariance). ``"auto"`` (``implementation="brainpipe"`` only): chosen
        at fit time on the training folds by Cao's false nearest neighbours,
        the cheap alternative to MOABB's nested grid search.
    lag : int | "auto"
        Delay tau between copies, in samples. ``"auto"``: first minimum of the
        auto mutual information, chosen at fit time.
    estimator : str
        Covariance estimator of the embedded signal. MOABB's ACM pipeline
        uses ``"cov"``; our default ``"oas"`` (shrinkage) stays positive
        definite after rank-reducing preprocessing (average reference, ICA).
    C, kernel
        SVM parameters (MOABB grid-searches C in {0.5, 1, 1.5} and kernel in
        {rbf, linear}).
    backend : str
        Kernel backend of :class:`brainpipe.features.AugmentedCovariances`.
    implementation : {"brainpipe", "moabb"}
        ``"brainpipe"``: our :class:`~brainpipe.features.AugmentedCovariances`
        (fast kernels). ``"moabb"``: MOABB's ``AugmentedDataset`` followed by
        pyriemann ``Covariances``, the reference we compare with (it drops
        one lag more at the end, see BCI-ANCHORS.md).
    fast : bool
        With ``implementation="brainpipe"``: brainpipe's tangent space and
        Gram-matrix SVC (same outputs to float tolerance). The ``"moabb"``
        implementation always uses pyriemann's ``TangentSpace`` and ``SVC``.
    tangent_dtype : {"float64", "float32"}
        Precision of the decision-time log maps (fast only): ``"float32"`` is
        about 1.4x faster on order-4 ACM windows and a (slightly) different
        estimator; ``bench_pseudo_online`` shows both.
    """

    check_option("estimator", estimator, _ESTIMATORS)
    check_option("implementation", implementation, ("brainpipe", "moabb"))
    if implementation == "moabb" and "auto" in (order, lag):
        raise ValueError(
            "order='auto' / lag='auto' are chosen by brainpipe's AugmentedCovariances: "
            "use implementation='brainpipe' (MOABB's ACM takes integers)."
        )
    if order != "auto":
        order = check_positive_int(order, "order")
    if lag != "auto":
        lag = check_positive_int(lag, "lag")
    if implementation == "moabb":
        from moabb.pipelines.features import AugmentedDataset
        from pyriemann.estimation import Covariances

        cov_steps = [("aug", AugmentedDataset(order=order, lag=lag)),
                     ("cov", Covariances(estimator=estimator))]
    else:
        from ..features import AugmentedCovariances

        cov_steps = [("acm", AugmentedCovariances(order=order, lag=lag, estimator=estimator,
                                                  backend=backend))]
    return Pipeline(cov_steps + _ts_svm_steps("riemann", C, kernel, fast and implementation == "brainpipe",
                                              tangent_dtype))


#: name -> builder(**params) returning an unfitted :class:`sklearn.pipeline.Pipeline`.
def acm_search_svm(orders=(1, 2, 3, 4, 6, 8), lags=(1, 2, 4), Cs=(0.5, 1.0, 1.5), kernels=("rbf", "linear"),
                   cv=3, estimator="oas", mode="grid", backend="auto", random_state=0, n_jobs=-1,
                   search_subsample=1, search_tol=1e-4, tangent_dtype="float64"):
    """ACM + tangent space + SVM with order, lag, C and kernel chosen per fit.

    The fast equivalent of MOABB's ``AUG_TANG_SVM_grid`` nested search:
    :class:`~brainpipe.features.acm_search.AugmentedCovarianceSearchCV`
    selects what ``GridSearchCV`` over the same grid and folds would, sharing
    the lagged cross-products and tangent-space work across candidates, and
    refits the best pipeline on the training data it is given.

    Parameters
    ----------
    orders, lags : sequence of int
        Grid of embedding dimensions and delays (samples).
    Cs, kernels : sequence
        SVM grid.
    cv : int
        Inner folds of the search.
    estimator : str
        Covariance estimator ("cov" is MOABB's; "oas" stays SPD after
        average referencing).
    mode : {"grid", "embedding"}
        Grid search, or order/lag from the embedding criteria (AMI + FNN).
    backend : str
        Kernel backend.
    random_state : int | None
        Seed of the inner folds.
    n_jobs : int
        Threads of the search's (order, fold) tasks and of the refitted
        tangent space's batched ``eigh`` (-1: all cores, as the other fast
        pipelines decide); results do not depend on it.
    search_subsample : int
        The inner search sees every k-th training window, the refit all
        (overlapping windows in time order; see the search's docstring).
    search_tol : float
        Gradient norm at which each fold's Riemannian mean stops (the search's).
    tangent_dtype : {"float64", "float32"}
        Precision of the refitted pipeline's decision-time log maps, as for
        :func:`acm_ts_svm` (the search itself and the refit stay float64).
    """
    from ..features.acm_search import AugmentedCovarianceSearchCV

    return AugmentedCovarianceSearchCV(
        orders=tuple(orders), lags=tuple(lags), Cs=tuple(Cs), kernels=tuple(kernels), cv=cv,
        estimator=estimator, mode=mode, backend=backend, random_state=random_state, n_jobs=n_jobs,
        search_subsample=search_subsample, search_tol=search_tol, tangent_dtype=tangent_dtype,
    )


def tfm_transformer(sfreq=None, tokenizer="group", **params):
    """TFM tokens + token transformer (Pradeepkumar et al.), on raw epochs.

    Parameters
    ----------
    sfreq : float
        Sampling frequency of the epochs, in Hz (required; the model resamples
        to 200 Hz itself).
    tokenizer : path-like | "train" | None
        A trained tokenizer file (the workflow's group tokenizer, filled in by
        :func:`make_pipelines` from ``tfm_tokenizer=`` for the value
        ``"group"``), or ``"train"`` / None: train a tokenizer on each fit's
        training epochs only (the variant that never sees test data).
    **params
        :class:`brainpipe.models.tfm_transformer.TFMTransformerClassifier`
        arguments (transformer size, epochs, learning rate, ...).
    """
    sfreq = _check_sfreq(sfreq, "tfm_transformer")
    if tokenizer == "group":
        raise ValueError(
            "Pipeline 'tfm_transformer' uses the group tokenizer (tokenizer: group): pass its file "
            "with make_pipelines(..., tfm_tokenizer=path), or set tokenizer: train to train one "
            "on the training data of each fit."
        )
    from ..models.tfm_transformer import TFMTransformerClassifier

    tokenizer = None if tokenizer in (None, "train") else str(tokenizer)
    return Pipeline([("tfm", TFMTransformerClassifier(sfreq=sfreq, tokenizer=tokenizer, **params))])


def uses_group_tokenizer(config):
    """Whether a pipelines config (as :func:`make_pipelines` takes) needs the group TFM tokenizer."""
    if isinstance(config, str):
        config = [config]
    if isinstance(config, (list, tuple)):
        config = {name: {} for name in config}
    if not isinstance(config, dict):
        return False
    for display, params in config.items():
        params = params if isinstance(params, dict) else {}
        if params.get("pipeline", display) == "tfm_transformer" and \
                params.get("tokenizer", "group") == "group":
            return True
    return False


PIPELINES = {
    "csp_lda": csp_lda,
    "ts_svm": ts_svm,
    "mdm": mdm,
    "acm_ts_svm": acm_ts_svm,
    "acm_search_svm": acm_search_svm,
    "psd_lda": psd_lda,
    "coh_lda": coh_lda,
    "tfm_transformer": tfm_transformer,
}


def make_pipeline(name, **params):
    """Build the registered pipeline ``name`` with ``params``.

    Parameters
    ----------
    name : str
        A key of :data:`PIPELINES`.
    **params
        Keyword arguments of that pipeline's builder (see each builder).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Unfitted; takes epochs (n_trials, n_channels, n_times).
    """
    check_option("name", name, tuple(PIPELINES))
    builder = PIPELINES[name]
    accepted = inspect.signature(builder).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(set(params) - set(accepted))
    if unknown and not takes_any:
        raise TypeError(
            f"Unknown parameter(s) {unknown} for pipeline {name!r}; "
            f"allowed: {sorted(accepted)}."
        )
    return builder(**params)


def make_pipelines(config, sfreq=None, tfm_tokenizer=None):
    """Build the ``{name: pipeline}`` dict MOABB evaluations take, from a config.

    Parameters
    ----------
    config : dict | list of str
        ``{display_name: params}``, where ``params`` is a dict (or ``None``)
        of builder parameters. The registry name is ``params["pipeline"]``
        when given, else ``display_name`` itself, so one pipeline can appear
        with several settings::

            {"ts_svm": {}, "acm_ts_svm": {"order": 4, "lag": 2},
             "acm_p8": {"pipeline": "acm_ts_svm", "order": 8, "lag": 1}}

        A list of registry names uses default parameters.
    sfreq : float | None
        Sampling frequency of the epochs, given to pipelines that take
        ``sfreq`` (PSD, connectivity) unless their params set it.
    tfm_tokenizer : path-like | None
        Trained TFM tokenizer file for ``tfm_transformer`` pipelines whose
        ``tokenizer`` is ``"group"`` (the default).

    Returns
    -------
    pipelines : dict of str to sklearn.pipeline.Pipeline
    """
    if isinstance(config, (list, tuple)):
        config = {name: {} for name in config}
    validate_type(config, dict, "config", "dict of {name: params} or list of names")
    if not config:
        raise ValueError(
            "No pipeline configured: give at least one of " + ", ".join(PIPELINES) + "."
        )
    pipelines = {}
    for display, params in config.items():
        validate_type(params if params is not None else {}, dict, f"params of pipeline {display!r}")
        params = dict(params or {})
        name = params.pop("pipeline", display)
        if name not in PIPELINES:
            raise ValueError(
                f"Pipeline {display!r}: unknown pipeline {name!r}. Allowed: "
                + ", ".join(repr(p) for p in PIPELINES)
                + " (set 'pipeline:' to use another display name)."
            )
        if "sfreq" in inspect.signature(PIPELINES[name]).parameters and params.get("sfreq") is None:
            params["sfreq"] = sfreq
        if name == "tfm_transformer" and params.get("tokenizer", "group") == "group" \
                and tfm_tokenizer is not None:
            params["tokenizer"] = str(tfm_tokenizer)
        pipelines[str(display)] = make_pipeline(name, **params)
    return pipelines


def acm_parameters(pipeline):
    """Return the ACM embedding ``{"order": p, "lag": tau}`` of a pipeline, or ``None``.

    Fitted values (``order_``, ``lag_``, set by estimators that choose them)
    win over the constructor parameters.
    """
    steps = pipeline.steps if isinstance(pipeline, Pipeline) else [("", pipeline)]
    for _, step in steps:
        if hasattr(step, "best_order_"):  # AugmentedCovarianceSearchCV
            return {"order": step.best_order_, "lag": step.best_lag_}
        names = {"order", "lag"}
        if names <= set(step.get_params(deep=False)) or all(hasattr(step, n + "_") for n in names):
            out = {}
            for n in ("order", "lag"):
                value = getattr(step, n + "_", None)
                out[n] = value if value is not None else step.get_params(deep=False)[n]
            return out
    return None
