"""Report figures of EEG preprocessing: the power spectra before and after,
with the bad channels marked, and where those channels sit on the head."""

from __future__ import annotations

import numpy as np

from ..io.figures import new_figure

#: Colour of the bad channels in every panel (MNE draws bad sensors red too).
BAD_COLOR = "tab:red"


def _db(psd):
    """Power spectral density in V**2/Hz -> dB re 1 uV**2/Hz."""
    return 10 * np.log10(np.maximum(psd, 1e-30) * 1e12)


def _spectra(ax, spectrum, bads, title, marks):
    freqs = spectrum.freqs
    data = _db(spectrum.get_data())
    names = spectrum.ch_names
    for name, row in zip(names, data):
        if name not in bads:
            ax.plot(freqs, row, color="0.45", lw=0.6, alpha=0.6)
    for name, row in zip(names, data):
        if name in bads:
            ax.plot(freqs, row, color=BAD_COLOR, lw=1.4)
            ax.annotate(name, (freqs[-1], row[-1]), color=BAD_COLOR, fontsize=7, xytext=(2, 0),
                        textcoords="offset points", va="center")
    for freq, label in marks:
        ax.axvline(freq, color="tab:blue", ls=":", lw=1)
        ax.annotate(label, (freq, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                    color="tab:blue", xytext=(2, -2), textcoords="offset points", va="top")
    ax.set(title=title, xlabel="Frequency (Hz)", xlim=(freqs[0], freqs[-1]))
    ax.grid(alpha=0.3)


def psd_before_after_figure(before, after, info, bads, *, l_freq=None, h_freq=None, notch=()):
    """Three panels: Welch PSD of every channel before and after preprocessing,
    and the sensor layout, each with the bad channels in red.

    Parameters
    ----------
    before, after : mne.time_frequency.Spectrum
        PSD of the raw recording (EEG channels) and of the preprocessed one.
    info : mne.Info
        Measurement info of the raw recording (channel positions).
    bads : sequence of str
        Channels found flat or noisy (interpolated or dropped afterwards).
    l_freq, h_freq : float | None
        Band-pass edges (Hz), drawn as dotted lines.
    notch : sequence of float
        Notch frequencies (Hz), drawn as dotted lines.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import mne

    bads = [b for b in bads if b in info["ch_names"]]
    marks = [(f, f"notch {f:g} Hz") for f in (notch or ())]
    marks += [(f, f"{name} {f:g} Hz") for f, name in ((l_freq, "high-pass"), (h_freq, "low-pass")) if f]
    fig = new_figure(12.0, 3.8, layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 0.62])
    ax_before = fig.add_subplot(grid[0])
    ax_after = fig.add_subplot(grid[1], sharey=ax_before)
    _spectra(ax_before, before, bads, "Before: raw recording", [])
    _spectra(ax_after, after, bads, "After: filtered, bad channels repaired", marks)
    ax_before.set_ylabel("PSD (dB re 1 µV²/Hz)")
    ax_sensors = fig.add_subplot(grid[2])
    eeg = mne.pick_info(info, mne.pick_types(info, eeg=True, exclude=[]))
    with eeg._unlock():
        eeg["bads"] = list(bads)
    if eeg.get_montage() is not None and eeg["dig"]:
        mne.viz.plot_sensors(eeg, kind="topomap", axes=ax_sensors, show_names=True, show=False,
                             title="", verbose="error")
        for text in ax_sensors.texts:
            text.set_fontsize(6)
    else:
        ax_sensors.text(0.5, 0.5, "no sensor positions", ha="center", va="center", transform=ax_sensors.transAxes)
        ax_sensors.set_axis_off()
    ax_sensors.set_title("Bad channels: " + (", ".join(bads) if bads else "none"),
                         color=BAD_COLOR if bads else "black", fontsize=9)
    return fig
