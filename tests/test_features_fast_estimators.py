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
    with pytest.raises(ValueError, match="sample_weight"):
        RiemannTangentSpace().fit(_spd(10), sample_weight=np.ones(10))


@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_gram_svc_equals_svc(kernel, n_classes):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 40))
    y = rng.integers(0, n_classes, 300)
    X[y == 1, :3] += 1.5
    X[y == 2, 3:6] -= 1.0
    Xt = rng.standard_normal((200, 40))
    labels = np.array(["idle", "left", "right", "feet"])[y]  # predictions are labels, not indices
    a = SVC(kernel=kernel, C=0.7).fit(X, labels)
    b = GramSVC(kernel=kernel, C=0.7).fit(X, labels)
    np.testing.assert_array_equal(a.support_, b.svc_.support_)
    np.testing.assert_allclose(a.decision_function(Xt), b.decision_function(Xt), atol=1e-8)
    np.testing.assert_array_equal(a.predict(Xt), b.predict(Xt))
    if n_classes > 2:  # the one-vs-one values themselves, libsvm's order and signs
        ovo = SVC(kernel=kernel, C=0.7, decision_function_shape="ovo").fit(X, labels)
        np.testing.assert_allclose(ovo.decision_function(Xt), b._pair_decisions(Xt), atol=1e-8)


def test_gram_svc_bad_kernel():
    with pytest.raises(ValueError, match="kernel"):
        GramSVC(kernel="cosine").fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_tangent_space_threads_do_not_change_outputs():
    C = _spd(300)
    T1 = RiemannTangentSpace(n_jobs=1).fit(C).transform(C)
    T2 = RiemannTangentSpace(n_jobs=2).fit(C).transform(C)
    np.testing.assert_allclose(T1, T2, atol=1e-10 * np.abs(T1).max())


def test_tangent_space_follows_a_reference_set_by_hand():
    # the cached whitener must follow a reference_ set by hand
    C = _spd(60)
    ts = RiemannTangentSpace().fit(C)
    ts.transform(C)
    ts.reference_ = C[0].copy()
    ref = TangentSpace(metric="riemann")
    ref.reference_ = C[0].copy()
    np.testing.assert_allclose(ts.transform(C), ref.transform(C), atol=1e-9)


def test_mdm_equals_pyriemann():
    from pyriemann.classification import MDM

    from brainpipe.features.mdm import RiemannMDM

    C = _spd(240, c=8)
    y = np.repeat(["idle", "left", "right"], 80)
    C[y == "left", :3, :3] *= 1.5
    C[y == "right", 4:7, 4:7] *= 1.5
    a = MDM().fit(C, y)
    b = RiemannMDM().fit(C, y)
    np.testing.assert_array_equal(a.covmeans_, b.covmeans_)
    Ct = _spd(100, c=8, seed=3)
    np.testing.assert_allclose(b.transform(Ct), a.transform(Ct), rtol=1e-9)
    np.testing.assert_allclose(b.predict_proba(Ct), a.predict_proba(Ct), atol=1e-12)
    np.testing.assert_array_equal(b.predict(Ct), a.predict(Ct))
    # other metrics are pyriemann's own code
    e = RiemannMDM(metric="logeuclid").fit(C, y)
    np.testing.assert_allclose(e.transform(Ct), MDM(metric="logeuclid").fit(C, y).transform(Ct))
    assert RiemannMDM(n_jobs=2).get_params() == {"metric": "riemann", "n_jobs": 2}


def test_tangent_space_float32_transform_is_close_to_float64():
    # an estimator change (faster decisions): vectors within float32 accuracy
    C = _spd(200)
    T64 = RiemannTangentSpace().fit(C).transform(C)
    T32 = RiemannTangentSpace(transform_dtype="float32").fit(C).transform(C)
    assert T32.dtype == np.float64
    assert np.abs(T32 - T64).max() < 1e-4 * np.abs(T64).max()
    with pytest.raises(ValueError, match="dtype"):
        RiemannTangentSpace(transform_dtype="float16").fit(C).transform(C)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_tangent_space_torch_backend_equals_numpy(device):
    torch = pytest.importorskip("torch")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    if device == "cpu" and torch.cuda.is_available():
        pytest.skip("backend='torch' runs on the GPU here")
    C = _spd(120)
    a = RiemannTangentSpace(backend="numpy").fit(C)
    b = RiemannTangentSpace(backend="torch").fit(C)
    scale = np.abs(a.transform(C)).max()
    np.testing.assert_allclose(b.reference_, a.reference_, atol=1e-8 * np.abs(a.reference_).max())
    np.testing.assert_allclose(b.transform(C), a.transform(C), atol=1e-7 * scale)
