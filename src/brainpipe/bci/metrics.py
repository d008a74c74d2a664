"""BCI scores: normalised Matthews correlation and Wolpaw information transfer rate.

Both follow the pseudo-online MOABB paper (Carrara et al.): nMCC replaces
accuracy / ROC-AUC when classes are unbalanced (many idle windows), and ITR
puts accuracy, number of classes and decision speed on one scale.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.metrics import get_scorer, make_scorer, matthews_corrcoef

__all__ = ["nmcc", "itr", "bits_per_decision", "nmcc_scorer", "get_bci_scorer"]


def nmcc(y_true, y_pred):
    """Normalised Matthews correlation coefficient, ``(MCC + 1) / 2``.

    Multiclass MCC as computed by :func:`sklearn.metrics.matthews_corrcoef`
    (Gorodkin's R_K), mapped from [-1, 1] to [0, 1] so that it reads like an
    accuracy: 1 is perfect, 0.5 is chance (or a constant prediction, for which
    scikit-learn defines MCC = 0), 0 is total disagreement.

    Parameters
    ----------
    y_true : array-like, shape (n_samples,)
        True labels.
    y_pred : array-like, shape (n_samples,)
        Predicted labels.

    Returns
    -------
    score : float
        In [0, 1].
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D label arrays, got shapes "
            f"{y_true.shape} and {y_pred.shape}."
        )
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {y_true.shape[0]} "
            f"and {y_pred.shape[0]}."
        )
    if y_true.size == 0:
        raise ValueError("y_true and y_pred are empty: nMCC needs at least one label.")
    return (float(matthews_corrcoef(y_true, y_pred)) + 1.0) / 2.0


def bits_per_decision(accuracy, n_classes):
    """Wolpaw bits per decision.

    ``B = log2 N + P log2 P + (1 - P) log2((1 - P) / (N - 1))``.

    Conventions (stated, since the formula is undefined or misleading there):

    * ``P = 1``: the last term is ``0 * log2 0``, taken as its limit 0, so
      ``B = log2 N``.
    * ``P <= 1 / N`` (at or below chance): ``B = 0``. The formula is 0 at
      ``P = 1/N`` and rises again below it (a classifier that is reliably
      wrong carries information only if one inverts it, which a BCI does not
      do), so we clip to 0 as is usual in the BCI literature.

    Parameters
    ----------
    accuracy : float
        Probability of a correct decision ``P``, in [0, 1].
    n_classes : int
        Number of possible decisions ``N`` (>= 2).

    Returns
    -------
    bits : float
        Bits per decision, in [0, log2 N].
    """
    p, n = _check_accuracy(accuracy), _check_n_classes(n_classes)
    if p <= 1.0 / n:
        return 0.0
    bits = math.log2(n) + p * math.log2(p)
    if p < 1.0:
        bits += (1.0 - p) * math.log2((1.0 - p) / (n - 1))
    # Rounding can leave -1e-17 just above chance; the value is >= 0 by theory.
    return max(bits, 0.0)


def itr(accuracy, n_classes, seconds_per_decision):
    """Wolpaw information transfer rate in bits per minute.

    ``ITR = B * 60 / T`` with ``B`` from :func:`bits_per_decision` (same edge
    conventions: 0 at or below chance, ``log2 N`` bits at ``P = 1``).

    Parameters
    ----------
    accuracy : float
        Probability of a correct decision, in [0, 1].
    n_classes : int
        Number of possible decisions (>= 2).
    seconds_per_decision : float
        Time ``T`` one decision takes, in seconds (> 0). Offline, the trial
        length; pseudo-online, the step between two windows' decisions (say
        which one you use).

    Returns
    -------
    bits_per_minute : float
    """
    if isinstance(seconds_per_decision, bool) or not isinstance(seconds_per_decision, Real):
        raise TypeError(
            "seconds_per_decision must be a number of seconds, got "
            f"{type(seconds_per_decision).__name__} instead."
        )
    t = float(seconds_per_decision)
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(
            f"seconds_per_decision must be finite and > 0, got {seconds_per_decision!r}."
        )
    return bits_per_decision(accuracy, n_classes) * 60.0 / t


def _check_accuracy(accuracy):
    if isinstance(accuracy, bool) or not isinstance(accuracy, Real):
        raise TypeError(f"accuracy must be a number in [0, 1], got {type(accuracy).__name__}.")
    p = float(accuracy)
    if not (0.0 <= p <= 1.0):  # also rejects NaN
        raise ValueError(f"accuracy must be in [0, 1], got {accuracy!r}.")
    return p


def _check_n_classes(n_classes):
    if isinstance(n_classes, bool) or not isinstance(n_classes, Integral) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}.")
    return int(n_classes)


#: scikit-learn scorer for :func:`nmcc` (usable in MOABB paradigms' ``scorer=``,
#: ``cross_val_score`` and ``GridSearchCV``).
nmcc_scorer = make_scorer(nmcc)


def get_bci_scorer(name):
    """Return a scorer by name: ``"nmcc"`` or any scikit-learn scorer name.

    Parameters
    ----------
    name : str
        ``"nmcc"`` or a name accepted by :func:`sklearn.metrics.get_scorer`
        (``"accuracy"``, ``"roc_auc"``, ``"balanced_accuracy"``, ...).
    """
    if name == "nmcc":
        return nmcc_scorer
    try:
        return get_scorer(name)
    except ValueError as err:
        raise ValueError(
            f"Unknown scorer {name!r}: use 'nmcc' or a scikit-learn scorer name "
            "such as 'accuracy', 'roc_auc', 'balanced_accuracy'."
        ) from err
