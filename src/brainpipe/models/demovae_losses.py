"""DemoVAE's network and training objective (the estimator is in :mod:`.demovae`).

:func:`_module_class` builds the encoder/decoder (the reference package's
sizes and layout) with the fixed guidance predictors as buffers; the mixin
:class:`DemoVAELosses` holds what one training step computes: the
guidance predictors fitted once on the real FC, the demographics sampled for
generated subjects, and the five loss terms. The departures from the
reference listed in :mod:`.demovae` that concern the losses (one category
per generated sample, each one-vs-rest term counted once, constant batch
columns left out of the decorrelation) are implemented here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DemoVAELosses"]


def _module_class():
    import torch
    from torch import nn

    class DemoVAEModule(nn.Module):
        """The network and the fixed guidance predictors (as buffers)."""

        def __init__(self, n_features, latent_dim, demo_dim, hidden_dim, guidance):
            super().__init__()
            self.latent_dim = int(latent_dim)
            self.enc1 = nn.Linear(n_features, hidden_dim)
            self.enc2 = nn.Linear(hidden_dim, latent_dim)
            self.dec1 = nn.Linear(latent_dim + demo_dim, hidden_dim)
            self.dec2 = nn.Linear(hidden_dim, n_features)
            # guidance: W (n_features, n_targets), b (n_targets,)
            self.register_buffer("guide_w", torch.as_tensor(guidance["w"], dtype=torch.float32))
            self.register_buffer("guide_b", torch.as_tensor(guidance["b"], dtype=torch.float32))

        def encode(self, x):
            return self.enc2(torch.relu(self.enc1(x)))

        def decode(self, z, demo):
            return self.dec2(torch.relu(self.dec1(torch.cat([z, demo], dim=1))))

    return DemoVAEModule


def _rms(a):
    import torch

    return torch.sqrt(torch.mean(a**2))


class DemoVAELosses:
    """Guidance predictors, sampling and the training step of :class:`~brainpipe.models.DemoVAE`."""

    # -- guidance predictors (fitted once on the real FC) ---------------------

    def _fit_guidance(self, X, demographics):
        from sklearn.linear_model import LogisticRegression, Ridge

        ws, bs, self.guidance_targets_ = [np.zeros((X.shape[1], 0))], [np.zeros(0)], []
        for col, sl in self.coder_.slices():
            values = demographics[col.name]
            if col.kind == "continuous":
                reg = Ridge(alpha=float(self.guidance_alpha)).fit(X, values.to_numpy(dtype=float))
                ws.append(reg.coef_[:, None])
                bs.append(np.atleast_1d(reg.intercept_))
                self.guidance_targets_.append((col.name, "continuous", sl.start, 1))
            else:
                clf = LogisticRegression(C=float(self.guidance_C), max_iter=1000)
                clf.fit(X, values.astype(str).to_numpy())
                if list(clf.classes_) != col.levels:
                    raise RuntimeError("guidance classes out of order")  # sklearn sorts labels too
                if clf.coef_.shape[0] == 1:  # binary: logit of class 1, and its negative for class 0
                    w = np.hstack([-clf.coef_.T, clf.coef_.T])
                    b = np.array([-clf.intercept_[0], clf.intercept_[0]])
                else:
                    w, b = clf.coef_.T, clf.intercept_
                ws.append(w)
                bs.append(b)
                self.guidance_targets_.append((col.name, "categorical", sl.start, len(col.levels)))
        return {"w": np.hstack(ws).astype(np.float32), "b": np.concatenate(bs).astype(np.float32)}

    def _guidance_columns(self):
        """First column of each demographic's predictor scores in ``guide_w``."""
        cols, col = {}, 0
        for name, _, _, width in self.guidance_targets_:
            cols[name] = col
            col += width
        return cols

    # -- losses -----------------------------------------------------------------

    def _sample_demo(self, n, device):
        """Generated demographics, encoded (n, width), and the raw continuous targets."""
        import torch

        parts, raw = [torch.zeros(n, 0, device=device)], []
        for col, _ in self.coder_.slices():
            if col.kind == "continuous":
                u = torch.randn(n, device=device)
                parts.append(u[:, None])
                raw.append(u * col.std + col.mean)
            else:
                p = torch.as_tensor(col.freqs, dtype=torch.float32, device=device)
                k = torch.multinomial(p, n, replacement=True)
                parts.append(torch.nn.functional.one_hot(k, len(col.levels)).float())
                raw.append(k)
        return torch.cat(parts, dim=1), raw

    def _terms(self, module, x, d):
        """Latents and the data terms of the loss (reconstruction, moments, decorrelation)."""
        import torch

        x, d = x.float(), d.float()
        n = len(x)
        # under bfloat16 autocast the matmuls run in bfloat16; the losses are
        # reductions over the batch and are computed in float32
        z = module.encode(x).float()
        y = module.decode(z, d).float()
        rec = _rms(x - y)
        cov = _rms(z.T @ z - n * torch.eye(z.shape[1], device=z.device, dtype=z.dtype))
        mean = _rms(z.mean(dim=0))
        # decorrelation between every latent and every encoded demographic column
        decor = torch.zeros((), device=x.device)
        if d.shape[1] and n > 1:
            dc = d - d.mean(dim=0)
            sd = d.std(dim=0)
            keep = sd > 1e-6
        if d.shape[1] and n > 1 and bool(keep.any()):
            p = (dc[:, keep].T @ z) / sd[keep][:, None] / (z * z).sum(dim=0)[None, :]
            decor = torch.sqrt(torch.mean(p**2, dim=1)).sum()
        return z, {"rec": rec, "cov": cov, "mean": mean, "decor": decor}

    def _guidance(self, module, device):
        """Guidance term: FC decoded from prior samples must carry the sampled demographics."""
        import torch

        guidance = torch.zeros((), device=device)
        if not (self.guidance_weight and self.guidance_targets_):
            return guidance
        g = int(self.n_generated)
        demo_g, raw = self._sample_demo(g, device)
        zg = torch.randn(g, module.latent_dim, device=device)
        scores = module.decode(zg, demo_g).float() @ module.guide_w + module.guide_b
        for (name, kind, start, width), target in zip(self.guidance_targets_, raw):
            if kind == "continuous":
                guidance = guidance + _rms(target - scores[:, self._guide_col[name]])
            else:
                for j in range(width):
                    logit = scores[:, self._guide_col[name] + j]
                    label = (target == j).long()
                    guidance = guidance + torch.nn.functional.cross_entropy(torch.stack([-logit, logit], dim=1), label)
        return guidance

    def _data_loss(self, t):
        return (self.cov_weight * t["cov"] + self.mean_weight * t["mean"] + self.rec_weight * t["rec"]
                + self.decor_weight * t["decor"])

    def _step(self, module, batch):
        x, d = batch
        _, t = self._terms(module, x, d)
        guidance = self._guidance(module, x.device)
        loss = self._data_loss(t) + self.guidance_weight * guidance
        return loss, {**{k: v.detach() for k, v in t.items()}, "guidance": guidance.detach()}

    def _val_scores(self, module, val):
        """The validation row, over the whole validation set (no gradients).

        ``loss`` and its terms as in training, less the guidance term (it is
        computed on generated subjects, not on the validation ones, so on
        validation it would only add sampling noise); ``decor_r``: for each
        encoded demographic column, the RMS over latents of the Pearson r
        between latent and column, summed over columns (the training
        decorrelation term's layout, with a proper correlation: the training
        term divides by ``sum z**2``, so its validation value follows the
        latents' scale, not their correlation); ``rec_decor``: the
        reconstruction RMSE and ``decor_r`` weighted as in the training loss,
        what early stopping follows by default.
        """
        import torch

        with torch.no_grad():
            x, d = val
            z, t = self._terms(module, x, d)
            d = d.float()
            decor_r = torch.zeros((), device=z.device)
            if d.shape[1] and len(z) > 2:
                zc, dc = z - z.mean(dim=0), d - d.mean(dim=0)
                zn, dn = zc.norm(dim=0), dc.norm(dim=0)
                keep = dn > 1e-6 * (1 + dn.max())
                r = (dc[:, keep].T @ zc) / (dn[keep][:, None] * zn.clamp_min(1e-12)[None, :])
                decor_r = torch.sqrt(torch.mean(r**2, dim=1)).sum()
            out = {"loss": self._data_loss(t), **t, "decor_r": decor_r,
                   "rec_decor": self.rec_weight * t["rec"] + self.decor_weight * decor_r}
            return {k: float(v) for k, v in out.items()}
