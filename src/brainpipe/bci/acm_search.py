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

Means: pyriemann's ``mean_riemann`` by inexact Newton steps
(:func:`brainpipe.kernels.riemann_mean.riemann_mean_logmaps`). Each fold
starts from ``A # H`` of its own training matrices (nothing of the test fold
enters a reference) and stops at a gradient norm of ``search_tol=1e-4``: on
BNCI2014_001-shaped order-8 matrices that moves the SVC decision values by
~1e-5, what libsvm's own stopping rule does when the features move by 1e-9,
so scores, ranks and selection are ``GridSearchCV``'s (the tests and
``benchmarks/bench_acm_search.py`` check it; ``search_tol=1e-8`` gives
pyriemann's precision). The refit's mean, the one the returned pipeline
keeps, converges to ``tol=1e-8`` from the mean of the fold means; the
refitted pipeline decides with :class:`~brainpipe.features.RiemannTangentSpace`
and :class:`~brainpipe.features.GramSVC` (pyriemann's tangent vectors and
libsvm's decisions to float tolerance, batched ``eigh`` on threads). On nearly
singular matrices (condition numbers above ~1e12) the iteration stops when
the gradient stops decreasing, where pyriemann runs 50 iterations and warns.
``backend="torch"`` (``"auto"`` with a CUDA GPU) batches the
eigendecompositions on the GPU.

The work inside one fold is in :mod:`brainpipe.bci._acm_folds`.
"""

from __future__ import annotations

import itertools
import numbers
import time

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import check_scoring
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._check import check_option, check_positive, check_positive_int
from ..features._epochs import check_epochs, epochs_tags
from ..features.acm import AugmentedCovariances
from ..features.embedding import estimate_embedding
from ..kernels import BACKENDS, ESTIMATORS, effective_length
from ..kernels.riemann_mean import mean_of_fold_means, riemann_mean_logmaps, spd_factors
from ._acm_folds import (KERNELS, NewtonMean, as_values, cv_results, evaluate_fold,
                         lag_covariances, moabb_param_grid, refit_steps)

__all__ = ["AugmentedCovarianceSearchCV", "NewtonMean", "moabb_param_grid"]


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
    search_subsample : int, default=1
        The cross-validation sees every ``search_subsample``-th epoch (in the
        order given, before the folds are cut); the refit uses all of them.
        Meant for overlapping sliding windows in time order, the training
        sets of the pseudo-online evaluation (Carrara et al. train on
        overlapping windows): at a window step of a quarter window,
        neighbours share 75 % of their samples, and every k-th window is the
        same training design at a k times larger step, so the choice of
        order and lag costs about k times less. 1: exactly ``GridSearchCV``'s
        selection on all epochs.
    tangent_dtype : {"float64", "float32"}, default="float64"
        Precision of the refitted pipeline's decision-time log maps
        (:class:`~brainpipe.features.RiemannTangentSpace`'s
        ``transform_dtype``): ``"float32"`` is a faster estimator of its own,
        vectors within about 1e-6 of the float64 ones; the search, the mean
        and the training vectors stay float64.

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
        ``acm: AugmentedCovariances -> ts: RiemannTangentSpace -> svm:
        GramSVC`` (the step names and fast steps of
        :func:`brainpipe.bci.pipelines.acm_ts_svm`: pyriemann's tangent
        vectors and libsvm's decisions to float tolerance), refitted on all
        data; ``svm`` is ``SVC`` with ``probability=True``.
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
                 tol=1e-8, embedding_params=None, verbose=0, search_subsample=1,
                 tangent_dtype="float64"):
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
        self.search_subsample = search_subsample
        self.tangent_dtype = tangent_dtype

    # -- parameters ---------------------------------------------------------

    def _check_params(self):
        orders = as_values(self.orders, "orders",
                            lambda v: check_positive_int(v, "orders"))
        lags = as_values(self.lags, "lags", lambda v: check_positive_int(v, "lags"))
        Cs = as_values(self.Cs, "Cs", lambda v: check_positive(v, "Cs"))
        kernels = as_values(self.kernels, "kernels",
                             lambda v: check_option("kernels", v, KERNELS))
        check_option("estimator", self.estimator, ESTIMATORS)
        check_option("mode", self.mode, ("grid", "embedding"))
        check_option("backend", self.backend, BACKENDS)
        for name in ("search_tol", "tol"):
            check_positive(getattr(self, name), name)
        check_positive_int(self.search_subsample, "search_subsample")
        check_option("tangent_dtype", self.tangent_dtype, ("float64", "float32"))
        return orders, lags, Cs, kernels

    def _splits(self, X, y):
        cv = self.cv
        if isinstance(cv, numbers.Integral) and self.random_state is not None:
            cv = StratifiedKFold(cv, shuffle=True, random_state=self.random_state)
        cv = check_cv(cv, y, classifier=True)
        return [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y)]

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
        # the search's epochs (the refit takes all of X, y)
        k = self.search_subsample
        Xs, ys = (X, y) if k == 1 else (np.ascontiguousarray(X[::k]), y[::k])
        if self.mode == "embedding":
            order, lag = estimate_embedding(Xs, max_order=max(orders),
                                            max_lag=max(lags), n_jobs=self.n_jobs,
                                            **dict(self.embedding_params or {}))
            self.embedding_order_, self.embedding_lag_ = int(order), int(lag)
            orders, lags = [self.embedding_order_], [self.embedding_lag_]
        for lag in lags:
            if max(orders) > 1:
                effective_length(X.shape[-1], max(orders), lag, what="n_times")
        splits = self._splits(Xs, ys)
        scorer = check_scoring(SVC(), scoring=self.scoring)
        settings = list(itertools.product(Cs, kernels))
        n_jobs = effective_n_jobs(self.n_jobs)

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
                covs = lag_covariances(Xs, todo, lag, self.estimator, self.backend, parallel)
                # Cholesky factors and inverses (the folds' starting points),
                # once per order
                factors = dict(zip(todo, parallel(
                    delayed(spd_factors)(covs[p]) for p in todo)))
                tasks = [(p, k) for p in sorted(todo, reverse=True)
                         for k in range(len(splits))]
                outs = parallel(
                    delayed(evaluate_fold)(
                        covs[p], factors[p], ys, splits[k][0], splits[k][1],
                        settings, scorer, self.search_tol, self.probability,
                        self.random_state, self.return_train_score, self.backend,
                        riemann_mean_logmaps)
                    for p, k in tasks)
                for p in todo:
                    key = (p, lag if p > 1 else None)
                    folds = [o for (q, _), o in zip(tasks, outs) if q == p]
                    results[key] = folds
                    refit_starts[key] = mean_of_fold_means(
                        [f.pop("mean") for f in folds])
                    if self.verbose:
                        best = max(np.mean([f["test"][s] for f in folds])
                                   for s in range(len(settings)))
                        print(f"[AugmentedCovarianceSearchCV] order={p} lag={lag}: "
                              f"best mean score {best:.4f}")
                del covs, factors

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
        res = cv_results(results, orders, lags, settings, n_splits, self.return_train_score)
        self.cv_results_ = res
        self.best_index_ = int(res["rank_test_score"].argmin())
        self.best_params_ = dict(res["params"][self.best_index_])
        self.best_score_ = float(res["mean_test_score"][self.best_index_])
        self.best_order_ = self.best_params_["order"]
        self.best_lag_ = self.best_params_["lag"]

    def _refit(self, X, y, init=None):
        p = self.best_params_
        covmats = lag_covariances(X, [p["order"]], p["lag"], self.estimator,
                                  self.backend)[p["order"]]
        acm = AugmentedCovariances(order=p["order"], lag=p["lag"],
                                   estimator=self.estimator,
                                   backend=self.backend).fit(X, y)
        # the mean's own log maps are the training tangent vectors
        M, feats, info = riemann_mean_logmaps(covmats, init=init, tol=self.tol,
                                              n_jobs=self.n_jobs, backend=self.backend)
        ts, svm = refit_steps(M, feats, info["n_iter"], y, p, tol=self.tol, n_jobs=self.n_jobs,
                              backend=self.backend, probability=self.probability,
                              random_state=self.random_state, tangent_dtype=self.tangent_dtype)
        # step names as in brainpipe.bci.pipelines.acm_ts_svm
        self.best_estimator_ = Pipeline([("acm", acm), ("ts", ts), ("svm", svm)])
        self.classes_ = svm.classes_

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
