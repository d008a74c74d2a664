"""Causal filters: what an online system can run on EEG as it arrives."""

from __future__ import annotations

__all__ = ["causal_bandpass"]


def causal_bandpass(data, sfreq, l_freq=None, h_freq=None, order=4):
    """Band-pass a continuous signal with a forward-only (causal) IIR filter.

    A Butterworth filter (second-order sections) applied once forward, from a
    zero initial state: the output at sample ``t`` depends on samples ``<= t``
    only, exactly what an online system filtering chunk by chunk computes.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
    sfreq : float
    l_freq, h_freq : float | None
        Pass-band edges (Hz); None skips that edge.
    order : int
        Butterworth order.

    Returns
    -------
    filtered : ndarray, shape (n_channels, n_times)
    """
    import mne

    return mne.filter.filter_data(
        data,
        sfreq,
        l_freq,
        h_freq,
        method="iir",
        phase="forward",
        iir_params=dict(order=int(order), ftype="butter", output="sos"),
        verbose="error",
    )
