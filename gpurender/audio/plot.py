"""Draws a picture of a track's features, for a person to check what the visuals will react to.

One figure, time across: the band spectrogram, bass/mid/treble, RMS and peak, and the onset
envelope with the detected beats. matplotlib is imported only here, with its Agg canvas (no
pyplot, no display, no global backend switch), and the image is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..encode.files import atomic_file
from ..errors import GpurenderError
from .features import Features


def plot_features(features: Features, path) -> None:
    """Save a picture of ``features`` (PNG, SVG, PDF or JPEG, by ``path``'s extension)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(os.fspath(path))
    kind = path.suffix.lower().lstrip(".")
    supported = FigureCanvasAgg.get_supported_filetypes()
    if kind not in supported:
        raise GpurenderError(
            f"cannot draw features to {str(path)!r}: unknown image type {path.suffix!r}; "
            f"use one of {', '.join('.' + k for k in sorted(supported))}"
        )

    n, fps = features.n_frames, features.fps
    times = np.arange(n) / fps
    end = max(n / fps, 1.0 / fps)
    figure = Figure(figsize=(12, 8.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(4, 1, sharex=True, height_ratios=(2.2, 1, 1, 1))
    s = features.settings
    figure.suptitle(
        f"{n} frames at {fps:g} fps, {features.sample_rate} Hz, FFT {s.fft_size}, "
        f"{s.mode} mode, {features.backend}"
    )

    spectrogram = axes[0]
    image = spectrogram.imshow(
        features.bands.T, origin="lower", aspect="auto", cmap="magma", vmin=0.0, vmax=1.0,
        extent=(0.0, end, 0.0, features.bands.shape[1]), interpolation="nearest",
    )
    edges = np.asarray(features.band_edges, np.float64)
    if edges.size >= 2:
        ticks = [f for f in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if edges[0] <= f <= edges[-1]]
        positions = np.interp(np.log(ticks), np.log(edges), np.arange(edges.size)) if ticks else []
        spectrogram.set_yticks(positions, [f"{f / 1000:g}k" if f >= 1000 else f"{f}" for f in ticks])
    spectrogram.set_ylabel("band (Hz)")
    figure.colorbar(image, ax=spectrogram, label=f"0..1 = {s.min_decibels:g}..{s.max_decibels:g} dB", pad=0.01)

    for name, colour in (("bass", "tab:red"), ("mid", "tab:green"), ("treble", "tab:blue")):
        axes[1].plot(times, features.scalar(name), color=colour, linewidth=0.8, label=name)
    axes[1].set_ylabel("bands")
    axes[1].set_ylim(0, 1.02)
    axes[1].legend(loc="upper right", fontsize="small", ncols=3)

    axes[2].plot(times, features.rms, color="black", linewidth=0.8, label="rms")
    axes[2].plot(times, features.peak, color="tab:gray", linewidth=0.6, alpha=0.8, label="peak")
    axes[2].set_ylabel("level")
    axes[2].set_ylim(0, 1.02)
    axes[2].legend(loc="upper right", fontsize="small", ncols=2)

    axes[3].plot(times, features.onset, color="tab:purple", linewidth=0.8, label="onset")
    axes[3].plot(times, features.beat, color="tab:orange", linewidth=0.8, alpha=0.8, label="beat")
    beats, downbeats = features.beat_times, features.downbeat_times
    if beats.size:
        axes[3].vlines(beats, 0, 1, color="tab:orange", linewidth=0.6, alpha=0.5)
    if downbeats.size:
        axes[3].vlines(downbeats, 0, 1, color="tab:brown", linewidth=1.4, alpha=0.7, label="downbeat")
    tempo = features.tempo[features.tempo > 0]
    axes[3].set_ylabel(f"onsets, beats\n~{np.median(tempo):.0f} BPM" if tempo.size else "onsets, beats")
    axes[3].set_ylim(0, 1.02)
    axes[3].set_xlabel("time (s)")
    axes[3].set_xlim(0, end)
    axes[3].legend(loc="upper right", fontsize="small", ncols=3)

    with atomic_file(path, what="features plot") as handle:
        figure.savefig(handle, format=kind)
