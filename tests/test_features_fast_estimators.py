"""RiemannTangentSpace and GramSVC give pyriemann's and scikit-learn's outputs."""

import numpy as np
import pytest
from pyriemann.tangentspace import TangentSpace
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from brainpipe.features.gram_svc import GramSVC
from brainpipe.features.tangent_space import RiemannTangentSpace, tangent_vectors


def _spd(n=200, c=12, seed=0, cond=True):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, c, 120))
    if cond:  # correlated channels: an ill-conditioned set, as ACM matrices are
        A[:, :3] += 4 * A[:, 3:6]
    return np.einsum("nct,ndt->ncd", A, A) / 120


def test_tangent_space_equals_pyriemann():
    C = _spd()
    ref = TangentSpace(metric="riemann").fit(C)
    ours = RiemannTangentSpace()
    T = ours.fit_transform(C)
    scale = np.abs(ref.transform(C)).max()
    np.testing.assert_allclose(ours.reference_, ref.reference_, atol=1e-8 * np.abs(ref.reference_).max())
    np.testing.assert_allclose(T, ref.transform(C), atol=1e-7 * scale)
    C2 = _spd(50, seed=1)
    np.testing.assert_allclose(ours.transform(C2), ref.transform(C2), atol=1e-7 * scale)
    assert ours.n_iter_ <= 6


def test_tangent_vectors_reference_formula():
    # at the identity the tangent vector of C is upper(logm(C)) with sqrt(2) off-diagonal weights
    C = _spd(3, c=4, cond=False)
    w, V = np.linalg.eigh(C[0])
    L = (V * np.log(w)) @ V.T
    iu = np.triu_indices(4)
    expected = L[iu] * np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))
    np.testing.assert_allclose(tangent_vectors(C[:1], np.eye(4))[0], expected, atol=1e-12)


def test_tangent_space_in_a_pipeline_predicts_as_pyriemann():
    C = _spd(240)
    y = np.repeat([0, 1], 120)
    C[y == 1] += 0.3 * np.eye(C.shape[1])
    a = make_pipeline(TangentSpace(metric="riemann"), SVC(kernel="linear")).fit(C, y)
    b = make_pipeline(RiemannTangentSpace(), SVC(kernel="linear")).fit(C, y)
    np.testing.assert_allclose(a.decision_function(C), b.decision_function(C), atol=1e-5)


def test_tangent_space_refuses_bad_input():
    with pytest.raises(ValueError, match="square"):
        RiemannTangentSpace().fit(np.zeros((3, 4, 5)))
    C = _spd(10)
    C[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RiemannTangentSpace().fit(C)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_gram_svc_equals_svc(kernel, n_classes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 40))
    y = rng.integers(0, n_classes, 300)
    X[y == 1, :3] += 1.5
    Xt = rng.standard_normal((200, 40))
    a = SVC(kernel=kernel, C=0.7).fit(X, y)
    b = GramSVC(kernel=kernel, C=0.7).fit(X, y)
    np.testing.assert_array_equal(a.support_, b.svc_.support_)
    np.testing.assert_allclose(a.decision_function(Xt), b.decision_function(Xt), atol=1e-8)
    np.testing.assert_array_equal(a.predict(Xt), b.predict(Xt))


def test_gram_svc_bad_kernel():
    with pytest.raises(ValueError, match="kernel"):
        GramSVC(kernel="cosine").fit(np.zeros((4, 2)), [0, 1, 0, 1])
