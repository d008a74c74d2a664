"""BrainMAE: shapes, region-aware attention, masking, learning, resume, determinism, steps."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from brainpipe.models import BrainMAE
from brainpipe.models.brainmae import (BrainMAEModule, baseline_predictions, brainmae_step, masked_losses,
                                       masked_mse, n_masked, probe_cv, segment_length, segment_mask,
                                       segment_windows, similarity_vs_fc)
from brainpipe.models.train import Trainer

TINY = dict(embed_dim=16, n_heads=2, n_temporal_layers=1, n_decoder_layers=1, mlp_ratio=2.0)


def _smooth(rng, n, width=2.0):
    t = np.arange(-8, 9)
    kern = np.exp(-0.5 * (t / width) ** 2)
    z = rng.standard_normal(n + len(t) - 1)
    return np.convolve(z, kern / np.linalg.norm(kern), mode="valid")


def _synthetic(n_subjects=6, n_times=96, n_rois=12, n_networks=3, seed=0, loading=0.85):
    """ROI series with known networks: ROI r follows latent r % n_networks plus its own noise."""
    rng = np.random.default_rng(seed)
    net = np.arange(n_rois) % n_networks
    out = []
    for _ in range(n_subjects):
        lat = np.stack([_smooth(rng, n_times) for _ in range(n_networks)])
        own = np.stack([_smooth(rng, n_times) for _ in range(n_rois)])
        out.append((loading * lat[net] + np.sqrt(1 - loading**2) * own).T)
    return out, net


def test_segment_length_and_windows():
    assert segment_length(2.0) == 8  # round(7.5), as the demo's TR gives
    assert segment_length(0.72) == 21  # HCP
    x = np.arange(50 * 3, dtype=float).reshape(50, 3)
    w = segment_windows(x, segment_len=4, n_segments=3, step=4)
    assert w.shape == (10, 3, 3, 4)  # (50 - 12) // 4 + 1 windows
    # window 1, segment 2, ROI 1 = rows 4 + 8 .. 4 + 12 of column 1
    np.testing.assert_array_equal(w[1, 2, 1], x[12:16, 1])
    with pytest.raises(ValueError, match="n_segments"):
        segment_windows(x[:10], 4, 3)


def test_shapes_and_gradients():
    torch.manual_seed(0)
    mod = BrainMAEModule(10, 5, **TINY)
    x = torch.randn(3, 4, 10, 5)
    mask = segment_mask((3, 4, 10), 0.5)
    recon = mod(x, mask)
    assert recon.shape == x.shape
    tok, seg = mod.encode(x, mask)
    assert tok.shape == (3, 4, 10, 16) and seg.shape == (3, 4, 16)
    loss, masked, visible = masked_losses(recon, x, mask)
    assert torch.isclose(loss, 0.75 * masked + 0.25 * visible)
    loss.backward()
    for name, p in mod.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="expects"):
        mod(torch.randn(1, 2, 9, 5))


def test_masked_roi_signal_does_not_reach_the_encoder():
    torch.manual_seed(0)
    mod = BrainMAEModule(8, 4, **TINY).eval()
    x = torch.randn(2, 3, 8, 4)
    mask = segment_mask((2, 3, 8), 0.5)
    y = x.clone()
    y[mask] = 100.0 * torch.randn(int(mask.sum()), 4)  # change only the masked signals
    with torch.no_grad():
        torch.testing.assert_close(mod(x, mask), mod(y, mask))


@pytest.mark.parametrize("encoder", ["sg", "ag"])
def test_attention_rows_sum_to_one_zero_diagonal(encoder):
    torch.manual_seed(0)
    mod = BrainMAEModule(9, 4, encoder=encoder, **TINY)
    assert len(mod.encoder_blocks) == (3 if encoder == "sg" else 2)
    attn = mod.encoder_blocks[0].attn
    tokens = torch.randn(5, 9, 16)
    key_mask = torch.zeros(5, 9, dtype=torch.bool)
    key_mask[:, :3] = True
    for km in (None, key_mask):
        a = attn.weights(mod.roi_embedding, tokens, km).detach()
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))
        assert torch.all(torch.diagonal(a, dim1=-2, dim2=-1) == 0)
        if km is not None:
            assert torch.all(a[..., :3] == 0)  # masked ROIs are no keys
    if encoder == "sg":
        a = mod.attention(0)
        assert a.shape == (2, 9, 9)
        # the fast path (graph times [v * visible, visible]) equals the explicit softmax
        v = attn._heads(attn.v(tokens))
        ref = attn.out((attn.weights(mod.roi_embedding, tokens, key_mask) @ v).transpose(-2, -3).reshape(5, 9, 16))
        torch.testing.assert_close(attn(tokens, mod.roi_embedding, key_mask), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("encoder", ["sg", "ag"])
def test_one_visible_roi_gives_finite_gradients(encoder):
    # the visible ROI has no key left (self-loops removed, the others masked)
    torch.manual_seed(0)
    mod = BrainMAEModule(5, 4, encoder=encoder, **TINY)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[..., 0] = False
    out = mod(torch.randn(2, 3, 5, 4), mask)
    out.pow(2).mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in mod.parameters() if p.grad is not None)


def test_masking_covers_the_ratio_in_every_segment():
    torch.manual_seed(1)
    for ratio, n in ((0.5, 100), (0.3, 10), (0.75, 94)):
        mask = segment_mask((7, 5, n), ratio)
        assert mask.dtype == torch.bool
        assert torch.all(mask.sum(-1) == round(ratio * n))
    assert n_masked(10, 0.99) == 9  # at least one ROI stays visible
    with pytest.raises(ValueError, match="mask_ratio"):
        segment_mask((1, 1, 4), 1.0)
    # different segments get different ROI sets
    mask = segment_mask((1, 50, 20), 0.5)
    assert len({tuple(m.tolist()) for m in mask[0]}) > 40


def test_baselines_known_answers():
    rng = np.random.default_rng(0)
    t = np.arange(24, dtype=float)
    # ROI 0 is linear in time: interpolation is exact; ROI 1 = ROI 2 = ROI 3 = a shared signal
    s = rng.standard_normal(24)
    series = np.column_stack([2 * t + 1, s, s, s])
    win = segment_windows(series, 4, 6)
    mask = np.zeros(win.shape[:3], dtype=bool)
    mask[0, 2, 0] = True
    mask[0, 3, 1] = True
    fc = np.corrcoef(series.T)
    cov = np.cov(series.T)
    pred = baseline_predictions(win, mask, fc=fc, cov=cov)
    np.testing.assert_allclose(pred["interpolation"][0, 2, 0], win[0, 2, 0], atol=1e-5)
    np.testing.assert_allclose(pred["fc_weighted"][0, 3, 1], win[0, 3, 1], atol=1e-5)
    np.testing.assert_allclose(pred["fc_regression"][0, 3, 1], win[0, 3, 1], atol=1e-2)
    visible_mean = np.concatenate([win[0, j, 0] for j in range(6) if j != 2]).mean()
    np.testing.assert_allclose(pred["roi_mean"][0, 2, 0], visible_mean, rtol=1e-6)


def test_tiny_pretraining_beats_the_mean_baseline():
    series, _ = _synthetic(n_subjects=6, n_times=64)
    est = BrainMAE(segment_len=4, n_segments=4, mask_ratio=0.5, max_epochs=10, batch_size=16, lr=5e-3,
                   val_fraction=0.34, seed=0, **TINY).fit(series)
    hist = est.history_
    assert hist["val_masked_mse"].iloc[-1] < 0.9 * hist["val_masked_mse"].iloc[0]
    held = [series[i] for i in est.val_subjects_]
    win = np.concatenate(est.windows(held, step=16))
    recon, mask = est.reconstruct(win, seed=3)
    base = baseline_predictions(win, mask)
    ours, mean = masked_mse(recon, win, mask), masked_mse(base["roi_mean"], win, mask)
    zero = masked_mse(np.zeros_like(win), win, mask)  # the z-scored series' global mean
    # the known structure (ROIs of a network share a latent) lets BrainMAE beat the ROI's own mean
    assert ours < 0.7 * mean and ours < 0.85 * zero, (ours, mean, zero)


def _trainer_run(tmp_path, stop_after=None, epochs=4):
    series, _ = _synthetic(n_subjects=4, n_times=64)
    win = np.concatenate([segment_windows((x - x.mean(0)) / x.std(0), 4, 4, 8) for x in series])
    torch.manual_seed(0)
    mod = BrainMAEModule(12, 4, **TINY)
    step = brainmae_step(0.5)
    calls = {"n": 0}

    def counting(module, batch):
        calls["n"] += 1
        if stop_after is not None and calls["n"] > stop_after:
            raise KeyboardInterrupt  # a killed job
        return step(module, batch)

    tr = Trainer(max_epochs=epochs, batch_size=8, lr=3e-3, seed=5, progress=False, val_fraction=0.0,
                 checkpoint=tmp_path / "ckpt.pt", checkpoint_every=1)
    res = tr.fit(mod, counting, [win])
    return mod, res


def test_checkpoint_resume_identical(tmp_path):
    full, res_full = _trainer_run(tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(KeyboardInterrupt):
        _trainer_run(tmp_path / "b", stop_after=9)  # dies inside epoch 2 (4 batches / epoch)
    assert (tmp_path / "b" / "ckpt.pt").exists()
    resumed, res = _trainer_run(tmp_path / "b")
    assert res.resumed_from == 2
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    assert [r["train_loss"] for r in res.history] == [r["train_loss"] for r in res_full.history]


def test_determinism_for_a_seed(tmp_path):
    series, _ = _synthetic(n_subjects=4, n_times=48)
    kw = dict(segment_len=4, n_segments=3, max_epochs=2, batch_size=8, val_fraction=0.25, **TINY)
    a = BrainMAE(seed=1, **kw).fit(series)
    b = BrainMAE(seed=1, **kw).fit(series)
    c = BrainMAE(seed=2, **kw).fit(series)
    pd.testing.assert_frame_equal(a.history_.drop(columns="seconds"), b.history_.drop(columns="seconds"))
    np.testing.assert_array_equal(a.transform(series), b.transform(series))
    assert not np.allclose(a.transform(series), c.transform(series))
    # save / load round trip
    a.save(tmp_path / "m.pt", metadata={"Subjects": ["01", "02", "03", "04"]})
    back = BrainMAE.load(tmp_path / "m.pt")
    np.testing.assert_array_equal(back.transform(series), a.transform(series))
    assert back.metadata_["Subjects"][0] == "01" and back.get_params()["seed"] == 1
    assert back.roi_similarity().shape == (12, 12)


def test_similarity_vs_fc_permutation_null():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 20))
    a = a + a.T
    r, p, null = similarity_vs_fc(a, a + 0.1 * (lambda m: m + m.T)(rng.standard_normal((20, 20))), 200)
    assert r > 0.95 and p <= 1 / 200 + 1e-9 and null.shape == (200,)
    b = rng.standard_normal((20, 20))
    r, p, _ = similarity_vs_fc(a, b + b.T, 200)
    assert p > 0.01


def test_probe_cv_finds_a_linear_signal():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = X[:, 0] * 3 + 0.3 * rng.standard_normal(40)
    res = probe_cv(X, y, "regression", n_splits=5)
    assert res["score"] > 0.8 and res["model"] == "ridge" and len(res["y_pred"]) == 40
    lab = np.where(X[:, 1] > 0, "M", "F")
    res = probe_cv(X, lab, "classification", n_splits=5, n_permutations=9)
    assert res["score"] > 0.8 and res["p_value"] <= 0.1


def _write_inputs(root, series, tr=2.0):
    tsvs, bolds = [], []
    rows = []
    for i, x in enumerate(series):
        sub = f"{i + 1:02d}"
        func = root / f"sub-{sub}" / "func"
        func.mkdir(parents=True)
        tsv = func / f"sub-{sub}_task-rest_atlas-x_timeseries.tsv"
        pd.DataFrame(x, columns=[f"R{j}" for j in range(x.shape[1])]).to_csv(tsv, sep="\t", index=False)
        bold = func / f"sub-{sub}_task-rest_bold.nii.gz"
        (func / f"sub-{sub}_task-rest_bold.json").write_text(json.dumps({"RepetitionTime": tr}))
        tsvs.append(tsv)
        bolds.append(bold)
        rows.append({"participant_id": f"sub-{sub}", "age": 20 + 3 * i, "sex": "MF"[i % 2]})
    pd.DataFrame(rows).to_csv(root / "participants.tsv", sep="\t", index=False)
    return tsvs, bolds


def test_workflow_steps_files(tmp_path):
    from brainpipe.models.brainmae_steps import brainmae_subject_figure, pretrain_brainmae, probe_brainmae

    series, _ = _synthetic(n_subjects=6, n_times=40, n_rois=8, n_networks=2)
    tsvs, bolds = _write_inputs(tmp_path, series, tr=2.0)
    out = tmp_path / "group"
    est = pretrain_brainmae(
        tsvs, bolds, out / "m.pt", out_training_tsv=out / "training.tsv",
        out_reconstruction_tsv=out / "recon.tsv", out_similarity_tsv=out / "sim.tsv",
        out_embeddings_npz=out / "emb.npz", figure_training=out / "curves.png",
        figure_similarity=out / "sim.png", fragment=out / "frag.json", checkpoint_dir=tmp_path / "ck",
        n_permutations=20, progress=False, segment_s=8.0, n_segments=3, max_epochs=2, batch_size=8,
        val_fraction=0.34, **TINY)
    assert est.segment_len_ == 4  # 8 s at TR 2 s from the sidecars
    recon = pd.read_csv(out / "recon.tsv", sep="\t")
    assert set(recon["method"]) == {"brainmae", "roi_mean", "interpolation", "fc_weighted", "fc_regression"}
    assert (recon["subjects"] == "held-out").all() and (recon["n_subjects"] == 2).all()
    sim = pd.read_csv(out / "sim.tsv", sep="\t")
    assert list(sim["matrix"]) == ["embedding_cosine", "encoder_attention"]
    assert len(pd.read_csv(out / "training.tsv", sep="\t")) == 2
    frag = json.loads((out / "frag.json").read_text())
    assert frag["section"] == "BrainMAE" and len(frag["items"]) == 4
    assert not list((tmp_path / "ck").glob("*.ckpt"))  # removed after a finished run
    meta = BrainMAE.load(out / "m.pt").metadata_
    assert meta["RepetitionTime"] == 2.0 and len(meta["HeldOutSubjects"]) == 2

    scores = probe_brainmae(out / "m.pt", tsvs, tmp_path / "participants.tsv", out / "scores.tsv",
                            out_predictions_tsv=out / "pred.tsv", figure=out / "probe.png",
                            fragment=out / "probe.json", n_splits=3, n_permutations=0)
    assert set(scores["method"]) == {"brainmae", "random_init", "fc_ridge"}
    assert set(scores["target"]) == {"age", "sex"} and len(scores) == 6
    for col in ("target", "model", "task", "scoring", "score", "score_sd", "p_value", "n_subjects", "cv"):
        assert col in scores
    assert scores.loc[scores["method"] == "fc_ridge", "n_features"].iloc[0] == 8 * 7 // 2

    brainmae_subject_figure(out / "m.pt", tsvs[0], bolds[0], tmp_path / "s.png", tmp_path / "s.json")
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert json.loads((tmp_path / "s.json").read_text())["items"][0]["kind"] == "image"


def test_bad_inputs_name_the_file(tmp_path):
    from brainpipe.models.brainmae_steps import common_tr, read_timeseries

    series, _ = _synthetic(n_subjects=2, n_times=20, n_rois=4, n_networks=2)
    tsvs, bolds = _write_inputs(tmp_path, series)
    (bolds[1].parent / "sub-02_task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 1.0}))
    with pytest.raises(ValueError, match="sub-02_task-rest_bold"):
        common_tr(bolds)
    pd.DataFrame({"R0": [1.0, np.nan]}).to_csv(tsvs[0], sep="\t", index=False)
    with pytest.raises(ValueError, match="sub-01.*missing"):
        read_timeseries(tsvs)
    with pytest.raises(ValueError, match="tr= .* or segment_len="):
        BrainMAE().fit(series)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_mixed_precision_training():
    series, _ = _synthetic(n_subjects=4, n_times=64)
    est = BrainMAE(segment_len=4, n_segments=4, max_epochs=3, batch_size=8, device="cuda", amp=True,
                   val_fraction=0.25, **TINY).fit(series)
    assert est.result_.device.startswith("cuda")
    assert np.isfinite(est.history_["train_loss"]).all()
    assert est.transform(series).shape == (4, 16)
