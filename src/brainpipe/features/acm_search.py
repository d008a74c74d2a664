"""Hyper-parameter search of the ACM + tangent space + SVM pipeline, with shared work.

MOABB's ``AUG_TANG_SVM_grid`` runs ``GridSearchCV`` over
``AugmentedDataset(order, lag) -> Covariances("cov") -> TangentSpace("riemann")
-> SVC(C, kernel)``: every (order, lag, C, kernel) candidate and every fold
recomputes the embedding, the covariances, the Riemannian mean of the training
fold (the bulk of the time: tens of eigendecompositions of every training
matrix) and the tangent vectors. :class:`AugmentedCovarianceSearchCV` selects
the same candidate with far less work:

- the covariances of every order that shares a lag come from one set of
  lagged cross-product sums (:mod:`brainpipe.kernels.lagged_products`), once
  for all trials; order 1 (the epoch unchanged) is computed once for all lags;
- per (order, lag) and fold, the Riemannian mean of the *training* matrices is
  computed once, and the last iteration's matrix logarithms are the training
  tangent vectors; only the test matrices are projected on top;
- the (C, kernel) sub-grid reuses those features through precomputed Gram
  matrices (``SVC(kernel="precomputed")`` on the linear or RBF Gram of the
  same features gives the SVC that ``SVC(kernel=...)`` gives; ``gamma="scale"``
  is computed from the training features as SVC does);
- (order, fold) tasks run in parallel threads (``n_jobs``).

The Riemannian mean is the fixed point of pyriemann's ``mean_riemann``
(``M <- M^1/2 expm(mean_i logm(M^-1/2 C_i M^-1/2)) M^1/2``), accelerated by
Anderson mixing and started from the geometric mean of the arithmetic and
harmonic means of the training matrices (from those matrices only: nothing
of the test fold enters a reference). Each fold's mean in the search stops
at a gradient norm of ``search_tol=1e-4`` (pyriemann stops at 1e-8): on
BNCI2014_001-shaped order-8 matrices that moves the tangent vectors by a few
1e-6 relative and the SVC decision values by ~1e-5, the size of the changes
libsvm's own stopping rule makes when the features move by 1e-9; the scores,
ranks and selection are those of ``GridSearchCV`` (the tests and
``benchmarks/bench_acm_search.py`` check it; set ``search_tol=1e-8`` for
pyriemann's precision in every fold). The refit's mean, the one the returned
pipeline keeps, converges to ``tol=1e-8`` as pyriemann's. On nearly singular
matrices (high order, lag 1, band-passed data: condition numbers above
~1e12) neither mean is defined beyond rounding noise; the iteration then
stops when the gradient stops decreasing, where pyriemann runs its 50
iterations and warns.
"""

from __future__ import annotations

import itertools
import numbers
import time

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from pyriemann.geometry.base import expm, invsqrtm, logm, sqrtm
from pyriemann.geometry.tangentspace import unupper, upper
from pyriemann.tangentspace import TangentSpace
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from brainpipe._check import check_option, check_positive_int
from brainpipe.features._epochs import check_epochs, epochs_tags
from brainpipe.features.acm import AugmentedCovariances
from brainpipe.features.embedding import estimate_embedding
from brainpipe.kernels import BACKENDS, ESTIMATORS, epoch_covariances
from brainpipe.kernels._backend import cuda_available, resolve_backend
from brainpipe.kernels.lagged_products import (
    LAGGED_ESTIMATORS,
    assemble_covariances,
    lagged_products,
)

__all__ = ["AugmentedCovarianceSearchCV", "moabb_param_grid", "riemann_mean_logmaps"]

KERNELS = ("linear", "rbf", "poly", "sigmoid")

# pyriemann's Pipeline step names in MOABB's AUG_TANG_SVM_grid; GridSearchCV
# orders candidates by the sorted parameter names: lag, order, C, kernel.
_GRID_NAMES = {"lag": "augmenteddataset__lag", "order": "augmenteddataset__order",
               "C": "svc__C", "kernel": "svc__kernel"}


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


# ---------------------------------------------------------------------------
# Riemannian mean that hands back the training tangent vectors


