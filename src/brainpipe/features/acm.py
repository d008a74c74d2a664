"""Augmented covariance matrices (ACM) as a scikit-learn transformer.

Carrara & Papadopoulo delay-embed each epoch (``order`` copies, ``lag``
samples apart, MOABB's ``AugmentedDataset``) and take the covariance of the
embedded signal, an SPD matrix of size ``n_channels * order`` that carries
temporal as well as spatial structure. The transformer stays thin: the
numerical work is :func:`brainpipe.kernels.epoch_covariances`; here live the
parameter checks, the optional choice of order and lag by embedding criteria
(:func:`brainpipe.features.embedding.estimate_embedding`) and a check that the
matrices can go on to pyriemann.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from brainpipe._check import check_option
from brainpipe.features._epochs import check_epochs, check_fitted_shape, epochs_tags
from brainpipe.features.embedding import estimate_embedding
from brainpipe.kernels import BACKENDS, ESTIMATORS, epoch_covariances

__all__ = ["AugmentedCovariances"]

# A channel covariance whose smallest eigenvalue is below this fraction of the
# largest is singular in float64 (average reference gives ~1e-16).
_RANK_RTOL = 1e-10


def _order_or_auto(value, name):
    if isinstance(value, str):
        check_option(name, value, ("auto",))
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1 or 'auto', got {value!r}.")
    return int(value)


class AugmentedCovariances(TransformerMixin, BaseEstimator):
    """Augmented covariance matrices of epochs (ACM, Carrara & Papadopoulo).

    Each epoch is delay-embedded as MOABB's ``AugmentedDataset(order, lag)``
    does (copy ``p`` is ``X[:, p*lag : n_times - (order-p)*lag]``, stacked on
    the channel axis) and its covariance is estimated as pyriemann's
    ``Covariances(estimator)`` would. The output drops into pyriemann and
    MOABB pipelines (``TangentSpace``, ``MDM``) and ``GridSearchCV``.

    Parameters
    ----------
    order : int or "auto", default=8
        Embedding dimension (number of delayed copies). ``"auto"`` chooses it
        in ``fit`` by Cao's method (or false nearest neighbours, see
        ``embedding``) on the training epochs.
    lag : int or "auto", default=1
        Delay between copies, in samples. ``"auto"`` chooses it in ``fit`` as
        the first minimum of the auto mutual information.
    estimator : {"scm", "cov", "oas", "lwf"}, default="scm"
        Covariance estimator, with pyriemann's names and results. ``"cov"`` is
        what MOABB's ACM pipeline uses; ``"oas"`` and ``"lwf"`` shrink towards
        a scaled identity and stay positive definite on rank-deficient data.
    backend : {"auto", "numpy", "numba", "torch"}, default="auto"
        Implementation of the covariance kernel (``"auto"``: CUDA torch when a
        GPU is present, Numba otherwise).
    max_order : int, default=10
        Largest order tried when ``order="auto"``.
    max_lag : int, default=10
        Largest lag tried when ``lag="auto"``.
    embedding : {"cao", "fnn"}, default="cao"
        Criterion for ``order="auto"``: Cao's averaged false nearest
        neighbours (``E1`` saturation) or Kennel's false nearest neighbours.
    n_jobs : int, default=1
        Threads for the neighbour searches of ``order="auto"``.
    embedding_params : dict or None, default=None
        Further keyword arguments of
        :func:`~brainpipe.features.embedding.estimate_embedding` (``n_bins``,
        ``threshold``, ``theiler``, ``n_ref``, ``max_trials``,
        ``max_channels``), e.g. ``{"n_ref": 250}`` to search neighbours of 250
        reference points per series, about 3 times faster.

    Attributes
    ----------
    order_ : int
        Order used by ``transform`` (``order``, or the estimate).
    lag_ : int
        Lag used by ``transform`` (``lag``, or the estimate).
    n_channels_in_ : int
        Number of channels seen in ``fit``.

    Notes
    -----
    ``"auto"`` is a parameter value rather than a separate estimator so that
    one ``GridSearchCV`` can compare it with fixed values, and so that the
    estimate is made on the training folds only. It follows the authors'
    recipe (per channel and trial, at most 30 of each, averaged); they report
    it scores about 0.03-0.06 below a full grid search, for a small fraction
    of the cost.

    Rank-deficient data (average reference, ICA component removal, a flat
    channel) makes ``"scm"``/``"cov"`` matrices singular; ``transform`` then
    raises and suggests a shrinkage estimator instead of letting pyriemann
    fail later with "Matrices must be positive definite".

    Examples
    --------
    >>> from pyriemann.tangentspace import TangentSpace
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.svm import SVC
    >>> clf = make_pipeline(AugmentedCovariances(order=4, lag=2, estimator="oas"),
    ...                     TangentSpace(metric="riemann"), SVC())
    """

    def __init__(self, order=8, lag=1, estimator="scm", backend="auto", max_order=10,
                 max_lag=10, embedding="cao", n_jobs=1, embedding_params=None):
        self.order = order
        self.lag = lag
        self.estimator = estimator
        self.backend = backend
        self.max_order = max_order
        self.max_lag = max_lag
        self.embedding = embedding
        self.n_jobs = n_jobs
        self.embedding_params = embedding_params

    def fit(self, X, y=None):
        """Check parameters, choose order/lag if ``"auto"``, remember the shape.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_channels, n_times)
            Training epochs.
        y : None
            Ignored; present for pipeline compatibility.

        Returns
        -------
        self : AugmentedCovariances
        """
        check_option("estimator", self.estimator, ESTIMATORS)
        check_option("backend", self.backend, BACKENDS)
        check_option("embedding", self.embedding, ("cao", "fnn"))
        order = _order_or_auto(self.order, "order")
        lag = _order_or_auto(self.lag, "lag")
        X = check_epochs(X)
        extra = dict(self.embedding_params or {})
        reserved = {"max_order", "max_lag", "method", "order", "lag", "n_jobs",
                    "return_details"} & set(extra)
        if reserved:
            raise ValueError(
                f"embedding_params cannot set {sorted(reserved)}: they are "
                "AugmentedCovariances parameters of their own (or fixed)."
            )
        if order == "auto" or lag == "auto":
            order, lag = estimate_embedding(
                X,
                max_order=self.max_order,
                max_lag=self.max_lag,
                method=self.embedding,
                order=None if order == "auto" else order,
                lag=None if lag == "auto" else lag,
                n_jobs=self.n_jobs,
                **extra,
            )
        n_channels, n_times = X.shape[1:]
        n_eff = n_times - order * lag if order > 1 else n_times
        if n_eff < 2:
            raise ValueError(
                f"Epochs of {n_times} samples are too short for order={order}, "
                f"lag={lag}: the embedding keeps n_times - order*lag = {n_eff} "
                "samples, at least 2 are needed."
            )
        size = n_channels * order
        if self.estimator in ("scm", "cov") and n_eff - 1 < size:
            raise ValueError(
                f"The {size}x{size} augmented covariance (order={order}, "
                f"{n_channels} channels) would be estimated from {n_eff} samples "
                "per epoch, too few for a positive definite matrix. Use a "
                "shrinkage estimator (estimator='oas' or 'lwf'), a lower order or "
                "longer epochs."
            )
        self.order_ = order
        self.lag_ = lag
        self.n_channels_in_ = n_channels
        return self

    def transform(self, X):
        """Augmented covariance matrix of every epoch.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_channels, n_times)
            Epochs, with the channels seen in ``fit``.

        Returns
        -------
        covmats : ndarray, shape (n_trials, n_channels * order_, n_channels * order_)
            SPD matrices; block ``(p, q)`` pairs copies ``p`` and ``q``.
        """
        check_is_fitted(self, "order_")
        X = check_epochs(X)
        check_fitted_shape(self, X)
        covmats = epoch_covariances(
            X, order=self.order_, lag=self.lag_, estimator=self.estimator,
            backend=self.backend,
        )
        if self.estimator in ("scm", "cov"):
            _check_full_rank(covmats, X.shape[1])
        return covmats

    def __sklearn_tags__(self):
        return epochs_tags(super().__sklearn_tags__())


def _check_full_rank(covmats, n_channels):
    """Raise when epochs have linearly dependent channels.

    The leading ``n_channels`` block is the channel covariance of the first
    copy; if it is singular so is the whole matrix (a principal submatrix of
    an SPD matrix is SPD). Checking it costs a small ``eigvalsh`` where a
    Cholesky of every augmented matrix would cost more than computing them.
    """
    block = np.asarray(covmats)[:, :n_channels, :n_channels]
    eig = np.linalg.eigvalsh(block)
    top = eig[:, -1]
    bad = (top <= 0) | (eig[:, 0] <= _RANK_RTOL * top)
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    rank = int(np.sum(eig[first] > _RANK_RTOL * max(top[first], 0.0)))
    raise ValueError(
        f"{int(bad.sum())} of {len(bad)} epochs give covariance matrices that are "
        f"not positive definite: the channel covariance of epoch {first} has rank "
        f"{rank} < {n_channels} channels (linearly dependent channels, as after "
        "average reference or ICA component removal, or a flat channel). "
        "pyriemann (TangentSpace, MDM) would fail on them with 'Matrices must be "
        "positive definite'. Use a shrinkage estimator, estimator='oas' or "
        "estimator='lwf', or drop one channel per lost rank."
    )
