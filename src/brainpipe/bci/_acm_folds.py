"""The grid and the work inside one fold of :class:`~brainpipe.bci.acm_search.AugmentedCovarianceSearchCV`.

:func:`evaluate_fold` fits the training fold's Riemannian mean, takes the
tangent vectors (the training ones are the mean's own log maps) and scores
every (C, kernel) on one shared Gram matrix (:func:`score_settings`,
``SVC(kernel="precomputed")`` with the kernels of
:func:`brainpipe.features.gram_svc.svc_kernel_from_gram`);
:func:`cv_results` assembles the folds into ``GridSearchCV``'s table;
:func:`lag_covariances` gives the covariances of every order of one lag,
and :func:`moabb_param_grid` MOABB's grid for the same values;
:func:`refit_steps` the tangent space and SVM of the refitted pipeline.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import rankdata
from sklearn.svm import SVC

from ..features.gram_svc import svc_kernel_from_gram as _svc_gram
from ..kernels import epoch_covariances
from ..kernels.lagged_products import LAGGED_ESTIMATORS, assemble_covariances, lagged_products
from ..kernels.riemann_mean import (geometric_harmonic_start, riemann_mean_logmaps,
                                    tangent_vectors_at)

__all__ = ["KERNELS", "NewtonMean", "as_values", "cv_results", "evaluate_fold", "lag_covariances",
           "moabb_param_grid", "refit_steps", "score_settings", "svc_extra"]

KERNELS = ("linear", "rbf", "poly", "sigmoid")

# pyriemann's Pipeline step names in MOABB's AUG_TANG_SVM_grid; GridSearchCV
# orders candidates by the sorted parameter names: lag, order, C, kernel.
_GRID_NAMES = {"lag": "augmenteddataset__lag", "order": "augmenteddataset__order",
               "C": "svc__C", "kernel": "svc__kernel"}


class NewtonMean:
    """The Riemannian mean as a pyriemann mean function (a ``metric`` callable).

    ``TangentSpace(metric={"mean": NewtonMean(...), "map": "riemann"})``
    computes its reference point with
    :func:`~brainpipe.kernels.riemann_mean.riemann_mean_logmaps` (pyriemann's
    ``mean_riemann`` to ``tol``, by Newton steps from ``init``).

    Parameters
    ----------
    init : ndarray, shape (n, n), or None
        Starting point (ignored when its shape does not match the matrices).
    tol : float
    n_jobs : int
    backend : {"auto", "numpy", "numba", "torch"}
    """

    def __init__(self, init=None, tol=1e-8, n_jobs=1, backend="auto"):
        self.init = init
        self.tol = tol
        self.n_jobs = n_jobs
        self.backend = backend
        self._tangent = None

    def __call__(self, covmats, sample_weight=None):
        """The mean of ``covmats``, shape (n_matrices, n, n) -> (n, n)."""
        if sample_weight is not None:
            raise ValueError("NewtonMean computes the unweighted mean: sample_weight must be None.")
        init = self.init
        if init is not None and np.shape(init) != np.shape(covmats)[1:]:
            init = None
        M, self._tangent, _ = riemann_mean_logmaps(covmats, init=init, tol=self.tol,
                                                   n_jobs=self.n_jobs, backend=self.backend)
        return M

    def pop_tangent_vectors(self):
        """Tangent vectors of the last call's matrices at its mean (then forgotten)."""
        tangent, self._tangent = self._tangent, None
        return tangent

    def __repr__(self):
        return f"NewtonMean(tol={self.tol!r}, backend={self.backend!r})"


def moabb_param_grid(orders=range(1, 11), lags=range(1, 11), Cs=(0.5, 1, 1.5),
                     kernels=("rbf", "linear")):
    """The ``param_grid`` of MOABB's ``AUG_TANG_SVM_grid`` for these values.

    For ``GridSearchCV(make_pipeline(AugmentedDataset(), Covariances("cov"),
    TangentSpace(metric="riemann"), SVC()), moabb_param_grid(...))``, the
    baseline :class:`AugmentedCovarianceSearchCV` reproduces.

    Returns
    -------
    param_grid : dict of str to list
    """
    return {_GRID_NAMES["order"]: list(orders), _GRID_NAMES["lag"]: list(lags),
            _GRID_NAMES["C"]: list(Cs), _GRID_NAMES["kernel"]: list(kernels)}