def _tangent_vectors(covmats, Mmh):
    """``logm(Mmh @ C @ Mmh)`` for every matrix, as pyriemann's log map.

    The same eigendecomposition as pyriemann's ``logm``, without its
    conjugate-transposed copy of every eigenvector matrix (real input).
    """
    A = Mmh @ covmats @ Mmh
    if not np.all(np.isfinite(A)):
        raise _not_spd_error()
    w, V = np.linalg.eigh(A)
    if not np.all(w > 0):  # finite A and positive w: finite logs
        raise _not_spd_error()
    return (V * np.log(w)[..., None, :]) @ V.swapaxes(-1, -2)


def _geometric_harmonic_start(covmats, inverses):
    """``A # H``: the geometric mean of the arithmetic and harmonic means.

    The Riemannian mean lies between ``H`` and ``A`` (Loewner order), and
    ``A # H`` is the Riemannian mean when the matrices are two; as a start
    it saves about one iteration on high-order ACM matrices. Falls back to
    ``A`` (pyriemann's start) when the inverses are not usable.
    """
    A = covmats.mean(axis=0)
    if inverses is None:
        return A
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        try:
            H = np.linalg.inv(inverses.mean(axis=0))
            np.linalg.cholesky(H)
            Ah, Amh = sqrtm(A), invsqrtm(A)
            start = Ah @ sqrtm(Amh @ H @ Amh) @ Ah
            np.linalg.cholesky(start)
        except np.linalg.LinAlgError:
            return A
    return start if np.all(np.isfinite(start)) else A


