"""A scikit-learn pipeline deciding on the sliding windows of continuous runs.

:class:`WindowDecoder` trains a pipeline on chosen windows of training runs
and decides on every window of a test run, in time order, chunk by chunk:
windows are never all in memory. A pipeline whose front computes
covariances (:func:`split_covariance_step`) has that front replaced by the
streaming kernels (:func:`brainpipe.kernels.iter_window_covariances`, same
estimator, order and lag), checked against the pipeline's own step on a few
windows; other pipelines get chunks of the zero-copy
:func:`brainpipe.kernels.sliding_windows` view.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .._check import check_positive_int

__all__ = ["WindowDecoder", "split_covariance_step"]


def _is_plain_covariances(step):
    """A pyriemann ``Covariances`` (or a subclass that keeps its ``transform``)."""
    from pyriemann.estimation import Covariances

    return isinstance(step, Covariances) and type(step).transform is Covariances.transform


def _is_augmented_dataset(step):
    """MOABB's ``AugmentedDataset`` delay embedding."""
    # a pipeline can only hold an AugmentedDataset once MOABB's module is
    # loaded; importing MOABB just to answer "no" costs seconds per process
    features = sys.modules.get("moabb.pipelines.features")
    return features is not None and isinstance(step, features.AugmentedDataset)


def split_covariance_step(pipeline):
    """Find the covariance step at the front of a pipeline.

    Recognised fronts: pyriemann ``Covariances(estimator)``; MOABB
    ``AugmentedDataset(order, lag)`` followed by ``Covariances``; an
    ``AugmentedCovariances(order, lag, estimator)`` step (brainpipe.features).
    Estimators other than those of the kernels
    (:data:`brainpipe.kernels.ESTIMATORS`) or extra ``Covariances`` keywords
    are not recognised.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline | estimator

    Returns
    -------
    spec : dict | None
        ``{"estimator": str, "order": int, "lag": int}``, or None.
    n_steps : int
        Number of leading steps the kernels replace (0 when ``spec`` is None).
    """
    from ..features.acm import AugmentedCovariances
    from ..kernels import ESTIMATORS

    if not isinstance(pipeline, Pipeline):
        return None, 0
    steps = [est for _, est in pipeline.steps]
    order, lag, k = 1, 1, 0
    if _is_augmented_dataset(steps[0]):
        params = steps[0].get_params()
        order, lag, k = int(params["order"]), int(params["lag"]), 1
    if k >= len(steps):
        return None, 0
    step = steps[k]
    if _is_plain_covariances(step):
        if getattr(step, "kwds", None):
            return None, 0
        estimator = step.get_params()["estimator"]
    elif isinstance(step, AugmentedCovariances) and k == 0:
        params = step.get_params()
        estimator = params.get("estimator", "scm")
        order, lag = params.get("order", 1), params.get("lag", 1)
        if not all(isinstance(v, (int, np.integer)) for v in (order, lag)):
            return None, 0  # chosen at fit time: not known before
        order, lag = int(order), int(lag)
    else:
        return None, 0
    if not isinstance(estimator, str) or estimator not in ESTIMATORS:
        return None, 0
    return {"estimator": estimator, "order": order, "lag": lag}, k + 1