def as_values(values, name, check):
    """``values`` as a non-empty list (a scalar becomes one value), each checked."""
    try:
        values = list(values)
    except TypeError:
        values = [values]
    if not values:
        raise ValueError(f"{name} must not be empty.")
    return [check(v) for v in values]



def lag_covariances(X, orders, lag, estimator, backend, parallel=None):
    """``{order: covmats}`` for one lag (order 1 included if asked); the
    orders of the shared lagged sums are assembled in ``parallel`` (a
    joblib ``Parallel``) if given."""
    if estimator in LAGGED_ESTIMATORS:
        products = lagged_products(X, lag, max(orders), backend=backend)
        covs = (parallel or Parallel(n_jobs=1))(
            delayed(assemble_covariances)(products, p, estimator)
            for p in orders)
        return dict(zip(orders, covs))
    # one at a time: the kernels may be parallel themselves (Numba's
    # default threading layer must not be entered from two threads)
    return {p: epoch_covariances(X, order=p, lag=lag, estimator=estimator,
                                 backend=backend) for p in orders}


def svc_extra(probability, random_state):
    """SVC keyword arguments: ``probability`` only when asked (scikit-learn
    1.9 warns as soon as it is passed, True or False)."""
    if not probability:
        return {}
    return {"probability": True, "random_state": random_state}


def score_settings(feats, y, train, test, settings, scorer, probability,
                    random_state, return_train_score):
    """Fit and score every (C, kernel) on one fold's features.

    Returns lists (one entry per setting) of test scores, train scores, fit
    times and score times.
    """
    t0 = time.perf_counter()
    gram_rows = feats @ feats[train].T  # (n_trials, n_train)
    sq = np.einsum("ij,ij->i", feats, feats)
    # SVC's gamma="scale": 1 / (n_features * X.var()) of the training features
    var = feats[train].var()
    gamma = 1.0 / (feats.shape[1] * var) if var != 0 else 1.0
    shared = time.perf_counter() - t0
    kernels = {}
    out = {"test": [], "train": [], "fit_time": [], "score_time": []}
    for C, kernel in settings:
        t0 = time.perf_counter()
        if kernel not in kernels:  # shared by every C
            kernels[kernel] = _svc_gram(gram_rows, sq, sq[train], kernel, gamma)
        K = kernels[kernel]
        svc = SVC(C=C, kernel="precomputed", **svc_extra(probability, random_state))
        svc.fit(K[train], y[train])
        t1 = time.perf_counter()
        out["test"].append(scorer(svc, K[test], y[test]))
        if return_train_score:
            out["train"].append(scorer(svc, K[train], y[train]))
        t2 = time.perf_counter()
        out["fit_time"].append(t1 - t0 + shared / len(settings))
        out["score_time"].append(t2 - t1)
    return out


def evaluate_fold(covmats, factors, y, train, test, settings, scorer, tol,
                  probability, random_state, return_train_score, backend, mean):
    """Reference mean of the training fold, tangent vectors, SVC sub-grid.

    ``factors`` are :func:`~brainpipe.kernels.riemann_mean.spd_factors` of
    ``covmats``; ``mean`` is the solver
    (:func:`~brainpipe.kernels.riemann_mean.riemann_mean_logmaps`). Returns
    the per-setting scores and times, ``n_iter`` and the fold's ``mean``.
    """
    t0 = time.perf_counter()
    chol, inverses = factors
    # reference fitted on the training matrices only, started from the
    # training matrices only: no test information
    start = geometric_harmonic_start(
        covmats[train], None if inverses is None else inverses[train])
    M, train_feats, info = mean(
        covmats[train], init=start, tol=tol, backend=backend,
        cholesky=None if chol is None else chol[train])
    feats = np.empty((len(y), train_feats.shape[1]))
    feats[train] = train_feats
    feats[test] = tangent_vectors_at(covmats[test], M, backend=backend,
                                     cholesky=None if chol is None else chol[test])
    feature_time = time.perf_counter() - t0
    out = score_settings(feats, y, train, test, settings, scorer, probability,
                          random_state, return_train_score)
    out["fit_time"] = [t + feature_time / len(settings) for t in out["fit_time"]]
    out["n_iter"] = info["n_iter"]
    out["mean"] = M
    return out


