"""DemoVAE: shapes, gradients, learning, decorrelation, resume, persistence, bad demographics."""

import numpy as np
import pandas as pd
import pytest
import torch

from brainpipe.models import DemoVAE
from brainpipe.models.demographics import DemographicCoder
from brainpipe.models.demovae_eval import harmonization_scores, latent_correlations


def _cohort(n=300, d=120, seed=0):
    """FC-like features driven by age, sex, site and 6 free factors."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n)
    sex = rng.choice(["F", "M"], n)
    site = rng.choice(["A", "B", "C"], n)
    free = rng.standard_normal((n, 6))
    az = (age - 50) / 17
    design = np.column_stack([az, sex == "M", site == "B", site == "C", free]).astype(float)
    # the loadings are the population's (fixed), the subjects are the seed's
    load = np.random.default_rng(1234).standard_normal((design.shape[1], d)) * 0.15
    X = np.tanh(design @ load + 0.05 * rng.standard_normal((n, d)))
    demo = pd.DataFrame({"age": age, "sex": sex, "site": site})
    return X.astype("float32"), demo


SMALL = dict(latent_dim=8, hidden_dim=64, max_epochs=300, batch_size=1000, patience=None, lr=1e-3,
             val_fraction=0.0, progress=False, device="cpu")


@pytest.fixture(scope="module")
def fitted():
    X, demo = _cohort()
    return DemoVAE(**SMALL).fit(X, demo), X, demo


def test_shapes_and_gradients():
    X, demo = _cohort(40)
    m = DemoVAE(**{**SMALL, "max_epochs": 1}).fit(X, demo)
    assert m.transform(X).shape == (40, 8)
    assert m.reconstruct(X, demo).shape == X.shape
    Xs, d = m.generate(5)
    assert Xs.shape == (5, X.shape[1]) and list(d.columns) == ["age", "sex", "site"]
    # every weight gets a gradient from the loss
    m.module_.train()
    D = torch.as_tensor(m.coder_.transform(demo))
    loss, _ = m._step(m.module_, (torch.as_tensor(X), D))
    loss.backward()
    for name, p in m.module_.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_training_lowers_loss_and_reconstructs(fitted):
    m, X, demo = fitted
    h = m.history_
    assert h["train_loss"].iloc[-1] < 0.3 * h["train_loss"].iloc[0]
    rec = m.reconstruct(X, demo)
    rmse = np.sqrt(np.mean((rec - X) ** 2))
    baseline = np.sqrt(np.mean((X - X.mean(0)) ** 2))
    assert rmse < 0.6 * baseline


def test_decorrelation_where_a_plain_autoencoder_fails(fitted):
    m, X, demo = fitted
    Xt, demot = _cohort(600, seed=1)  # held-out subjects from the same model
    D = DemographicCoder(["age", "sex", "site"]).fit(demot).transform(demot)
    r_demo = np.abs(latent_correlations(m.transform(Xt), D)).max()
    plain = DemoVAE(**{**SMALL, "decor_weight": 0.0, "guidance_weight": 0.0}).fit(X, None)
    r_plain = np.abs(latent_correlations(plain.transform(Xt), D)).max()
    assert r_plain > 0.5  # the demographic signal is in a plain autoencoder's latents
    assert r_demo < 0.3 < r_plain  # 600 held-out subjects: chance max |r| is about 0.12


def test_generate_follows_demographics(fitted):
    m, X, demo = fitted
    from sklearn.linear_model import Ridge

    reg = Ridge(alpha=1.0).fit(X, demo["age"])
    young = pd.DataFrame({"age": [25.0] * 200, "sex": ["F"] * 200, "site": ["A"] * 200})
    old = young.assign(age=75.0)
    assert reg.predict(m.generate(old)[0]).mean() - reg.predict(m.generate(young)[0]).mean() > 20


def test_harmonize_removes_site(fitted):
    m, X, demo = fitted
    Xh = m.harmonize(X, demo, reference={"site": "A"})
    t = harmonization_scores({"original": X, "DemoVAE": Xh}, demo, site="site", keep=["age"])
    site = t[t.target == "site"].set_index("method")["score"]
    age = t[t.target == "age"].set_index("method")["score"]
    assert site["original"] > 0.9
    assert site["DemoVAE"] < 0.5  # chance is 1/3
    assert age["DemoVAE"] > 0.8


def test_validation_decorrelation_score_matches_numpy(fitted):
    """The early-stopping statistic against latent_correlations (numpy, float64)."""
    m, _, _ = fitted
    Xv, demov = _cohort(70, seed=3)
    D = m.coder_.transform(demov)
    scores = m._val_scores(m.module_, (torch.as_tensor(Xv), torch.as_tensor(D)))
    r = latent_correlations(m.transform(Xv), D)  # (latents, encoded columns)
    decor_r = np.sqrt(np.mean(r**2, axis=0)).sum()
    rmse = np.sqrt(np.mean((m.reconstruct(Xv, demov) - Xv) ** 2))
    assert scores["decor_r"] == pytest.approx(decor_r, rel=1e-4)
    assert scores["rec_decor"] == pytest.approx(m.rec_weight * rmse + m.decor_weight * decor_r, rel=1e-4)
    # a constant column (one site in the validation subjects) is left out, not NaN
    D1 = m.coder_.transform(demov.assign(site="A"))
    one = m._val_scores(m.module_, (torch.as_tensor(Xv), torch.as_tensor(D1)))["decor_r"]
    r1 = latent_correlations(m.transform(Xv), D1)
    assert one == pytest.approx(np.nansum(np.sqrt(np.mean(r1**2, axis=0))), rel=1e-4)


@pytest.mark.parametrize("monitor", ["rec_decor", "decor_r", "rec", "loss"])
def test_kept_weights_are_the_monitored_best(monitor):
    X, demo = _cohort(120)
    m = DemoVAE(**{**SMALL, "max_epochs": 40, "val_fraction": 0.25}, monitor=monitor).fit(X, demo)
    h = m.history_
    assert {"val_rec_decor", "val_decor_r"} <= set(h.columns)
    assert m.best_epoch_ == int(h[f"val_{monitor}"].to_numpy().argmin())
    # no validation subjects: the whole-set statistics cannot be monitored, the training
    # reconstruction is; the others are monitored on the training subjects
    m0 = DemoVAE(**{**SMALL, "max_epochs": 5}, monitor=monitor).fit(X, demo)
    train_key = "train_rec" if monitor in ("rec_decor", "decor_r") else f"train_{monitor}"
    assert m0.best_epoch_ == int(m0.history_[train_key].to_numpy().argmin())


def test_same_seed_identical_and_resume_identical(tmp_path):
    X, demo = _cohort(80)
    p = {**SMALL, "max_epochs": 20, "val_fraction": 0.2, "checkpoint_every": 5}
    a = DemoVAE(**p, checkpoint=tmp_path / "a.pt").fit(X, demo)
    b = DemoVAE(**{**p, "max_epochs": 10}, checkpoint=tmp_path / "b.pt").fit(X, demo)  # "killed" at 10
    b = DemoVAE(**p, checkpoint=tmp_path / "b.pt").fit(X, demo)  # resumed
    c = DemoVAE(**p).fit(X, demo)
    assert list(a.history_["train_loss"]) == list(c.history_["train_loss"])
    for k, v in a.module_.state_dict().items():
        assert torch.equal(v, b.module_.state_dict()[k]), k


def test_save_load_weights_only(fitted, tmp_path):
    m, X, demo = fitted
    path = m.save(tmp_path / "m.pt")
    torch.load(path, weights_only=True)  # no pickled code inside
    m2 = DemoVAE.load(path)
    np.testing.assert_array_equal(m.transform(X), m2.transform(X))
    np.testing.assert_array_equal(m.generate(demo, seed=3)[0], m2.generate(demo, seed=3)[0])


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.drop(columns="sex"), "'sex'"),
        (lambda d: d.assign(age=[np.nan] + list(d.age[1:])), "'age' has missing"),
        (lambda d: d.assign(site="A"), "'site' has a single value"),
    ],
)
def test_bad_demographics_name_the_column(edit, match):
    X, demo = _cohort(30)
    coder = DemographicCoder(["age", "sex", "site"], source="participants.tsv")
    with pytest.raises(ValueError, match=match):
        coder.fit(edit(demo))


def test_unknown_category_and_missing_column_at_transform(fitted):
    m, X, demo = fitted
    with pytest.raises(ValueError, match=r"'site' has categories \['Z'\]"):
        m.transform(X[:3]) if False else m.decode(np.zeros((3, 8)), demo.iloc[:3].assign(site="Z"))
    with pytest.raises(ValueError, match="'sex'"):
        m.harmonize(X[:3], demo.iloc[:3].drop(columns="sex"), {"site": "A"})
    with pytest.raises(ValueError, match="reference column 'scanner'"):
        m.harmonize(X[:3], demo.iloc[:3], {"scanner": "A"})


def test_text_age_is_categorical_unless_numeric():
    demo = pd.DataFrame({"age": ["20", "30", "forty"], "sex": ["F", "M", "F"]})
    coder = DemographicCoder(["age", "sex"]).fit(demo)
    assert coder.columns_[0].kind == "categorical"  # typed by the file: text is a category