class WindowDecoder:
    """A scikit-learn pipeline applied to the sliding windows of continuous runs.

    Parameters
    ----------
    pipeline : estimator
        Works on epochs ``(n_windows, n_channels, window)``.
    window, step : int
        Window length and step in samples (decisions every ``step``).
    chunk : int
        Windows processed together.
    backend : str
        Backend of :func:`brainpipe.kernels.iter_window_covariances`.
    use_kernels : bool
        Replace a covariance front (:func:`split_covariance_step`) by the
        streaming kernels. It is checked against the pipeline's own step on
        a few training windows; on a mismatch the decoder warns and falls
        back to windows.

    Attributes
    ----------
    mode_ : {"kernels", "windows"}
        How decisions are computed (a search fitted on windows still decides
        through the kernels when its refitted pipeline has a covariance front).
    spec_ : dict | None
        Covariance estimator, order and lag used by the kernels.
    estimator_ : estimator
        The fitted pipeline (its covariance front removed in "kernels" mode).
    classes_ : ndarray
    timing_ : dict
        ``fit_s``, and after :meth:`predict` ``window_s`` (making windows or
        covariances), ``classify_s`` (the rest of the pipeline), ``n_windows``.
    """

    def __init__(self, pipeline, window, step, *, chunk=256, backend="auto", use_kernels=True):
        self.pipeline = pipeline
        self.window = window
        self.step = step
        self.chunk = chunk
        self.backend = backend
        self.use_kernels = use_kernels

    # -- features, chunk by chunk --------------------------------------------
    def _chunks(self, x, step):
        """Yield ``(first_window_index, features)`` for all windows of ``x``, in time order."""
        from ..kernels import iter_window_covariances, sliding_windows

        chunk = check_positive_int(self.chunk, "chunk")
        if self.mode_ == "kernels":
            i0 = 0
            for covs in iter_window_covariances(
                x,
                self.window,
                step,
                chunk=chunk,
                order=self.spec_["order"],
                lag=self.spec_["lag"],
                estimator=self.spec_["estimator"],
                backend=self.backend,
            ):
                yield i0, covs
                i0 += len(covs)
        else:
            view = sliding_windows(x, self.window, step)
            for i0 in range(0, len(view), chunk):
                yield i0, np.ascontiguousarray(view[i0 : i0 + chunk])

    def _kernel_matches(self, front, xs, selections):
        """Compare the kernels with the pipeline's own covariance step on a few
        windows of the first training signal that has chosen windows."""
        from ..kernels import iter_window_covariances, sliding_windows

        first = next(i for i, (idx, _, _) in enumerate(selections) if len(idx))
        x, step = xs[first], selections[first][2]
        view = sliding_windows(x, self.window, step)
        n = min(4, len(view))
        # covariance fronts are stateless; MOABB's AugmentedDataset wants a y
        ref = front.fit_transform(np.ascontiguousarray(view[:n]), np.zeros(n))
        got = next(
            iter_window_covariances(
                x[:, : (n - 1) * step + self.window],
                self.window,
                step,
                chunk=n,
                order=self.spec_["order"],
                lag=self.spec_["lag"],
                estimator=self.spec_["estimator"],
                backend=self.backend,
            )
        )
        got = np.asarray(got)
        scale = np.abs(ref).max()
        return got.shape == ref.shape and np.allclose(got, ref, rtol=1e-6, atol=1e-9 * scale)

    def fit(self, xs, selections):
        """Fit on chosen windows of training runs.

        Parameters
        ----------
        xs : list of ndarray, shape (n_channels, n_times_i)
            Continuous training signals.
        selections : list of (ndarray of int, ndarray, int)
            Per signal: indices of the chosen windows among all windows at the
            given step, their labels, and that step (samples).

        Returns
        -------
        self
        """
        t0 = time.perf_counter()
        pipeline = clone(self.pipeline)
        spec, n_front = split_covariance_step(pipeline) if self.use_kernels else (None, 0)
        self.spec_ = spec
        self.mode_ = "kernels" if spec is not None else "windows"
        if spec is not None:
            if not self._kernel_matches(pipeline[:n_front], xs, selections):
                warnings.warn(
                    f"The streaming covariance kernels do not reproduce the first "
                    f"step(s) of {pipeline[:n_front]} exactly; using sliding windows "
                    "through the whole pipeline instead.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.mode_, self.spec_ = "windows", None
        self.estimator_ = pipeline[n_front:] if self.mode_ == "kernels" else pipeline
        feats, ys = [], []
        for x, (idx, y, step) in zip(xs, selections):
            idx = np.asarray(idx)
            if idx.size == 0:
                continue
            for i0, f in self._chunks(x, step):
                sel = idx[(idx >= i0) & (idx < i0 + len(f))] - i0
                if sel.size:
                    feats.append(np.asarray(f)[sel])
            ys.append(np.asarray(y))
        X, y = np.concatenate(feats), np.concatenate(ys)
        self.estimator_.fit(X, y)
        if self.mode_ == "windows" and self.use_kernels:
            self._stream_refitted(xs, selections)
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.timing_ = {"fit_s": time.perf_counter() - t0}
        return self

    def _stream_refitted(self, xs, selections):
        """Stream the covariance front of a fitted search's refitted pipeline.

        A search (``AugmentedCovarianceSearchCV``, ``GridSearchCV``) needs
        windows to fit, as its order and lag are chosen then; once fitted, its
        ``best_estimator_`` has a fixed front that the kernels can replace
        for the decisions.
        """
        best = getattr(self.estimator_, "best_estimator_", None)
        spec, n_front = split_covariance_step(best) if best is not None else (None, 0)
        if spec is None:
            return
        self.spec_ = spec
        if self._kernel_matches(best[:n_front], xs, selections):
            self.mode_, self.estimator_ = "kernels", best[n_front:]
        else:
            self.spec_ = None

    def predict(self, x, *, proba=False):
        """Decide on every window of a continuous signal, in time order.

        Parameters
        ----------
        x : ndarray, shape (n_channels, n_times)
        proba : bool
            Also return class probabilities (None when the pipeline has no
            ``predict_proba``); the decisions are then their arg-max.

        Returns
        -------
        y_pred : ndarray, shape (n_windows,)
        proba : ndarray, shape (n_windows, n_classes) | None
        """
        has_proba = proba and hasattr(self.estimator_, "predict_proba")
        preds, probas = [], []
        t_win = t_clf = 0.0
        t0 = time.perf_counter()
        for _, f in self._chunks(x, self.step):
            t1 = time.perf_counter()
            t_win += t1 - t0
            if has_proba:
                p = self.estimator_.predict_proba(f)
                probas.append(p)
                preds.append(self.classes_[np.argmax(p, axis=1)])
            else:
                preds.append(self.estimator_.predict(f))
            t0 = time.perf_counter()
            t_clf += t0 - t1
        y_pred = np.concatenate(preds)
        self.timing_.update(window_s=t_win, classify_s=t_clf, n_windows=len(y_pred))
        return y_pred, (np.concatenate(probas) if has_proba else None)