def refit_steps(M, feats, n_iter, y, params, *, tol, n_jobs, backend, probability,
                random_state, tangent_dtype="float64"):
    """The fitted ``ts`` and ``svm`` steps of the refitted pipeline.

    ``M`` is the Riemannian mean of all training matrices and ``feats`` their
    tangent vectors at it (the mean's own log maps, ``n_iter``
    eigendecompositions). The tangent space is
    :class:`~brainpipe.features.RiemannTangentSpace` with that reference
    point (pyriemann's ``TangentSpace("riemann")`` outputs, batched ``eigh``
    on threads at decision time); the SVM is
    :class:`~brainpipe.features.GramSVC` (libsvm's dual problem on a BLAS
    Gram matrix: ``SVC``'s decisions to float tolerance, one BLAS product per
    batch of windows), or ``SVC`` itself with ``probability``.

    Returns
    -------
    ts : RiemannTangentSpace
    svm : GramSVC or sklearn.svm.SVC
    """
    from ..features.gram_svc import GramSVC
    from ..features.tangent_space import RiemannTangentSpace
    from ..kernels import resolve_backend

    ts = RiemannTangentSpace(tol=tol, n_jobs=n_jobs, transform_dtype=tangent_dtype,
                             backend="torch" if resolve_backend(backend) == "torch" else "numpy")
    # fitted by hand: the search already has the mean and its log maps
    ts.reference_, ts.n_iter_, ts.n_features_in_ = M, int(n_iter), M.shape[0]
    if probability:
        svm = SVC(C=params["C"], kernel=params["kernel"], **svc_extra(probability, random_state))
    else:
        svm = GramSVC(C=params["C"], kernel=params["kernel"])
    return ts, svm.fit(feats, y)


def cv_results(results, orders, lags, settings, n_splits, return_train_score):
    """``GridSearchCV``'s ``cv_results_`` from the per-fold outputs of :func:`evaluate_fold`.

    ``results`` maps ``(order, lag)`` (``lag`` None for order 1) to the list
    of fold outputs; candidates come in ``GridSearchCV``'s order for
    :func:`~brainpipe.bci.acm_search.moabb_param_grid`.
    """
    params, test, train, fit_t, score_t, n_iter = [], [], [], [], [], []
    # GridSearchCV's candidate order for moabb_param_grid (sorted names)
    for lag, order in itertools.product(lags, orders):
        folds = results[(order, lag if order > 1 else None)]
        for s, (C, kernel) in enumerate(settings):
            params.append({"order": order, "lag": lag, "C": C, "kernel": kernel})
            test.append([f["test"][s] for f in folds])
            if return_train_score:
                train.append([f["train"][s] for f in folds])
            fit_t.append([f["fit_time"][s] for f in folds])
            score_t.append([f["score_time"][s] for f in folds])
            n_iter.append(np.mean([f["n_iter"] for f in folds]))
    res = {}

    def store(key, array, rank=False, splits=False):
        array = np.asarray(array, dtype=np.float64).reshape(len(params), n_splits)
        if splits:
            for k in range(n_splits):
                res[f"split{k}_{key}"] = array[:, k]
        means = np.average(array, axis=1)
        res[f"mean_{key}"] = means
        res[f"std_{key}"] = np.sqrt(np.average((array - means[:, None]) ** 2,
                                               axis=1))
        if rank:  # GridSearchCV: NaN ties with the worst, "min" ranks
            if np.isnan(means).all():
                ranks = np.ones_like(means, dtype=np.int32)
            else:
                means = np.nan_to_num(means, nan=np.nanmin(means) - 1)
                ranks = rankdata(-means, method="min").astype(np.int32)
            res[f"rank_{key}"] = ranks

    store("fit_time", fit_t)
    store("score_time", score_t)
    for name in ("order", "lag", "C", "kernel"):
        res[f"param_{name}"] = np.array([p[name] for p in params], dtype=object)
    res["params"] = params
    store("test_score", test, rank=True, splits=True)
    if return_train_score:
        store("train_score", train, splits=True)
    res["n_iter_mean"] = np.asarray(n_iter)
    return res
