"""Minimum distance to mean with batched distances: pyriemann's ``MDM``, faster decisions.

:class:`RiemannMDM` is pyriemann's ``MDM`` (same class means, same distances
to float tolerance, same predictions) whose affine-invariant distances are
computed for a whole batch of windows at once: every class mean's inverse
square root ``P_k`` once, then ``||log eig(P_k C_i P_k)||`` by batched
symmetric ``eigvalsh`` on threads of one BLAS thread each
(:func:`brainpipe.kernels.spd.riemann_distances`). pyriemann solves one
generalised eigenproblem per (window, class) through threaded BLAS instead,
which on thousands of small pseudo-online windows is most of the decision time.
"""

from __future__ import annotations

import numpy as np
from pyriemann.classification import MDM

__all__ = ["RiemannMDM"]


class RiemannMDM(MDM):
    """pyriemann ``MDM`` with batched Riemannian distances.

    Parameters
    ----------
    metric : str | dict, default="riemann"
        As pyriemann's ``MDM``. The fast distances are used when the distance
        metric is ``"riemann"``; any other metric is pyriemann's own code.
    n_jobs : int | None, default=-1
        Threads over chunks of matrices, each with one BLAS thread (-1: all
        cores). The class means are pyriemann's, computed with one BLAS thread.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    covmeans_ : ndarray, shape (n_classes, n_channels, n_channels)
        Riemannian mean of each class (pyriemann's ``mean_riemann``).
    """

    def __init__(self, metric="riemann", n_jobs=-1):
        self.metric = metric
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None):
        """Class means, as pyriemann's ``MDM.fit``.

        Parameters
        ----------
        X : ndarray, shape (n_matrices, n_channels, n_channels)
            SPD matrices.
        y : ndarray, shape (n_matrices,)
        sample_weight : ndarray, shape (n_matrices,), optional

        Returns
        -------
        self : RiemannMDM
        """
        # pyriemann's fixed point decomposes all of a class's matrices per
        # iteration: small eigh calls, which threaded BLAS only slows down;
        # and no joblib workers over classes (n_jobs=1), our n_jobs are threads
        from ..kernels.spd import one_blas_thread

        with one_blas_thread():
            plain = MDM(metric=self.metric, n_jobs=1).fit(X, y, sample_weight=sample_weight)
        for name in ("classes_", "covmeans_", "_metric_mean", "_metric_dist"):
            setattr(self, name, getattr(plain, name))
        return self

    def _predict_distances(self, X):
        """Distance of every matrix to every class mean, shape (n_matrices, n_classes)."""
        if self._metric_dist != "riemann":
            return super()._predict_distances(X)
        from ..kernels.spd import invsqrtm, riemann_distances

        whiteners = np.stack([invsqrtm(M) for M in self.covmeans_])
        return riemann_distances(np.asarray(X, dtype=np.float64), whiteners, n_jobs=self.n_jobs)
