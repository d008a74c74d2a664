"""The training loop every brainpipe model shares.

One loop of our own in plain PyTorch (no Lightning: the three models need
only what is here, and a second framework would double the install). What it
guarantees:

- **device** ``"auto"``: CUDA when torch sees a GPU, else CPU.
- **determinism**: every random choice inside the loop (the split, the batch
  order, the model's own sampling such as masks or latent draws) comes from
  ``seed``. The global torch generator is re-seeded at the start of every
  epoch from ``(seed, epoch)``, so the same seed and device give identical
  losses, and a run resumed at epoch ``k`` draws exactly what an
  uninterrupted run draws at epoch ``k``.
- **mixed precision** on CUDA (``amp=True``): bfloat16 autocast where the GPU
  supports it (no loss scaling needed), else float16 with a gradient scaler.
  CPU runs stay in float32 unless ``amp="all"``: then a CPU with native
  bfloat16 (AVX512-BF16 or AMX, as oneDNN reports it) also trains under
  bfloat16 autocast (matmuls take bfloat16 inputs and accumulate in float32,
  about twice as fast on such CPUs); on other CPUs it stays float32. It is
  opt-in because it changes results beyond float32 round-off.
- **validation and early stopping**: the loss on the validation set after
  each epoch; training stops after ``patience`` epochs without an improvement
  of at least ``min_delta``, and the best weights are restored.
- **checkpoints** every ``checkpoint_every`` epochs, written atomically (temp
  file then rename) and read back with ``torch.load(weights_only=True)``: a
  killed run resumes from its last checkpoint and ends with the same weights
  as a run that was never interrupted.
- **progress**: a tqdm bar over epochs (on stderr, i.e. the rule's log), and
  one TSV of per-epoch metrics that the report plots.

A model plugs in by giving a *step function* ``step(module, batch) ->
(loss, metrics)`` where ``batch`` is a tuple of tensors (rows of the arrays
given to :meth:`Trainer.fit`) already on the device, ``loss`` a scalar tensor
and ``metrics`` a dict of floats or 0-d tensors (loss components) logged in
the TSV as ``train_<name>`` / ``val_<name>``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .._check import check_option, check_positive_int
from .checkpoints import accumulate, copy_state, load_checkpoint, save_checkpoint, write_history
from .runtime import autocast_mode, epoch_seed, resolve_device, seed_everything
from .train_result import TrainResult

__all__ = ["Trainer", "TrainResult", "resolve_device", "seed_everything", "load_checkpoint"]

class Trainer:
    """Mini-batch training with validation, early stopping and checkpoints.

    Parameters
    ----------
    max_epochs : int
        Upper bound on epochs.
    batch_size : int
        Rows per optimisation step (the last batch of an epoch may be smaller).
    lr : float
        Learning rate.
    weight_decay : float
        Weight decay (L2 for Adam, decoupled for AdamW).
    optimizer : {"adam", "adamw"}
        The optimiser.
    schedule : {"constant", "cosine"}
        ``"cosine"`` anneals from ``lr`` to ``lr * final_lr_ratio`` over
        ``max_epochs`` (per epoch).
    final_lr_ratio : float
        End of the cosine schedule relative to ``lr``.
    val_fraction : float
        Share of the rows held out for validation when :meth:`fit` gets no
        explicit validation set (0 disables validation and early stopping).
    patience : int or None
        Epochs without improvement before stopping; None trains ``max_epochs``.
    min_delta : float
        Smallest decrease of the monitored value that counts as improvement.
    monitor : str
        Validation metric that early stopping and the kept weights follow:
        ``"loss"`` (the total loss) or the name of one of the step
        function's metrics (e.g. ``"rec"`` for a reconstruction error).
    shuffle : bool
        Shuffle the training rows every epoch (from the seed).
    grad_clip : float or None
        Clip the gradient norm to this value.
    seed : int
        Drives the split, the batch order and the model's own randomness.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    amp : bool or {"cuda", "all"}
        Mixed precision: ``True``/``"cuda"`` on CUDA only (CPU stays
        float32); ``"all"`` also bfloat16 autocast on a CPU with native
        bfloat16. ``False``: float32 everywhere.
    checkpoint : path-like or None
        Checkpoint file; when it exists at the start of :meth:`fit`, training
        resumes from it.
    checkpoint_every : int
        Write the checkpoint every this many epochs (and at the end).
    metrics_tsv : path-like or None
        Where to write the per-epoch history (atomically, after every epoch).
    progress : bool
        Show a tqdm progress bar (stderr).
    desc : str
        Label of the progress bar.
    """

    def __init__(
        self,
        max_epochs=100,
        batch_size=64,
        lr=1e-3,
        weight_decay=0.0,
        optimizer="adam",
        schedule="constant",
        final_lr_ratio=0.01,
        val_fraction=0.2,
        patience=None,
        min_delta=0.0,
        monitor="loss",
        shuffle=True,
        grad_clip=None,
        seed=0,
        device="auto",
        amp=True,
        checkpoint=None,
        checkpoint_every=10,
        metrics_tsv=None,
        progress=True,
        desc="training",
    ):
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.schedule = schedule
        self.final_lr_ratio = final_lr_ratio
        self.val_fraction = val_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.monitor = monitor
        self.shuffle = shuffle
        self.grad_clip = grad_clip
        self.seed = seed
        self.device = device
        self.amp = amp
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.metrics_tsv = metrics_tsv
        self.progress = progress
        self.desc = desc

    # -- pieces -------------------------------------------------------------

    def _check(self):
        check_positive_int(self.max_epochs, "max_epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.checkpoint_every, "checkpoint_every")
        check_option("optimizer", self.optimizer, ("adam", "adamw"))
        check_option("schedule", self.schedule, ("constant", "cosine"))
        if not (0.0 <= float(self.val_fraction) < 1.0):
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}.")
        if not (float(self.lr) > 0 and math.isfinite(float(self.lr))):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}.")
        if self.patience is not None:
            check_positive_int(self.patience, "patience")

    def split(self, n):
        """Indices ``(train, val)`` of ``n`` rows for the configured ``val_fraction``.

        The split is drawn from the seed alone, so the same seed gives the same
        split (and a resumed run the same one).
        """
        rng = np.random.default_rng([int(self.seed), 0x5EED])
        perm = rng.permutation(n)
        n_val = int(round(float(self.val_fraction) * n))
        if self.val_fraction > 0 and n_val == 0 and n >= 2:
            n_val = 1
        if n - n_val < 1:
            raise ValueError(f"Too few rows ({n}) to hold out val_fraction={self.val_fraction}.")
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _make_optimizer(self, module):
        import torch

        params = [p for p in module.parameters() if p.requires_grad]
        cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
        # torch's fused Adam (one kernel over all parameters, CPU and CUDA) is
        # about 3.5x faster per step than the default single-tensor loop on a
        # CPU and equal to it up to float round-off; it needs floating-point
        # parameters on one device type
        fused = all(p.is_floating_point() for p in params) and len({p.device.type for p in params}) == 1
        return cls(params, lr=float(self.lr), weight_decay=float(self.weight_decay), fused=fused or None)

    def _lr_at(self, epoch):
        if self.schedule == "constant" or self.max_epochs <= 1:
            return float(self.lr)
        lo = float(self.lr) * float(self.final_lr_ratio)
        t = epoch / (self.max_epochs - 1)
        return lo + 0.5 * (float(self.lr) - lo) * (1 + math.cos(math.pi * t))

    # -- the loop -----------------------------------------------------------

    def fit(self, module, step, arrays, val_arrays=None, val_scores=None):
        """Train ``module`` in place; return a :class:`TrainResult`.

        Parameters
        ----------
        module : torch.nn.Module
            The model; moved to the device.
        step : callable
            ``step(module, batch) -> (loss, metrics)``; ``batch`` is a tuple of
            tensors on the device (one per array, the same rows).
        arrays : sequence of array-like
            Training data, each of shape ``(n_rows, ...)``.
        val_arrays : sequence of array-like or None
            Explicit validation data; without it ``val_fraction`` of ``arrays``
            is held out (drawn from the seed).
        val_scores : callable or None
            ``val_scores(module, val_tensors) -> dict`` of floats computed on
            the whole validation set after each epoch (no gradients, eval
            mode), logged and monitorable as ``val_<name>``: for statistics
            that a mean over batches would not give (e.g. correlations). When
            it returns ``"loss"``, it replaces the per-batch evaluation.
        """
        import torch

        self._check()
        device = resolve_device(self.device)
        tensors = [torch.as_tensor(np.asarray(a)) for a in arrays]
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError("All training arrays must have the same number of rows.")
        if val_arrays is None and self.val_fraction > 0:
            tr, va = self.split(n)
            val = [t[va] for t in tensors]
            tensors = [t[tr] for t in tensors]
        elif val_arrays is not None:
            val = [torch.as_tensor(np.asarray(a)) for a in val_arrays]
        else:
            val = None
        tensors = [t.to(device) for t in tensors]
        val = [t.to(device) for t in val] if val is not None else None

        module.to(device)
        seed_everything(self.seed)
        opt = self._make_optimizer(module)
        use_amp, amp_dtype = autocast_mode(self.amp, device)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and device.type == "cuda" and amp_dtype == torch.float16)

        result = TrainResult(device=str(device))
        start_epoch, best_val, best_state, bad = 0, math.inf, None, 0
        ckpt = Path(self.checkpoint) if self.checkpoint else None
        if ckpt is not None and ckpt.exists():
            state = load_checkpoint(ckpt, map_location=device)
            module.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            start_epoch = int(state["epoch"])
            best_val = float(state["best_val"])
            best_state = state["best_model"]
            bad = int(state["bad_epochs"])
            result.history = [dict(r) for r in state["history"]]
            result.best_epoch = int(state["best_epoch"])
            result.resumed_from = start_epoch
            if state.get("stopped", False):
                result.stopped_early = True
                start_epoch = self.max_epochs

        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.max_epochs, initial=start_epoch, desc=self.desc, mininterval=1.0, dynamic_ncols=True)
        stopped = result.stopped_early
        epoch = start_epoch
        for epoch in range(start_epoch, self.max_epochs):
            t0 = time.perf_counter()
            torch.manual_seed(epoch_seed(self.seed, epoch))
            lr = self._lr_at(epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            module.train()
            n_tr = len(tensors[0])
            order = torch.randperm(n_tr, device="cpu") if self.shuffle else torch.arange(n_tr)
            order = order.to(device)
            sums, count = {}, 0
            for b0 in range(0, n_tr, int(self.batch_size)):
                idx = order[b0 : b0 + int(self.batch_size)]
                batch = tuple(t[idx] for t in tensors)
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                    loss, metrics = step(module, batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"{self.desc}: the training loss became {float(loss.detach())} at epoch {epoch}; "
                        "lower the learning rate or check the input for NaN/inf."
                    )
                scaler.scale(loss).backward()
                if self.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(module.parameters(), float(self.grad_clip))
                scaler.step(opt)
                scaler.update()
                accumulate(sums, {"loss": loss, **metrics}, len(idx))
                count += len(idx)
            row = {"epoch": epoch, "lr": lr}
            row.update({f"train_{k}": v / count for k, v in sums.items()})
            if val is not None and len(val[0]):
                scores = self._scores(module, val_scores, val, device, self.amp) if val_scores is not None else {}
                if "loss" not in scores:
                    scores = {**self.evaluate(module, step, val, device, amp=self.amp), **scores}
                row.update({f"val_{k}": float(v) for k, v in scores.items()})
            else:
                row["val_loss"] = float("nan")
            row["seconds"] = time.perf_counter() - t0
            result.history.append(row)

            key = f"val_{self.monitor}"
            if key not in row or not math.isfinite(row[key]):
                key = f"train_{self.monitor}"
            if key not in row:
                raise ValueError(f"monitor={self.monitor!r} is not a metric of the step function "
                                 f"(it returns {sorted(k[6:] for k in row if k.startswith('train_'))}).")
            monitored = row[key]
            if monitored < best_val - float(self.min_delta):
                best_val, bad, result.best_epoch = monitored, 0, epoch
                best_state = copy_state(module.state_dict(), best_state)
            else:
                bad += 1
            stopped = self.patience is not None and bad >= int(self.patience)
            if bar is not None:
                bar.set_postfix(train=f"{row['train_loss']:.4g}", val=f"{row['val_loss']:.4g}", refresh=False)
                bar.update(1)
            if self.metrics_tsv:
                write_history(self.metrics_tsv, result.history)
            last = stopped or epoch + 1 == self.max_epochs
            if ckpt is not None and ((epoch + 1) % int(self.checkpoint_every) == 0 or last):
                save_checkpoint(ckpt, module, opt, scaler, epoch + 1, best_val, best_state, bad, result, stopped)
            if stopped:
                result.stopped_early = True
                break
        if bar is not None:
            bar.close()
        if best_state is not None:
            module.load_state_dict(best_state)
        module.eval()
        if self.metrics_tsv and result.history:
            write_history(self.metrics_tsv, result.history)
        return result

    @staticmethod
    def _scores(module, val_scores, val, device, amp):
        import torch

        was_training = module.training
        module.eval()
        use_amp, amp_dtype = autocast_mode(amp, device)
        with torch.no_grad(), torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
            scores = val_scores(module, val)
        module.train(was_training)
        return scores

    @staticmethod
    def evaluate(module, step, arrays, device=None, batch_size=1024, amp=False):
        """Mean loss and metrics of ``step`` over ``arrays`` (no gradients, eval mode).

        Randomness inside ``step`` (masks, samples) is drawn from a generator
        state restored afterwards, so evaluating does not change what the next
        training epoch draws.
        """
        import torch

        was_training = module.training
        module.eval()
        dev_type = device.type if device is not None else "cpu"
        use_amp, amp_dtype = autocast_mode(amp, torch.device(dev_type))
        sums, count = {}, 0
        with torch.random.fork_rng(devices=[device] if device is not None and device.type == "cuda" else []):
            torch.manual_seed(0)
            with torch.no_grad():
                n = len(arrays[0])
                for b0 in range(0, n, batch_size):
                    batch = tuple(a[b0 : b0 + batch_size] for a in arrays)
                    with torch.autocast(device_type=dev_type, dtype=amp_dtype, enabled=use_amp):
                        loss, metrics = step(module, batch)
                    accumulate(sums, {"loss": loss, **metrics}, len(batch[0]))
                    count += len(batch[0])
        module.train(was_training)
        return {k: v / count for k, v in sums.items()}
