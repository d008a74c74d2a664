"""The spectral BCI pipelines (HappyFeat style): band power or connectivity, signed-R² selection, LDA.

Listed in :data:`brainpipe.bci.pipelines.PIPELINES` as ``psd_lda`` and
``coh_lda``; they take epochs ``X`` (n_trials, n_channels, n_times) and need
the epochs' sampling frequency.
"""

from __future__ import annotations

from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import Pipeline

__all__ = ["psd_lda", "coh_lda"]


def psd_lda(sfreq=None, k=10, **feature_params):
    """Welch band power + signed-R² feature selection + shrinkage LDA (HappyFeat).

    Parameters
    ----------
    sfreq : float
        Sampling frequency of the epochs, in Hz (required).
    k : int | "all"
        Number of (channel, frequency) features kept by the signed-R² ranking.
    **feature_params
        Passed to :class:`brainpipe.features.PSDBandPower` (band limits,
        Welch window, ...).
    """
    sfreq = _check_sfreq(sfreq, "psd_lda")
    from ..features import PSDBandPower

    return _selected_lda(PSDBandPower(sfreq=sfreq, **feature_params), k)


def coh_lda(sfreq=None, k=10, **feature_params):
    """Connectivity node strength + signed-R² selection + shrinkage LDA (HappyFeat).

    Parameters
    ----------
    sfreq : float
        Sampling frequency of the epochs, in Hz (required).
    k : int | "all"
        Number of (channel, frequency) features kept.
    **feature_params
        Passed to :class:`brainpipe.features.ConnectivityNodeStrength`
        (method, e.g. imaginary coherence; frequency band; ...).
    """
    sfreq = _check_sfreq(sfreq, "coh_lda")
    from ..features import ConnectivityNodeStrength

    return _selected_lda(ConnectivityNodeStrength(sfreq=sfreq, **feature_params), k)


def _selected_lda(features, k):
    from ..features import SignedR2Selector

    return Pipeline(
        [
            ("features", features),
            ("select", SignedR2Selector(k=k)),
            ("lda", LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")),
        ]
    )


def _check_sfreq(sfreq, name):
    if sfreq is None:
        raise ValueError(
            f"Pipeline {name!r} needs the sampling frequency of the epochs: pass sfreq=... "
            "(make_pipelines(config, sfreq=...) fills it in)."
        )
    sfreq = float(sfreq)
    if not sfreq > 0:
        raise ValueError(f"sfreq must be > 0 Hz, got {sfreq!r}.")
    return sfreq
