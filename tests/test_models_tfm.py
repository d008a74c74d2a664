"""TFM tokenizer and token transformer: STFT, EMA codebook, gradients, training, files, BCI use."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.signal
import torch
from sklearn.base import clone

from brainpipe.models.tfm_tokenizer import (
    EMAVectorQuantizer,
    TFMTokenizer,
    load_tokenizer,
    percentile_scale,
    resample_fft,
    save_tokenizer,
    stft_magnitude,
    tokenize_array,
    tokenizer_step,
    train_tokenizer,
)
from brainpipe.models.tfm_transformer import TFMTransformerClassifier, TokenTransformer
from brainpipe.models.train import Trainer

SF = 100.0  # test signals: 100 Hz, resampled to 200 Hz by the model
TINY = dict(codebook_size=16, emb_size=16, n_heads=2, freq_depth=1, time_depth=1, decoder_depth=1,
            dead_code_threshold=0.5, dropout=0.0)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _signals(n, n_times=200, seed=0, n_chans=None):
    """Rows of sinusoids at 5, 12 or 25 Hz plus noise (two frequency 'motifs' per row)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / SF
    freqs = rng.choice([5.0, 12.0, 25.0], size=(n, 2))
    x = (np.sin(2 * np.pi * freqs[:, :1] * t) + 0.5 * np.sin(2 * np.pi * freqs[:, 1:] * t)
         + 0.3 * rng.standard_normal((n, n_times)))
    x = 1e-5 * x.astype(np.float32)
    return x if n_chans is None else x.reshape(n // n_chans, n_chans, n_times)


def _epochs(n_trials=40, n_chans=3, n_times=200, seed=0):
    """Two classes: 10 Hz vs 22 Hz rhythm on every channel, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.array(["left", "right"] * (n_trials // 2))
    t = np.arange(n_times) / SF
    f = np.where(y == "left", 10.0, 22.0)[:, None, None]
    X = np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (n_trials, n_chans, 1)))
    X = X + 0.5 * rng.standard_normal((n_trials, n_chans, n_times))
    return (1e-5 * X).astype(np.float32), y


# ---------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------


def test_stft_matches_torch_and_scipy():
    x = np.random.default_rng(0).standard_normal((3, 1000))
    mag = stft_magnitude(torch.tensor(x)).numpy()
    assert mag.shape == (3, 100, 1 + (1000 - 200) // 100)  # bins 0-99, center=False
    ref = torch.stft(torch.tensor(x), n_fft=200, hop_length=100, window=torch.hann_window(200, dtype=torch.float64),
                     center=False, return_complex=True).abs()[:, :100].numpy()
    np.testing.assert_allclose(mag, ref, atol=1e-12)
    _, _, Z = scipy.signal.stft(x, nperseg=200, noverlap=100, window="hann", boundary=None, padded=False)
    win = scipy.signal.get_window("hann", 200)
    np.testing.assert_allclose(mag, np.abs(Z[:, :100]) * win.sum(), atol=1e-9)
    with pytest.raises(ValueError, match="n_fft=200"):
        stft_magnitude(torch.zeros(1, 150))


@pytest.mark.parametrize("n_out", [200, 400, 333, 121])
def test_resample_matches_scipy(n_out):
    x = np.random.default_rng(1).standard_normal((2, 250))
    np.testing.assert_allclose(resample_fft(torch.tensor(x), n_out).numpy(),
                               scipy.signal.resample(x, n_out, axis=-1), atol=1e-12)


def test_percentile_scale():
    x = np.random.default_rng(2).standard_normal((4, 500)) * np.array([[1.0], [10.0], [1e-5], [3.0]])
    got = percentile_scale(torch.tensor(x)).numpy()
    want = x / (np.quantile(np.abs(x), 0.95, axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---------------------------------------------------------------------------
# quantiser
# ---------------------------------------------------------------------------


def test_ema_update_equals_hand_computation():
    vq = EMAVectorQuantizer(3, 2, decay=0.9, eps=1e-3)
    cb = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    vq.codebook.copy_(torch.tensor(cb))
    vq.ema_w.copy_(torch.tensor(cb))
    vq.cluster_size.copy_(torch.tensor([2.0, 1.0, 0.5]))
    z = torch.tensor([[0.9, 0.1], [0.8, -0.2], [0.1, 0.95], [0.2, 0.7]])
    vq.train()
    q, idx = vq(z)
    np.testing.assert_array_equal(idx.numpy(), [0, 0, 1, 1])
    np.testing.assert_allclose(q.numpy(), cb[[0, 0, 1, 1]])  # quantised with the old codebook
    onehot = np.eye(3)[[0, 0, 1, 1]]
    N = 0.9 * np.array([2.0, 1.0, 0.5]) + 0.1 * onehot.sum(0)
    M = 0.9 * cb + 0.1 * onehot.T @ z.numpy()
    Ns = (N + 1e-3) / (N.sum() + 3 * 1e-3) * N.sum()
    np.testing.assert_allclose(vq.cluster_size.numpy(), N, rtol=1e-6)
    np.testing.assert_allclose(vq.ema_w.numpy(), M, rtol=1e-6)
    np.testing.assert_allclose(vq.codebook.numpy(), M / Ns[:, None], rtol=1e-6)
    # eval mode: no update
    before = vq.codebook.clone()
    vq.eval()
    vq(z)
    assert torch.equal(before, vq.codebook)


def test_dead_codes_are_reseeded_from_the_batch():
    vq = EMAVectorQuantizer(4, 2, decay=0.5, dead_code_threshold=0.5)
    vq.codebook.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [50.0, 50.0], [-50.0, 0.0]]))
    vq.train()
    z = torch.tensor([[1.0, 0.1], [0.1, 1.0]])
    vq(z)
    # codes 2 and 3 were never picked: they now sit on batch rows
    for k in (2, 3):
        assert min(float((vq.codebook[k] - r).norm()) for r in z) < 1e-6


def test_straight_through_estimator_passes_gradients():
    tok = TFMTokenizer(sfreq=SF, **TINY)
    z = torch.nn.functional.normalize(torch.randn(2, 5, 16), dim=-1).requires_grad_(True)
    q_st, idx, q = tok.quantize(z)
    assert torch.allclose(q_st, q, atol=1e-6)  # forward value: the codes
    w = torch.randn_like(z)
    (q_st * w).sum().backward()
    assert torch.equal(z.grad, w)  # backward: identity


def test_shapes_gradients_and_paper_size():
    tok = TFMTokenizer(n_chans=3, n_times=1000, sfreq=250.0, **TINY)
    x = torch.randn(2, 3, 1000)
    tokens = tok(x)
    assert tokens.shape == (2, 3, 7) and tokens.dtype == torch.int64
    assert tok.n_tokens() == 7
    assert tok.n_tokens(2000, sfreq=200.0) == 19  # 10 s: 2 tokens per second per channel
    tok.train()
    loss, metrics = tok.loss(x)
    loss.backward()
    for name, p in tok.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert {"recon", "recon_sym", "vq", "vq_sym", "masked_mse", "perplexity", "codes_used"} <= set(metrics)
    paper = TFMTokenizer(sfreq=200.0)
    assert paper.codebook_size == 8192 and abs(paper.n_parameters() - 1.2e6) / 1.2e6 < 0.05
    with pytest.raises(ValueError, match="emb_size"):
        TFMTokenizer(emb_size=20, n_heads=4)


def test_masks_are_complementary_and_half():
    tok = TFMTokenizer(sfreq=SF, **TINY)
    keep, keep_sym = tok.masks(6, 8)
    assert keep.shape == (6, 100, 8)
    assert not (keep & keep_sym).any() and (keep | keep_sym).all()
    bands_kept = keep.any(dim=2).reshape(6, 20, 5)
    assert (bands_kept.all(-1) == bands_kept.any(-1)).all()  # whole 5-bin bands
    assert (bands_kept.all(-1).sum(1) == 10).all()           # 50 % of the bands
    assert (keep.any(dim=1).sum(1) == 4).all()               # 50 % of the frames
    assert not torch.equal(keep[0], keep[1]) or not torch.equal(keep[1], keep[2])  # per row


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


def test_tiny_run_lowers_the_loss_and_uses_several_codes():
    X = _signals(96)
    model, result = train_tokenizer(X, SF, TINY, dict(max_epochs=8, batch_size=32, lr=1e-2,
                                                      val_fraction=0.0, progress=False, seed=0))
    hist = result.to_frame()
    assert hist["train_loss"].is_monotonic_decreasing
    assert hist["train_loss"].iloc[-1] < 0.8 * hist["train_loss"].iloc[0]
    tokens = tokenize_array(model, X[:, None, :], SF)
    assert len(np.unique(tokens)) > 1
    assert hist["train_codes_used"].iloc[-1] > 1


def test_training_is_deterministic_for_a_seed():
    X = _signals(32, seed=3)
    tp = dict(max_epochs=1, batch_size=16, val_fraction=0.0, progress=False)
    a, _ = train_tokenizer(X, SF, TINY, dict(tp, seed=5))
    b, _ = train_tokenizer(X, SF, TINY, dict(tp, seed=5))
    c, _ = train_tokenizer(X, SF, TINY, dict(tp, seed=6))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_checkpoint_resume_is_identical(tmp_path):
    X = _signals(32, seed=4)[:, None, :]

    def fit(max_epochs, ckpt):
        torch.manual_seed(0)
        model = TFMTokenizer(sfreq=SF, **TINY)
        Trainer(max_epochs=max_epochs, batch_size=16, val_fraction=0.0, progress=False, seed=1,
                checkpoint=ckpt, checkpoint_every=1).fit(model, tokenizer_step, [X])
        return model.state_dict()

    straight = fit(4, None)
    fit(2, tmp_path / "ck.pt")           # "killed" after two epochs
    resumed = fit(4, tmp_path / "ck.pt")  # picks up at epoch 2
    for k in straight:
        assert torch.equal(straight[k], resumed[k]), k


def test_save_and_load_roundtrip(tmp_path):
    X = _signals(32, seed=5)
    torch.manual_seed(0)
    model = TFMTokenizer(sfreq=SF, **TINY).eval()
    path = save_tokenizer(model, tmp_path / "tok.pt", note="test")
    again, extra = load_tokenizer(path, return_extra=True)
    assert extra == {"note": "test"}
    np.testing.assert_array_equal(tokenize_array(model, X[:, None], SF), tokenize_array(again, X[:, None], SF))
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.pt"):
        load_tokenizer(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_tokenizer(tmp_path / "missing.pt")


# ---------------------------------------------------------------------------
# token transformer and the classifier
# ---------------------------------------------------------------------------


def test_token_transformer_shapes_codebook_init_and_mtp():
    m = TokenTransformer(n_chans=3, n_outputs=2, n_times=4, codebook_size=16, emb_size=16, n_heads=2, depth=1)
    cb = torch.randn(16, 16)
    m.init_from_codebook(cb)
    assert torch.equal(m.token_embedding.weight[:16], cb)
    tokens = torch.randint(0, 16, (5, 3, 4))
    assert m(tokens).shape == (5, 2)
    assert m.masked_token_logits(tokens, torch.zeros_like(tokens, dtype=torch.bool)).shape == (5, 12, 16)
    loss, parts = m.mtp_loss(tokens)
    loss.backward()
    assert set(parts) == {"mtp", "mtp_sym"} and m.token_embedding.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="n_chans=3"):
        m(torch.randint(0, 16, (1, 4, 4)))


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    # self-supervised on unlabelled trials of the kind the classifiers get
    X = _epochs(32, seed=9)[0].reshape(-1, 200)
    torch.set_num_threads(1)
    model, _ = train_tokenizer(X, SF, TINY, dict(max_epochs=4, batch_size=32, lr=1e-2,
                                                 val_fraction=0.0, progress=False))
    return save_tokenizer(model, tmp_path_factory.mktemp("tfm") / "tok.pt")


CLF = dict(emb_size=16, n_heads=2, depth=1, max_epochs=25, batch_size=16, lr=3e-3, dropout=0.0)


def test_classifier_from_a_tokenizer_file(tokenizer_file):
    X, y = _epochs(60, seed=1)
    clf = TFMTransformerClassifier(sfreq=SF, tokenizer=str(tokenizer_file), **CLF)
    assert clone(clf).get_params() == clf.get_params()
    clf.fit(X[:40], y[:40])
    assert list(clf.classes_) == ["left", "right"]
    proba = clf.predict_proba(X[40:])
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert clf.decision_function(X[40:]).shape == (20,)
    assert (clf.predict(X[40:]) == y[40:]).mean() >= 0.8
    # the embedding started from the tokenizer's codebook (same emb_size)
    assert clf.model_.token_embedding.weight.shape == (17, 16)


def test_classifier_trains_its_own_tokenizer_on_training_data_only():
    X, y = _epochs(40, seed=2)
    clf = TFMTransformerClassifier(sfreq=SF, tokenizer=None, tokenizer_params=TINY,
                                   tokenizer_training={"max_epochs": 2}, pretrain_epochs=1, **CLF)
    clf.fit(X[:30], y[:30])
    assert clf.tokenizer_.codebook_size == 16 and clf.predict(X[30:]).shape == (10,)
    # same seed, same data: same predictions
    again = clone(clf).fit(X[:30], y[:30])
    np.testing.assert_array_equal(again.predict_proba(X[30:]), clf.predict_proba(X[30:]))
    with pytest.raises(ValueError, match="sfreq"):
        TFMTransformerClassifier(tokenizer=None).fit(X, y)


def test_bci_pipeline_registry(tokenizer_file):
    from brainpipe.bci.pipelines import PIPELINES, make_pipelines, uses_group_tokenizer

    assert "tfm_transformer" in PIPELINES
    assert uses_group_tokenizer({"tfm_transformer": {}})
    assert not uses_group_tokenizer({"x": {"pipeline": "tfm_transformer", "tokenizer": "train"}, "mdm": {}})
    with pytest.raises(ValueError, match="tfm_tokenizer"):
        make_pipelines({"tfm_transformer": {}}, sfreq=SF)
    pipes = make_pipelines({"tfm_transformer": CLF, "own": {"pipeline": "tfm_transformer", "tokenizer": "train"}},
                           sfreq=SF, tfm_tokenizer=tokenizer_file)
    assert pipes["tfm_transformer"][-1].tokenizer == str(tokenizer_file)
    assert pipes["own"][-1].tokenizer is None and pipes["own"][-1].sfreq == SF


def test_pseudo_online_decides_on_raw_windows(tokenizer_file):
    from brainpipe.bci.pseudo_online import ContinuousRun, evaluate_pseudo_online

    rng = np.random.default_rng(0)
    runs = []
    for ses in ("1", "2"):
        for run in ("1", "2"):
            n = int(60 * SF)
            t = np.arange(n) / SF
            data = 0.5 * rng.standard_normal((3, n))
            onsets = np.arange(4.0, 52.0, 8.0)
            types = np.array(["left", "right"] * 3)
            for on, ty in zip(onsets, types):
                a, b = int(on * SF), int((on + 4) * SF)
                data[:, a:b] += np.sin(2 * np.pi * (10.0 if ty == "left" else 22.0) * t[a:b])
            ev = pd.DataFrame({"onset": onsets, "duration": 4.0, "trial_type": types})
            runs.append(ContinuousRun("01", ses, run, 1e-5 * data, SF, ev, ["C3", "Cz", "C4"], f"{ses}/{run}"))
    res = evaluate_pseudo_online(runs, {"tfm_transformer": dict(CLF, max_epochs=8)}, window=1.0, step=0.5,
                                 evaluations=["cross-session"], tfm_tokenizer=tokenizer_file)
    modes = {d["mode"] for d in res.decisions}
    assert modes == {"windows"}
    on = res.scores[res.scores["mode"] == "pseudo-online"]
    assert len(on) == 4 and (on["n_windows"] == 119).all()
    assert set(np.concatenate([d["y_pred"] for d in res.decisions])) <= {"idle", "left", "right"}
    assert res.scores["nmcc"].mean() > 0.55


@pytest.mark.filterwarnings("ignore:Montage name:FutureWarning")
def test_offline_moabb_evaluation(tmp_path, monkeypatch, tokenizer_file):
    from moabb.datasets import FakeDataset

    from brainpipe.bci.offline import evaluate_offline

    monkeypatch.setenv("MNE_DATA", str(tmp_path))
    ds = FakeDataset(event_list=["left_hand", "right_hand"], n_subjects=1, n_sessions=2, n_runs=1,
                     n_events=12, duration=60, channels=("C3", "Cz", "C4"), seed=7)
    res = evaluate_offline(ds, {"tfm_transformer": dict(CLF, max_epochs=3)}, {"name": "left_right", "resample": 100},
                           evaluation=("within-session", "cross-session"), hdf5_path=tmp_path / "h5", n_splits=2,
                           tfm_tokenizer=tokenizer_file)
    assert set(res["pipeline"]) == {"tfm_transformer"} and len(res) == 4
    assert res["score"].between(0, 1).all()


# ---------------------------------------------------------------------------
# the group step
# ---------------------------------------------------------------------------


def test_group_tokenizer_step(tmp_path):
    import mne

    from brainpipe.models.tfm_steps import mutual_information, train_group_tokenizer
    from brainpipe.report.fragments import read_fragment

    files = []
    for run, seed in (("1", 0), ("2", 1)):
        X, y = _epochs(12, n_chans=3, n_times=400, seed=seed)
        data = np.concatenate(list(X), axis=1).astype(np.float64)
        raw = mne.io.RawArray(data, mne.create_info(["C3", "Cz", "C4"], SF, "eeg"), verbose="error")
        raw.set_annotations(mne.Annotations(np.arange(12) * 4.0, 4.0, y))
        f = tmp_path / f"sub-01_ses-1_task-imagery_run-{run}_desc-preproc_eeg.fif"
        raw.save(f, verbose="error")
        files.append(f)
    out = tmp_path / "group" / "eeg" / "task-imagery_desc-tfm_tokenizer.pt"
    tsv = tmp_path / "group" / "eeg" / "task-imagery_desc-tfm_training.tsv"
    frag = tmp_path / "group" / "figures" / "desc-tfm_fragment.json"
    diag = train_group_tokenizer(files, out, tsv, figure_dir=frag.parent, fragment=frag, model=TINY,
                                 training={"max_epochs": 3, "batch_size": 16, "lr": 3e-3, "progress": False},
                                 window=4.0, n_permutations=20)
    assert len(pd.read_csv(tsv, sep="\t")) == 3
    model, extra = load_tokenizer(out, return_extra=True)
    assert extra["diagnostics"]["codes_used"] == diag["codes_used"] > 1
    assert diag["mi_bits"] > diag["mi_null_mean"]  # 10 Hz vs 22 Hz trials: tokens know the class
    side = json.loads(out.with_suffix(".json").read_text())
    assert len(side["Sources"]) == 2 and "no labels" in side["Description"]
    fr = read_fragment(frag)
    assert fr["section"] == "TFM tokenizer"
    images = [i for i in fr["items"] if i["kind"] == "image"]
    assert len(images) == 4 and all((frag.parent / i["path"]).stat().st_size > 1000 for i in images)
    assert not list(out.parent.glob(".*ckpt"))  # the checkpoint goes once the model is written
    # MI: zero for tokens independent of the labels, log2(2) = 1 bit for a perfect code
    y = np.array([0, 1] * 10)
    assert mutual_information(np.zeros((20, 2, 3), int), y, 4) == 0.0
    assert mutual_information(np.broadcast_to(y[:, None, None], (20, 2, 3)), y, 4) == pytest.approx(1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tokens_match_cpu_and_training_runs():
    X = _signals(64, seed=8)
    torch.manual_seed(0)
    tok = TFMTokenizer(sfreq=SF, **TINY).eval()
    cpu = tokenize_array(tok, X[:, None, :], SF)
    gpu = tokenize_array(tok.to("cuda"), X[:, None, :], SF)
    assert (cpu == gpu).mean() > 0.95  # TF32/cuDNN may flip a near-tie
    model, result = train_tokenizer(X, SF, TINY, dict(max_epochs=2, batch_size=16, val_fraction=0.0,
                                                      progress=False, device="cuda"))
    assert result.device.startswith("cuda") and np.isfinite(result.to_frame()["train_loss"]).all()


def test_file_tokenizer_tokens_are_cached_across_folds(tokenizer_file, tmp_path):
    import shutil

    from brainpipe.models import tfm_token_cache as tt

    X, y = _epochs(60, seed=4)
    key = tt.FileTokenCache.key(tokenizer_file, SF)
    before = len(tt.FILE_TOKENS._stores.get(key, {}))  # other tests' epochs, same file
    clf = TFMTransformerClassifier(sfreq=SF, tokenizer=str(tokenizer_file), **dict(CLF, max_epochs=1))
    clf.fit(X[:40], y[:40])
    direct = tokenize_array(clf.tokenizer_, X.astype(np.float32), SF)
    assert clf._token_key_ == key
    assert len(tt.FILE_TOKENS._stores[key]) == before + 40
    # another fold: cached epochs and new ones, in any order, equal the tokenizer's own output
    order = np.r_[50:60, 0:20, 40:50]
    np.testing.assert_array_equal(clf.transform_tokens(X[order]), direct[order])
    assert len(tt.FILE_TOKENS._stores[key]) == before + 60
    np.testing.assert_array_equal(clone(clf).fit(X[20:60], y[20:60]).transform_tokens(X), direct)
    # another file (even a copy: other mtime/path) is another cache
    copy = shutil.copy(tokenizer_file, tmp_path / "copy.pt")
    other = TFMTransformerClassifier(sfreq=SF, tokenizer=str(copy), **dict(CLF, max_epochs=1)).fit(X[:10], y[:10])
    assert other._token_key_ != key and len(tt.FILE_TOKENS._stores[other._token_key_]) == 10
    # a tokenizer object, not a file: nothing cached
    own = TFMTransformerClassifier(sfreq=SF, tokenizer=clf.tokenizer_, **dict(CLF, max_epochs=1)).fit(X[:10], y[:10])
    assert own._token_key_ is None
