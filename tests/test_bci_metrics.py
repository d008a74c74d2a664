"""nMCC and Wolpaw ITR against hand-computed values."""

import math

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import cross_val_score

from brainpipe.bci.metrics import bits_per_decision, get_bci_scorer, itr, nmcc, nmcc_scorer


def test_nmcc_binary_hand_computed():
    # TP=2, TN=1, FP=1, FN=0: MCC = (2*1 - 1*0) / sqrt(3*2*2*1) = 2/sqrt(12)
    y_true = [0, 0, 1, 1]
    y_pred = [0, 1, 1, 1]
    assert nmcc(y_true, y_pred) == pytest.approx((2 / math.sqrt(12) + 1) / 2, rel=1e-12)
    assert nmcc(y_true, y_pred) == pytest.approx(0.7886751346, rel=1e-9)


def test_nmcc_multiclass_hand_computed():
    # Gorodkin's R_K: c = 4 correct of s = 6, true counts t = (2, 2, 2),
    # predicted counts p = (2, 3, 1): (c*s - p.t) / sqrt((s^2 - p.p)(s^2 - t.t))
    # = (24 - 12) / sqrt(22 * 24)
    y_true = ["l", "l", "r", "r", "f", "f"]
    y_pred = ["l", "r", "r", "r", "f", "l"]
    expected = (12 / math.sqrt(22 * 24) + 1) / 2
    assert nmcc(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.7611164839, rel=1e-9)


def test_nmcc_extremes():
    y = np.array([0, 1, 0, 1, 2, 2])
    assert nmcc(y, y) == 1.0
    assert nmcc([0, 0, 1, 1], [1, 1, 0, 0]) == 0.0
    # a constant prediction: scikit-learn defines MCC = 0, so nMCC = 0.5 (chance)
    assert nmcc([0, 1, 0, 1], [1, 1, 1, 1]) == 0.5


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [([0, 1, 1], [0, 1], "same length"), ([], [], "empty"), ([[0, 1]], [[0, 1]], "1-D")],
)
def test_nmcc_bad_inputs(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        nmcc(y_true, y_pred)


def test_itr_hand_computed():
    # N=2, P=0.8: B = 1 + 0.8 log2 0.8 + 0.2 log2 0.2 = 0.2780719 bits; T = 4 s
    assert bits_per_decision(0.8, 2) == pytest.approx(0.2780719051, rel=1e-9)
    assert itr(0.8, 2, 4.0) == pytest.approx(0.2780719051 * 15, rel=1e-9)
    # N=4, P=0.7: B = 2 + 0.7 log2 0.7 + 0.3 log2(0.3/3) = 0.6432204 bits; T = 2 s
    assert bits_per_decision(0.7, 4) == pytest.approx(0.6432203505, rel=1e-9)
    assert itr(0.7, 4, 2) == pytest.approx(19.296610515, rel=1e-9)


def test_itr_edge_conventions():
    # P = 1: log2 N bits per decision
    assert bits_per_decision(1.0, 4) == 2.0
    assert itr(1.0, 2, 1.0) == 60.0
    # at and below chance: 0 by convention (the raw formula rises again below 1/N)
    assert itr(0.5, 2, 1.0) == 0.0
    assert itr(0.25, 4, 1.0) == 0.0
    assert itr(0.1, 4, 1.0) == 0.0
    assert itr(0.0, 2, 1.0) == 0.0
    # just above chance: small and positive, and monotone in P
    values = [itr(p, 3, 2.0) for p in np.linspace(0.34, 1.0, 12)]
    assert values[0] > 0 and np.all(np.diff(values) > 0)


@pytest.mark.parametrize(
    "args, err",
    [
        ((1.2, 2, 1.0), ValueError),
        ((-0.1, 2, 1.0), ValueError),
        ((float("nan"), 2, 1.0), ValueError),
        (("0.8", 2, 1.0), TypeError),
        ((0.8, 1, 1.0), ValueError),
        ((0.8, 2.5, 1.0), ValueError),
        ((0.8, True, 1.0), ValueError),
        ((0.8, 2, 0.0), ValueError),
        ((0.8, 2, -3.0), ValueError),
        ((0.8, 2, float("inf")), ValueError),
        ((0.8, 2, None), TypeError),
    ],
)
def test_itr_bad_inputs(args, err):
    with pytest.raises(err):
        itr(*args)


def test_nmcc_scorer_in_cross_validation():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 4))
    X[:, 0] += 3 * y  # separable along one feature
    scores = cross_val_score(LinearDiscriminantAnalysis(), X, y, cv=3, scoring=nmcc_scorer)
    assert np.all(scores > 0.9)
    clf = LinearDiscriminantAnalysis().fit(X, y)
    assert nmcc_scorer(clf, X, y) == pytest.approx(nmcc(y, clf.predict(X)))


def test_get_bci_scorer():
    assert get_bci_scorer("nmcc") is nmcc_scorer
    assert get_bci_scorer("accuracy") is not None
    with pytest.raises(ValueError, match="Unknown scorer 'bogus'"):
        get_bci_scorer("bogus")