def _inverses(covmats):
    """Inverses of the matrices (for :func:`_geometric_harmonic_start`), or None."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        try:
            inv = np.linalg.inv(covmats)
        except np.linalg.LinAlgError:
            return None
    return inv if np.all(np.isfinite(inv)) else None


def _not_spd_error():
    return ValueError(
        "Covariance matrices are not positive definite (linearly dependent "
        "channels after average reference or ICA, a flat channel, or an order "
        "too high for the epoch length). Use a shrinkage estimator, "
        "estimator='oas' or 'lwf', or lower the largest order."
    )


def riemann_mean_logmaps(covmats, *, init=None, tol=1e-9, max_iter=50, memory=5,
                         n_jobs=1, device=None):
    """Affine-invariant Riemannian mean, with the log maps of the matrices at it.

    The fixed point of pyriemann's ``mean_riemann``
    (``M <- M^1/2 expm(mean_i logm(M^-1/2 C_i M^-1/2)) M^1/2``, started from
    the Euclidean mean), accelerated by Anderson mixing of the last
    ``memory`` iterates in log coordinates around the start; a step that
    raises the gradient norm is replaced by a damped plain step.

    Parameters
    ----------
    covmats : ndarray, shape (n_matrices, n, n)
        SPD matrices.
    init : ndarray, shape (n, n), or None
        Starting point (``None``: the Euclidean mean, as pyriemann). The
        result does not depend on it beyond ``tol``; a nearby mean (another
        fold's) saves iterations.
    tol : float, default=1e-9
        Stop when the Frobenius norm of the mean log map (the Riemannian
        gradient, pyriemann's criterion, which stops at 1e-8) is below
        ``tol``.
    max_iter : int, default=50
        Most iterations; the iteration also stops when the gradient norm has
        not halved in 3 iterations (the rounding-noise floor of nearly
        singular matrices; Anderson mixing otherwise divides it by about 10
        per iteration).
    memory : int, default=5
        Anderson history length (0: plain fixed-point iteration).
    n_jobs : int, default=1
        Threads over chunks of matrices for the log maps of each iteration
        (``-1``: all cores; run with one BLAS thread).
    device : str or None, default=None
        A torch device (``"cuda"``) for the log maps: the matrices are moved
        there once and every iteration's eigendecompositions run there in one
        batch (``n_jobs`` is then ignored). ``None``: numpy.

    Returns
    -------
    mean : ndarray, shape (n, n)
        The mean (the iterate with the smallest gradient norm).
    tangent : ndarray, shape (n_matrices, n * (n + 1) / 2)
        ``upper(logm(mean^-1/2 C_i mean^-1/2))``: pyriemann's tangent vectors
        of ``covmats`` at ``mean``.
    info : dict
        ``n_iter`` (log maps of the set computed) and ``grad_norm``.
    """
    covmats = np.asarray(covmats, dtype=np.float64)
    # singular matrices show up as NaN somewhere in the square roots and logs:
    # report them once, with advice, instead of numpy warnings
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            M, logs, info = _karcher(covmats, init, tol, max_iter, memory, n_jobs,
                                     device)
        except (ValueError, np.linalg.LinAlgError) as err:
            if "positive definite" in str(err) or "not positive" in str(err):
                raise _not_spd_error() from None
            raise
    if not (np.all(np.isfinite(M)) and np.all(np.isfinite(logs))):
        raise _not_spd_error()
    return M, upper(logs), info


def _log_map_function(covmats, n_jobs=1, device=None):
    """``Mmh -> logm(Mmh @ C_i @ Mmh)`` for the fixed set ``covmats``.

    ``device=None``: numpy/LAPACK, over ``n_jobs`` threads of matrix chunks;
    a torch device (``"cuda"``): the matrices stay on it and each call is one
    batched ``torch.linalg.eigh`` there.
    """
    if device is not None:
        import torch

        C = torch.as_tensor(covmats, dtype=torch.float64, device=device)

        def log_maps(Mmh):
            W = torch.as_tensor(Mmh, dtype=torch.float64, device=device)
            A = W @ C @ W
            w, V = torch.linalg.eigh(A)
            if not bool(torch.all(w > 0)):
                raise _not_spd_error()
            logs = (V * torch.log(w)[..., None, :]) @ V.mT
            return logs.cpu().numpy()

        return log_maps
    n_jobs = min(effective_n_jobs(n_jobs), len(covmats))
    if n_jobs > 1:
        chunks = np.array_split(np.arange(len(covmats)), n_jobs)
        pool = Parallel(n_jobs=n_jobs, prefer="threads")

        def log_maps(Mmh):
            return np.concatenate(pool(delayed(_tangent_vectors)(covmats[c], Mmh)
                                       for c in chunks))
        return log_maps

    def log_maps(Mmh):
        return _tangent_vectors(covmats, Mmh)
    return log_maps


def _karcher(covmats, init, tol, max_iter, memory, n_jobs=1, device=None):
    """The iteration of :func:`riemann_mean_logmaps`; logs are full matrices."""
    log_maps = _log_map_function(covmats, n_jobs, device)

    M0 = covmats.mean(axis=0) if init is None else np.asarray(init, dtype=np.float64)
    np.linalg.cholesky(M0)  # the Euclidean mean of SPD matrices is SPD
    M0h, M0mh = sqrtm(M0), invsqrtm(M0)
    x = np.zeros(covmats.shape[-1] * (covmats.shape[-1] + 1) // 2)
    best = None  # (crit, M, logs, g)
    hist_x, hist_f = [], []
    nu, stalled, n_iter = 1.0, 0, 0
    for n_iter in range(1, max_iter + 1):
        M = M0 if n_iter == 1 else M0h @ expm(unupper(x)) @ M0h
        Mh, Mmh = sqrtm(M), invsqrtm(M)
        logs = log_maps(Mmh)
        J = logs.mean(axis=0)
        crit = float(np.linalg.norm(J))
        # the fixed-point image of M, in log coordinates around M0
        g = upper(logm(M0mh @ (Mh @ expm(J) @ Mh) @ M0mh))
        improved = best is None or crit < best[0]
        if improved:
            stalled = 0 if best is None or crit < 0.5 * best[0] else stalled + 1
            best = (crit, M, logs, g)
        else:
            stalled += 1
        if crit <= tol or stalled >= 3:
            break
        if not improved:
            # mixing overshot: restart from the best iterate with a shorter step
            hist_x.clear()
            hist_f.clear()
            nu *= 0.5
            x_best = upper(logm(M0mh @ best[1] @ M0mh))
            x = x_best + nu * (best[3] - x_best)
            continue
        f = g - x
        hist_x.append(g)
        hist_f.append(f)
        del hist_x[:-(memory + 1)], hist_f[:-(memory + 1)]
        if memory == 0 or len(hist_f) == 1:
            x = x + nu * f
        else:
            dF = np.diff(np.asarray(hist_f), axis=0).T
            dG = np.diff(np.asarray(hist_x), axis=0).T
            gamma = np.linalg.lstsq(dF, f, rcond=None)[0]
            x = g - dG @ gamma
    crit, M, logs, _ = best
    return M, logs, {"n_iter": n_iter, "grad_norm": crit}


# ---------------------------------------------------------------------------
# SVC on a shared Gram matrix


def _svc_gram(gram, sq_rows, sq_cols, kernel, gamma):
    """SVC's ``kernel`` from the linear Gram ``gram`` of the features.

    ``gram`` has shape (n_rows, n_cols); ``sq_rows``/``sq_cols`` are the
    squared norms of the row and column features (for ``"rbf"``).
    """
    if kernel == "linear":
        return gram
    if kernel == "rbf":
        d2 = sq_rows[:, None] + sq_cols[None, :] - 2.0 * gram
        return np.exp(-gamma * np.maximum(d2, 0.0))
    if kernel == "poly":  # SVC defaults: degree=3, coef0=0
        return (gamma * gram) ** 3
    return np.tanh(gamma * gram)  # sigmoid, coef0=0


def _svc_extra(probability, random_state):
    """SVC keyword arguments: ``probability`` only when asked (scikit-learn
    1.9 warns as soon as it is passed, True or False)."""
    if not probability:
        return {}
    return {"probability": True, "random_state": random_state}


def _score_settings(feats, y, train, test, settings, scorer, probability,
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
        svc = SVC(C=C, kernel="precomputed", **_svc_extra(probability, random_state))
        svc.fit(K[train], y[train])
        t1 = time.perf_counter()
        out["test"].append(scorer(svc, K[test], y[test]))
        if return_train_score:
            out["train"].append(scorer(svc, K[train], y[train]))
        t2 = time.perf_counter()
        out["fit_time"].append(t1 - t0 + shared / len(settings))
        out["score_time"].append(t2 - t1)
    return out


def _evaluate_fold(covmats, inverses, y, train, test, settings, scorer, tol,
                   probability, random_state, return_train_score, device=None):
    """Reference mean of the training fold, tangent vectors, SVC sub-grid.

    Returns the per-setting scores and times, ``n_iter`` and ``refit_start``:
    one fixed-point step from this fold's mean towards the mean of *all*
    matrices (free: the log maps of every matrix at the fold's mean are the
    features), the refit's starting point should this candidate win.
    """
    t0 = time.perf_counter()
    # reference fitted on the training matrices only, started from the
    # training matrices only: no test information
    start = _geometric_harmonic_start(
        covmats[train], None if inverses is None else inverses[train])
    M, train_feats, info = riemann_mean_logmaps(covmats[train], init=start, tol=tol,
                                                device=device)
    feats = np.empty((len(y), train_feats.shape[1]))
    feats[train] = train_feats
    with np.errstate(invalid="ignore", divide="ignore"):
        test_logs = _log_map_function(covmats[test], device=device)(invsqrtm(M))
    feats[test] = upper(test_logs)
    feature_time = time.perf_counter() - t0
    out = _score_settings(feats, y, train, test, settings, scorer, probability,
                          random_state, return_train_score)
    out["fit_time"] = [t + feature_time / len(settings) for t in out["fit_time"]]
    out["n_iter"] = info["n_iter"]
    Mh = sqrtm(M)
    out["refit_start"] = Mh @ expm(unupper(feats.mean(axis=0))) @ Mh
    return out


# ---------------------------------------------------------------------------


def _as_values(values, name, check):
    try:
        values = list(values)
    except TypeError:
        values = [values]
    if not values:
        raise ValueError(f"{name} must not be empty.")
    return [check(v) for v in values]


def _positive_float(value, name="C"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} values must be positive numbers, got {value!r}.")
    return value


class AugmentedCovarianceSearchCV(ClassifierMixin, BaseEstimator):
    """ACM order/lag and SVC hyper-parameter search with shared work.

    Selects (order, lag, C, kernel) for ``AugmentedDataset(order, lag) ->
    Covariances(estimator) -> TangentSpace("riemann") -> SVC(C, kernel)``
    exactly as ``GridSearchCV`` over that pipeline with
    :func:`moabb_param_grid` would (same folds, scores, ranks and first-best
    tie-breaking), at a fraction of the cost (see the module notes), then
    refits the best pipeline on all the data. ``mode="embedding"`` instead
    takes order and lag from the embedding criteria
    (:func:`~brainpipe.features.embedding.estimate_embedding`: first minimum
    of the auto mutual information, Cao's false nearest neighbours) and
    searches only ``Cs x kernels``, so its cross-validated score can be put
    next to the grid's.

    Parameters
    ----------
    orders : iterable of int, default=range(1, 11)
        Orders (delayed copies) searched; ``max(orders)`` also bounds the
        embedding estimate.
    lags : iterable of int, default=range(1, 11)
        Lags in samples.
    Cs : iterable of float, default=(0.5, 1, 1.5)
        SVC regularisation values.
    kernels : iterable of {"rbf", "linear", "poly", "sigmoid"}, default=("rbf", "linear")
        SVC kernels (SVC defaults otherwise: ``gamma="scale"``, ``degree=3``,
        ``coef0=0``).
    cv : int or cross-validation generator, default=5
        As ``GridSearchCV``: an int is ``StratifiedKFold(cv)`` (shuffled with
        ``random_state`` when that is set, as MOABB's inner CV does).
    estimator : str, default="cov"
        Covariance estimator, pyriemann's names; ``"cov"`` (MOABB's) and
        ``"scm"`` use the shared lagged sums, others (``"oas"``, ``"lwf"``)
        are computed per (order, lag) by
        :func:`brainpipe.kernels.epoch_covariances`.
    mode : {"grid", "embedding"}, default="grid"
        Full grid over ``orders x lags``, or (order, lag) from the embedding
        criteria.
    scoring : str, callable or None, default=None
        A scikit-learn scorer (``None``: accuracy, as the pipeline's
        ``score``). Scorers are called with the fold's SVC and its
        precomputed test kernel, so any scorer that uses ``predict``,
        ``decision_function`` (or ``predict_proba`` with
        ``probability=True``) works.
    backend : {"auto", "numpy", "numba", "torch"}, default="auto"
        Backend of the covariance kernels; with ``"torch"`` (what ``"auto"``
        picks when a CUDA GPU is present) the Riemannian means'
        eigendecompositions also run batched in torch, on the GPU.
    n_jobs : int, default=1
        Threads over (order, fold) tasks, then over the matrices of the
        refit's mean (``-1``: all cores).
    random_state : int or None, default=None
        Shuffles the folds of an int ``cv``; seeds SVC's probability
        calibration.
    probability : bool, default=False
        Fit SVCs with probability estimates (``predict_proba``).
    return_train_score : bool, default=False
        Also score the training folds.
    search_tol : float, default=1e-4
        Gradient-norm tolerance of each fold's Riemannian mean in the search
        (see the module notes: below what changes a score; ``1e-8`` for
        pyriemann's own tolerance, at about twice the time).
    tol : float, default=1e-8
        Gradient-norm tolerance of the refit's Riemannian mean (pyriemann's).
    embedding_params : dict or None, default=None
        Extra keyword arguments of ``estimate_embedding`` in
        ``mode="embedding"`` (e.g. ``{"n_ref": 250}``).
    verbose : int, default=0
        Print one line per (order, lag) when > 0.

    Attributes
    ----------
    cv_results_ : dict of str to ndarray
        As ``GridSearchCV``'s (``pandas.DataFrame(cv_results_)`` works):
        ``params`` (dicts with keys ``order``, ``lag``, ``C``, ``kernel``),
        ``param_<name>``, ``split<k>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, the train scores with
        ``return_train_score``, ``mean_fit_time`` etc. (the shared feature
        time of a fold split evenly over its SVC settings) and
        ``n_iter_mean`` (Riemannian-mean iterations, per fold, averaged).
        Candidates are in ``GridSearchCV``'s order for
        :func:`moabb_param_grid`: lag, then order, then C, then kernel.
    best_index_ : int
    best_params_ : dict
        ``{"order", "lag", "C", "kernel"}`` of the first best mean test score.
    best_score_ : float
    best_order_, best_lag_ : int
    best_estimator_ : sklearn.pipeline.Pipeline
        ``AugmentedCovariances -> TangentSpace -> SVC`` refitted on all data.
    embedding_order_, embedding_lag_ : int
        The embedding estimate (``mode="embedding"`` only).
    classes_ : ndarray
    n_splits_ : int
    refit_time_, search_time_ : float
        Seconds.

    Examples
    --------
    >>> search = AugmentedCovarianceSearchCV(orders=[1, 2, 4], lags=[1, 2])
    >>> search.fit(X, y).best_params_  # doctest: +SKIP
    {'order': 4, 'lag': 2, 'C': 1, 'kernel': 'linear'}
    """

    def __init__(self, orders=range(1, 11), lags=range(1, 11), Cs=(0.5, 1, 1.5),
                 kernels=("rbf", "linear"), cv=5, estimator="cov", mode="grid",
                 scoring=None, backend="auto", n_jobs=1, random_state=None,
                 probability=False, return_train_score=False, search_tol=1e-4,
                 tol=1e-8, embedding_params=None, verbose=0):
        self.orders = orders
        self.lags = lags
        self.Cs = Cs
        self.kernels = kernels
        self.cv = cv
        self.estimator = estimator
        self.mode = mode
        self.scoring = scoring
        self.backend = backend
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.probability = probability
        self.return_train_score = return_train_score
        self.search_tol = search_tol
        self.tol = tol
        self.embedding_params = embedding_params
        self.verbose = verbose

    # -- parameters ---------------------------------------------------------

    def _check_params(self):
        orders = _as_values(self.orders, "orders",
                            lambda v: check_positive_int(v, "orders"))
        lags = _as_values(self.lags, "lags", lambda v: check_positive_int(v, "lags"))
        Cs = _as_values(self.Cs, "Cs", _positive_float)
        kernels = _as_values(self.kernels, "kernels",
                             lambda v: check_option("kernels", v, KERNELS))
        check_option("estimator", self.estimator, ESTIMATORS)
        check_option("mode", self.mode, ("grid", "embedding"))
        check_option("backend", self.backend, BACKENDS)
        for name in ("search_tol", "tol"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        return orders, lags, Cs, kernels

    def _mean_device(self):
        """Torch device of the Riemannian means: CUDA (or CPU when
        ``backend="torch"`` is asked without a GPU) for the torch backend,
        else None (numpy/LAPACK)."""
        if resolve_backend(self.backend) != "torch":
            return None
        return "cuda" if cuda_available() else "cpu"

    def _splits(self, X, y):
        cv = self.cv
        if isinstance(cv, numbers.Integral) and self.random_state is not None:
            cv = StratifiedKFold(cv, shuffle=True, random_state=self.random_state)
        cv = check_cv(cv, y, classifier=True)
        return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y)]

    # -- covariances ----------------------------------------------------------

    def _covariances(self, X, orders, lag):
        """``{order: covmats}`` for one lag (order 1 included if asked)."""
        if self.estimator in LAGGED_ESTIMATORS:
            products = lagged_products(X, lag, max(orders), backend=self.backend)
            return {p: assemble_covariances(products, p, self.estimator)
                    for p in orders}
        return {p: epoch_covariances(X, order=p, lag=lag, estimator=self.estimator,
                                     backend=self.backend) for p in orders}

    # -- fit ------------------------------------------------------------------

    def fit(self, X, y):
        """Search the grid by cross-validation, then refit the best pipeline.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_channels, n_times)
            Epochs.
        y : array-like, shape (n_trials,)
            Labels.

        Returns
        -------
        self : AugmentedCovarianceSearchCV
        """
        t_start = time.perf_counter()
        orders, lags, Cs, kernels = self._check_params()
        X = check_epochs(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(
                f"y must have shape ({X.shape[0]},) to match X, got {y.shape}."
            )
        if self.mode == "embedding":
            order, lag = estimate_embedding(X, max_order=max(orders),
                                            max_lag=max(lags), n_jobs=self.n_jobs,
                                            **dict(self.embedding_params or {}))
            self.embedding_order_, self.embedding_lag_ = int(order), int(lag)
            orders, lags = [self.embedding_order_], [self.embedding_lag_]
        for lag in lags:
            if max(orders) > 1 and X.shape[-1] - max(orders) * lag < 2:
                raise ValueError(
                    f"Epochs of {X.shape[-1]} samples are too short for "
                    f"order={max(orders)}, lag={lag}: the embedding keeps "
                    "n_times - order*lag samples, at least 2 are needed."
                )
        splits = self._splits(X, y)
        scorer = check_scoring(SVC(), scoring=self.scoring)
        settings = list(itertools.product(Cs, kernels))
        n_jobs = effective_n_jobs(self.n_jobs)

        device = self._mean_device()
        # (order, lag) -> per-fold outputs; order 1 ignores the lag
        results, refit_starts = {}, {}
        # one BLAS thread: the eigendecompositions of 10-200 channel matrices
        # run faster single-threaded, and the tasks are the parallel unit
        with threadpool_limits(limits=1), Parallel(n_jobs=n_jobs,
                                                   prefer="threads") as parallel:
            for lag in dict.fromkeys(lags):
                todo = [p for p in dict.fromkeys(orders)
                        if (p, lag if p > 1 else None) not in results]
                if not todo:
                    continue
                covs = self._covariances(X, todo, lag)
                # inverses for the folds' starting points, once per order
                inverses = dict(zip(todo, parallel(
                    delayed(_inverses)(covs[p]) for p in todo)))
                tasks = [(p, k) for p in sorted(todo, reverse=True)
                         for k in range(len(splits))]
                outs = parallel(
                    delayed(_evaluate_fold)(
                        covs[p], inverses[p], y, splits[k][0], splits[k][1],
                        settings, scorer, self.search_tol, self.probability,
                        self.random_state, self.return_train_score, device)
                    for p, k in tasks)
                for p in todo:
                    key = (p, lag if p > 1 else None)
                    folds = [o for (q, _), o in zip(tasks, outs) if q == p]
                    results[key] = folds
                    refit_starts[key] = folds[-1].pop("refit_start")
                    for f in folds[:-1]:
                        del f["refit_start"]
                    if self.verbose:
                        best = max(np.mean([f["test"][s] for f in folds])
                                   for s in range(len(settings)))
                        print(f"[AugmentedCovarianceSearchCV] order={p} lag={lag}: "
                              f"best mean score {best:.4f}")
                del covs, inverses

        self._format_results(results, orders, lags, settings, len(splits))
        self.n_splits_ = len(splits)
        self.search_time_ = time.perf_counter() - t_start
        t_refit = time.perf_counter()
        best = (self.best_order_, self.best_lag_ if self.best_order_ > 1 else None)
        with threadpool_limits(limits=1):
            self._refit(X, y, init=refit_starts[best])
        self.refit_time_ = time.perf_counter() - t_refit
        return self

    def _format_results(self, results, orders, lags, settings, n_splits):
        params, test, train, fit_t, score_t, n_iter = [], [], [], [], [], []
        # GridSearchCV's candidate order for moabb_param_grid (sorted names)
        for lag, order in itertools.product(lags, orders):
            folds = results[(order, lag if order > 1 else None)]
            for s, (C, kernel) in enumerate(settings):
                params.append({"order": order, "lag": lag, "C": C, "kernel": kernel})
                test.append([f["test"][s] for f in folds])
                if self.return_train_score:
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
        if self.return_train_score:
            store("train_score", train, splits=True)
        res["n_iter_mean"] = np.asarray(n_iter)
        self.cv_results_ = res
        self.best_index_ = int(res["rank_test_score"].argmin())
        self.best_params_ = dict(params[self.best_index_])
        self.best_score_ = float(res["mean_test_score"][self.best_index_])
        self.best_order_ = self.best_params_["order"]
        self.best_lag_ = self.best_params_["lag"]

    def _refit(self, X, y, init=None):
        p = self.best_params_
        covmats = self._covariances(X, [p["order"]], p["lag"])[p["order"]]
        M, feats, _ = riemann_mean_logmaps(covmats, init=init, tol=self.tol,
                                           n_jobs=self.n_jobs,
                                           device=self._mean_device())
        acm = AugmentedCovariances(order=p["order"], lag=p["lag"],
                                   estimator=self.estimator,
                                   backend=self.backend).fit(X, y)
        ts = TangentSpace(metric="riemann")
        ts.reference_ = M  # the fitted attribute TangentSpace.fit would set
        svc = SVC(C=p["C"], kernel=p["kernel"],
                  **_svc_extra(self.probability, self.random_state)).fit(feats, y)
        self.best_estimator_ = Pipeline([("augmentedcovariances", acm),
                                         ("tangentspace", ts), ("svc", svc)])
        self.classes_ = svc.classes_

    # -- prediction -------------------------------------------------------------

    def predict(self, X):
        """Labels of epochs ``X``, shape (n_trials, n_channels, n_times)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def decision_function(self, X):
        """SVC decision values of epochs ``X``, shape (n_trials,) or (n_trials, n_classes)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)

    def _has_proba(self):
        return bool(self.probability)

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (``probability=True``), shape (n_trials, n_classes)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    def score(self, X, y):
        """Score of the refitted pipeline with ``scoring`` (default accuracy)."""
        check_is_fitted(self, "best_estimator_")
        return check_scoring(self.best_estimator_, scoring=self.scoring)(
            self.best_estimator_, X, y)

    def __sklearn_tags__(self):
        return epochs_tags(super().__sklearn_tags__())
