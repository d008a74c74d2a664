"""The shared training loop: determinism, early stopping, exact resume, checkpoints."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from brainpipe.models.train import Trainer, load_checkpoint


def _data(n=200, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype("float32")
    w = rng.standard_normal(d).astype("float32")
    y = (X @ w + 0.1 * rng.standard_normal(n)).astype("float32")
    return X, y


class Noisy(torch.nn.Module):
    """A linear model with dropout, so the loop's own randomness matters."""

    def __init__(self, d=8):
        super().__init__()
        self.lin = torch.nn.Linear(d, 1)
        self.drop = torch.nn.Dropout(0.2)

    def forward(self, x):
        return self.lin(self.drop(x)).squeeze(-1)


def _step(module, batch):
    x, y = batch
    # model-side randomness from the global generator (like masks or z draws)
    noise = 0.01 * torch.randn_like(y)
    loss = torch.mean((module(x) - y - noise) ** 2)
    return loss, {"mse": loss.detach()}


def _fit(tmp_path=None, **kw):
    torch.manual_seed(123)  # the module's init is the caller's business
    module = Noisy()
    X, y = _data()
    params = dict(max_epochs=12, batch_size=32, lr=0.05, seed=3, progress=False)
    params.update(kw)
    res = Trainer(**params).fit(module, _step, [X, y])
    return module, res


def test_loss_decreases_and_history_columns(tmp_path):
    tsv = tmp_path / "sub_desc-test_training.tsv"
    _, res = _fit(metrics_tsv=tsv)
    hist = pd.read_csv(tsv, sep="\t")
    assert list(hist["epoch"]) == list(range(12))
    for col in ("train_loss", "val_loss", "train_mse", "val_mse", "lr", "seconds"):
        assert col in hist
    assert hist["val_loss"].iloc[-1] < 0.2 * hist["val_loss"].iloc[0]


def test_same_seed_same_losses_other_seed_differs():
    _, a = _fit()
    _, b = _fit()
    _, c = _fit(seed=4)
    la = [r["train_loss"] for r in a.history]
    assert la == [r["train_loss"] for r in b.history]
    assert la != [r["train_loss"] for r in c.history]


def test_resume_after_kill_gives_identical_weights(tmp_path):
    ref, ref_res = _fit(checkpoint=tmp_path / "ref.pt", checkpoint_every=3)
    ck = tmp_path / "run.pt"
    # "killed" after 6 epochs: a run whose max_epochs ends there leaves the
    # epoch-6 checkpoint, exactly what a kill after that write leaves
    _fit(checkpoint=ck, checkpoint_every=3, max_epochs=6)
    state = load_checkpoint(ck)
    assert state["epoch"] == 6
    resumed, res = _fit(checkpoint=ck, checkpoint_every=3)
    assert res.resumed_from == 6
    for k, v in ref.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert [r["val_loss"] for r in res.history] == [r["val_loss"] for r in ref_res.history]


def test_checkpoint_is_weights_only_loadable(tmp_path):
    ck = tmp_path / "c.pt"
    _fit(checkpoint=ck, max_epochs=2, checkpoint_every=1)
    state = torch.load(ck, weights_only=True)
    assert state["epoch"] == 2 and "model" in state
    assert not list(tmp_path.glob(".tmp*"))  # atomic: no temp file left


def test_bad_checkpoint_names_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(bad)


def test_early_stopping_restores_best():
    # lr so large that training diverges after a few epochs: early stopping
    # must stop and keep the best epoch's weights
    module, res = _fit(max_epochs=200, patience=3, lr=0.05)
    assert res.stopped_early
    assert len(res.history) < 200
    best = min(r["val_loss"] for r in res.history)
    assert math.isclose(res.history[res.best_epoch]["val_loss"], best)


def test_monitor_a_metric_and_unknown_metric():
    _, res = _fit(max_epochs=30, patience=2, monitor="mse")
    best = min(r["val_mse"] for r in res.history)
    assert math.isclose(res.history[res.best_epoch]["val_mse"], best)
    with pytest.raises(ValueError, match="monitor='bogus'"):
        _fit(max_epochs=2, monitor="bogus")


def test_nan_loss_is_a_clear_error():
    X, y = _data()
    X[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="loss"):
        Trainer(max_epochs=2, progress=False, val_fraction=0).fit(Noisy(), _step, [X, y])


def test_bad_parameters():
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(optimizer="sgd", progress=False).fit(Noisy(), _step, list(_data()))
    with pytest.raises(ValueError, match="val_fraction"):
        Trainer(val_fraction=1.5, progress=False).fit(Noisy(), _step, list(_data()))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_mixed_precision_trains():
    _, res = _fit(device="cuda", amp=True)
    assert res.device.startswith("cuda")
    assert res.history[-1]["val_loss"] < res.history[0]["val_loss"]


def test_amp_all_on_cpu_uses_bfloat16_where_native_and_still_learns():
    from brainpipe.models.runtime import autocast_mode as _autocast_mode

    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    enabled, dtype = _autocast_mode("all", torch.device("cpu"))
    assert enabled == native and (dtype == torch.bfloat16) == native
    assert _autocast_mode(True, torch.device("cpu")) == (False, torch.float32)  # CUDA-only by default
    seen = []

    def step(module, batch):
        x, y = batch
        out = module(x)
        seen.append(out.dtype)
        loss = torch.mean((out.float() - y) ** 2)
        return loss, {"mse": loss.detach()}

    torch.manual_seed(123)
    res = Trainer(max_epochs=12, batch_size=32, lr=0.05, seed=3, progress=False, amp="all").fit(
        Noisy(), step, list(_data()))
    assert (torch.bfloat16 in seen) == native
    assert res.history[-1]["val_loss"] < 0.2 * res.history[0]["val_loss"]
    with pytest.raises(ValueError, match="amp"):
        Trainer(amp="fp8", progress=False).fit(Noisy(), _step, list(_data()))
