"""Computes every video frame's audio features ahead of the render, in batched FFTs.

The frames are cut from the mono mix in blocks (``[block, fft_size]`` matrices built from a
strided view, never a Python loop over frames), transformed with one batched real FFT per block
on NumPy/SciPy or CuPy, and reduced to spectrum, bands, waveform, RMS, peak and centroid (plus
a short-window FFT of the same frames for onsets); the per-block results land in preallocated
arrays, so the FFT's working memory is bounded by the block size whatever the track's length.
The beat tracker gets its own batched short-window FFT of the whole track at a fixed 100 frames
a second (whatever the video's frame rate), and :mod:`gpurender.audio.beats` finds the beats, in
seconds, from it. The cheap whole-track steps (named bands, flux, onsets, the beat features and
the optional attack/release follower) then run on the small ``[n_frames]`` series. In
``webaudio`` mode the W3C AnalyserNode algorithm is reproduced: Blackman window (alpha 0.16),
magnitudes scaled by 1/N, ``smoothingTimeConstant`` smoothing over successive video frames,
dB conversion and the spec's floor-and-clamp byte conversions.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import GpurenderError
from .backend import NUMPY, Backend, get_backend
from .decode import AudioData, load_audio
from .beats import beat_band_edges, beat_series, envelope_hop, track_beats
from .features import FEATURES, Features
from .framing import default_frame_count, fps_fraction, frame_end_samples
from .settings import BLOCK_SAMPLES, AnalysisSettings

# Named bands, Hz: [low, high).
NAMED_BANDS = {"bass": (20.0, 250.0), "mid": (250.0, 4000.0), "treble": (4000.0, 20000.0)}
# Web Audio Blackman window parameter (W3C Web Audio API, AnalyserNode, "Blackman window").
BLACKMAN_ALPHA = 0.16
# getFloatFrequencyData reports -inf for silent bins; we report this instead so shaders never see inf.
FLOAT_DB_FLOOR = -1000.0
# Flux and onsets come from their own short window (Hann, the power of two nearest to this
# many seconds, at most fft_size), so that they stay sharp and alike whatever fft_size is chosen.
ONSET_WINDOW_SECONDS = 0.0213  # 1024 samples at 44.1 and 48 kHz
# Spectral flux compares band levels this far apart in time (rounded to whole frames, at least one).
FLUX_LAG_SECONDS = 1.0 / 30.0
# Rows of the per-frame tables combined at a time after the FFT blocks (bounds the temporaries).
FINISH_ROWS = 4096
# onset = (flux - running median) / ONSET_FULL_SCALE: a rise of a fifth of the dB range in every band reads 1.
ONSET_FULL_SCALE = 0.2
ONSET_MEDIAN_SECONDS = 0.5


def analyze(audio, fps, n_frames: int | None = None,
            settings: AnalysisSettings = AnalysisSettings(), progress=None) -> Features:
    """Features for video frames ``0 .. n_frames-1`` of ``audio`` at ``fps`` frames per second.

    Frame ``i``'s window is the ``settings.fft_size`` samples ending at sample
    ``round(i * sample_rate / fps)`` (exact, ties to even; zeros outside the track). ``n_frames``
    defaults to every frame whose time ``i / fps`` lies within the track:
    ``floor(duration * fps) + 1``. More frames than that are allowed; they see silence.
    ``fps`` as ``--fps`` reads it: a whole number, a ratio such as ``30000/1001`` (or a Fraction),
    or 23.976, 29.97, 59.94 for their exact ratios. ``audio``: an :class:`AudioData` or a path.
    ``progress``: as for :func:`gpurender.render_video` (phases ``analysing`` then ``complete``).
    """
    from ..progress import as_progress, cancellable

    return cancellable(_analyze)(audio, fps, n_frames, settings, as_progress(progress))


def _analyze(audio, fps, n_frames, settings, progress) -> Features:
    if isinstance(audio, (str, os.PathLike)):
        audio = load_audio(audio)
    if not isinstance(audio, AudioData):
        raise TypeError(f"analyze() needs an AudioData (from load_audio or demo_track) or a path, "
                        f"got {type(audio).__name__}")
    if not isinstance(settings, AnalysisSettings):
        raise TypeError(f"settings must be an AnalysisSettings, got {type(settings).__name__}")
    rate = fps_fraction(fps)
    sample_rate = audio.sample_rate
    if n_frames is None:
        n_frames = default_frame_count(audio.n_samples, sample_rate, rate)
    elif isinstance(n_frames, bool) or int(n_frames) != n_frames or n_frames < 0:
        raise GpurenderError(f"frame count {n_frames!r} is not valid; give a whole number >= 0")
    n_frames = int(n_frames)
    backend = get_backend(settings.backend)
    progress.phase("analysing", detail=f"{n_frames} frames of {audio.duration:.2f} s at {audio.sample_rate} Hz")
    features = _Analysis(audio, rate, n_frames, settings, backend).run()
    progress.info(f"analysis on {features.backend}: {features.n_frames} frames")
    progress.phase("complete")
    return features


def analyze_file(path, fps, n_frames: int | None = None,
                 settings: AnalysisSettings = AnalysisSettings(), progress=None) -> Features:
    """:func:`load_audio` then :func:`analyze`."""
    return analyze(load_audio(path), fps, n_frames, settings, progress=progress)


@dataclass(frozen=True)
class _Plan:
    """Everything that depends on the settings and sample rate but not on the audio."""

    window: np.ndarray  # [N]
    frequencies: np.ndarray  # [N/2+1] Hz
    band_edges: np.ndarray  # [n_bands+1] Hz
    band_weights: np.ndarray  # [N/2+1, n_bands]
    named_weights: np.ndarray  # [n_bands, 3]
    wave_index: np.ndarray  # [waveform_width]
    dtype: type
    onset_size: int  # window of the onset analysis, <= N
    onset_window: np.ndarray | None  # [onset_size] Hann; None when the main spectrum serves
    onset_weights: np.ndarray | None  # [onset_size/2+1, n_bands]


def make_plan(settings: AnalysisSettings, sample_rate: int) -> _Plan:
    n = settings.fft_size
    webaudio = settings.mode == "webaudio"
    # Web Audio bytes must match the spec to the last byte: compute that mode in float64.
    dtype = np.float64 if webaudio else np.float32
    index = np.arange(n, dtype=np.float64)
    if webaudio:
        alpha = BLACKMAN_ALPHA
        a0, a1, a2 = (1 - alpha) / 2, 0.5, alpha / 2
        window = a0 - a1 * np.cos(2 * np.pi * index / n) + a2 * np.cos(4 * np.pi * index / n)
    else:
        window = 0.5 - 0.5 * np.cos(2 * np.pi * index / n)  # periodic Hann
    frequencies = np.arange(n // 2 + 1) * (sample_rate / n)
    edges = band_edges(settings, sample_rate)
    onset_size = min(n, onset_window_size(sample_rate))
    separate_onsets = webaudio or onset_size != n  # else the main (Hann, unsmoothed) bands serve
    onset_index = np.arange(onset_size, dtype=np.float64)
    return _Plan(
        window=window.astype(dtype),
        frequencies=frequencies,
        band_edges=edges,
        band_weights=_band_weights(edges, sample_rate, n).astype(dtype),
        named_weights=_named_weights(edges),
        wave_index=(np.arange(settings.waveform_width, dtype=np.int64) * n) // settings.waveform_width,
        dtype=dtype,
        onset_size=onset_size,
        onset_window=(0.5 - 0.5 * np.cos(2 * np.pi * onset_index / onset_size)).astype(dtype)
        if separate_onsets else None,
        onset_weights=_band_weights(edges, sample_rate, onset_size).astype(dtype) if separate_onsets else None,
    )


def onset_window_size(sample_rate: int) -> int:
    """The onset analysis window: the power of two nearest to :data:`ONSET_WINDOW_SECONDS`."""
    exponent = round(math.log2(max(ONSET_WINDOW_SECONDS * sample_rate, 32.0)))
    return int(2 ** min(max(exponent, 5), 15))


def band_edges(settings: AnalysisSettings, sample_rate: int) -> np.ndarray:
    """The ``n_bands + 1`` log-spaced band edges in Hz, capped at the Nyquist frequency."""
    high = min(settings.max_frequency, sample_rate / 2)
    low = settings.min_frequency if settings.min_frequency < high else high / 1000
    return np.geomspace(low, high, settings.n_bands + 1)


def _band_weights(edges: np.ndarray, sample_rate: int, n: int) -> np.ndarray:
    """``[bins, bands]``: how much of each FFT bin's power counts towards each band.

    Bin ``k`` stands for the frequencies within half a bin of ``k * df``. A band takes the share of
    each bin it overlaps, so wide bands add up their bins' power; a band narrower than a bin is
    divided by its own width instead, so it reads the (overlap-weighted) power of the bins it
    falls in rather than a sliver of it.
    """
    df = sample_rate / n
    centres = np.arange(n // 2 + 1) * df
    bin_low = np.maximum(centres - df / 2, 0.0)
    bin_high = np.minimum(centres + df / 2, sample_rate / 2)
    low, high = edges[:-1], edges[1:]
    overlap = np.clip(
        np.minimum(bin_high[:, None], high[None, :]) - np.maximum(bin_low[:, None], low[None, :]), 0.0, None
    )
    return overlap / np.minimum(df, high - low)[None, :]


def _named_weights(edges: np.ndarray) -> np.ndarray:
    """``[bands, 3]``: averaging weights that turn the bands into bass, mid and treble."""
    centres = np.sqrt(edges[:-1] * edges[1:])
    weights = np.zeros((len(centres), len(NAMED_BANDS)))
    for column, (low, high) in enumerate(NAMED_BANDS.values()):
        inside = (centres >= low) & (centres < high)
        if not inside.any():
            # Too few bands, or a low sample rate: the band nearest (in octaves) stands in.
            inside = np.zeros_like(inside)
            inside[np.argmin(np.abs(np.log(centres / math.sqrt(low * high))))] = True
        weights[inside, column] = 1.0 / inside.sum()
    return weights


class _Analysis:
    def __init__(self, audio: AudioData, rate, n_frames: int, settings: AnalysisSettings, backend: Backend):
        self.audio = audio
        self.rate = rate
        self.fps = float(rate)
        self.n = n_frames
        self.settings = settings
        self.backend = backend
        self.plan = make_plan(settings, audio.sample_rate)
        self.webaudio = settings.mode == "webaudio"

    def run(self) -> Features:
        s, n, plan = self.settings, self.n, self.plan
        size = s.fft_size
        bins = size // 2 + 1
        keep = s.keep_spectrum
        out = {
            "spectrum": np.zeros((n, bins), np.float32) if keep else None,
            "bands": np.zeros((n, s.n_bands), np.float32),
            "waveform": np.zeros((n, s.waveform_width), np.float32),
            "rms": np.zeros(n, np.float32),
            "peak": np.zeros(n, np.float32),
            "centroid": np.zeros(n, np.float32),
        }
        # Spectral flux as the blocks go (from the onset bands where there are some): the
        # [frames, bands] onset levels are never held whole.
        out["flux"] = np.zeros(n, np.float32)
        lag = max(1, round(self.fps * FLUX_LAG_SECONDS))
        self._flux_tail = np.zeros((lag, s.n_bands), np.float32)  # the `lag` rows before (silence first)
        if self.webaudio and keep:
            out["byte_frequency"] = np.zeros((n, size // 2), np.uint8)
            out["float_frequency"] = np.zeros((n, size // 2), np.float32)
            out["byte_time_domain"] = np.zeros((n, size), np.uint8)

        ends = frame_end_samples(n, self.audio.sample_rate, self.rate)
        block = s.frames_per_block(self.audio.sample_rate / self.fps, self.backend.name)
        xp = self.backend.xp
        device = _DeviceConstants(self.backend, plan)
        # The AnalyserNode's smoothing state: the previous frame's smoothed magnitudes (zeros at first).
        smoothing_state = np.zeros((1, bins), np.float64)
        for start in range(0, n, block):
            rows = slice(start, min(start + block, n))
            frames = self._frames(ends[rows], xp)
            smoothing_state = self._block(frames, rows, out, device, smoothing_state)
        return self._finish(out, ends)

    def _frames(self, ends: np.ndarray, xp, size: int | None = None, dtype=None):
        """``[B, size]`` windows (``fft_size`` by default) ending at ``ends``, cut from one
        zero-padded stretch of the mono mix, in ``dtype`` (the plan's by default)."""
        size = self.settings.fft_size if size is None else size
        mono = self.audio.mono
        low, high = int(ends[0]) - size, int(ends[-1])
        segment = np.zeros(high - low, np.float32)
        a, b = max(low, 0), min(high, len(mono))
        if b > a:
            segment[a - low:b - low] = mono[a:b]
        starts = (ends - size - low).astype(np.int64)
        segment = self.backend.to_device(segment)
        frames = self.backend.frames(segment, self.backend.to_device(starts), size)
        return frames.astype(self.plan.dtype if dtype is None else dtype, copy=False)

    def _beat_energy(self):
        """The beat tracker's input: a ``blocks`` callable (see :func:`track_beats`) giving the
        band energies ``[rows, BEAT_BANDS]`` and window RMS of the whole track, block after block
        (Hann windows of the onset size ending every ``envelope_hop`` samples, from sample 0 to
        the first past the end; float32, whatever the mode), and the hop. Each call of ``blocks``
        computes them afresh, so the whole table is never held."""
        sample_rate = self.audio.sample_rate
        hop, size = envelope_hop(sample_rate), onset_window_size(sample_rate)
        count = -(-self.audio.n_samples // hop) + 1
        xp, host = self.backend.xp, self.backend.to_host
        index = np.arange(size, dtype=np.float64)
        window = self.backend.to_device((0.5 - 0.5 * np.cos(2 * np.pi * index / size)).astype(np.float32))
        weights = self.backend.matrix(_band_weights(beat_band_edges(sample_rate), sample_rate, size).astype(np.float32))
        block = max(1, BLOCK_SAMPLES.get(self.backend.name, BLOCK_SAMPLES["numpy"]) // size)

        def blocks():
            for start in range(0, count, block):
                ends = np.arange(start, min(start + block, count), dtype=np.int64) * hop
                x = self._frames(ends, xp, size, np.float32)
                rms = host(xp.sqrt(xp.einsum("ij,ij->i", x, x) / size)).astype(np.float32, copy=False)
                magnitude = xp.abs(self.backend.rfft(x * window))
                del x
                magnitude *= 1.0 / size
                yield host((magnitude * magnitude) @ weights).astype(np.float32, copy=False), rms

        return blocks, hop

    def _block(self, x, rows: slice, out: dict, device: "_DeviceConstants", smoothing_state):
        s, host = self.settings, self.backend.to_host
        xp = self.backend.xp
        # einsum and max/min avoid [B, N] temporaries (measured ~2x faster than mean(x*x), abs().max()).
        out["rms"][rows] = host(xp.sqrt(xp.einsum("ij,ij->i", x, x) / s.fft_size))
        out["peak"][rows] = host(xp.maximum(x.max(axis=1), -x.min(axis=1)))
        out["waveform"][rows] = host(x[:, device.wave_index])
        if self.webaudio and s.keep_spectrum:
            # getByteTimeDomainData: b[k] = floor(128 * (1 + x[k])), clipped to 0..255.
            out["byte_time_domain"][rows] = host(xp.clip(xp.floor(128.0 * (1.0 + x)), 0, 255).astype(xp.uint8))

        spectrum = self.backend.rfft(x * device.window)
        magnitude = xp.abs(spectrum)
        del spectrum
        magnitude *= 1.0 / s.fft_size  # exact: N is a power of two

        if self.webaudio:
            magnitude, smoothing_state = self._webaudio(host(magnitude), rows, out, smoothing_state)
            weights, frequencies, mp = device.host_band_weights, self.plan.frequencies, np
        else:
            weights, frequencies, mp = device.band_weights, device.frequencies, xp
        if s.keep_spectrum:
            out["spectrum"][rows] = host(magnitude)

        bands = out["bands"][rows]
        bands[:] = host(self._levels(magnitude, weights, mp))
        if self.plan.onset_window is not None:
            short = self.backend.rfft(x[:, -self.plan.onset_size:] * device.onset_window)
            short = xp.abs(short)
            short *= 1.0 / self.plan.onset_size
            bands = host(self._levels(short, device.onset_weights, xp)).astype(np.float32, copy=False)
            del short
        out["flux"][rows], self._flux_tail = spectral_flux(bands, self._flux_tail)

        total = magnitude.sum(axis=1)
        weighted = magnitude @ frequencies.astype(magnitude.dtype)
        audible = total > 1e-12
        out["centroid"][rows] = host(mp.where(audible, weighted / mp.where(audible, total, 1.0), 0.0))
        return smoothing_state

    def _levels(self, magnitude, weights, mp):
        """Band energies of ``[B, bins]`` magnitudes in dB, mapped from min..max decibels to 0..1."""
        s = self.settings
        energy = (magnitude * magnitude) @ weights
        floor = max(10.0 ** ((s.min_decibels - 10.0) / 10.0), float(np.finfo(energy.dtype).tiny))
        decibels = 10.0 * mp.log10(mp.maximum(energy, floor))
        scale = 1.0 / (s.max_decibels - s.min_decibels)
        return mp.clip((decibels - s.min_decibels) * scale, 0.0, 1.0)

    def _webaudio(self, magnitude: np.ndarray, rows: slice, out: dict, state: np.ndarray):
        """AnalyserNode smoothing, dB and byte conversion for one block (on the host, float64)."""
        from scipy.signal import lfilter

        s = self.settings
        tau = s.smoothing
        # X^[k] = tau * X^_prev[k] + (1 - tau) * |X[k]|, one step per video frame; lfilter runs the
        # recursion down the frame axis in C with the same two products and one sum per step.
        smoothed, state = lfilter([1.0 - tau], [1.0, -tau], magnitude, axis=0, zi=state)
        bad = ~np.isfinite(smoothed)
        if bad.any():  # the spec resets a NaN/infinite smoothed value to 0 (sanitised input never gets here)
            smoothed[bad] = 0.0
            state = tau * smoothed[-1:]
        if s.keep_spectrum:
            half = s.fft_size // 2
            with np.errstate(divide="ignore"):
                decibels = 20.0 * np.log10(smoothed[:, :half])
            out["float_frequency"][rows] = np.maximum(decibels, FLOAT_DB_FLOOR)
            # getByteFrequencyData: b[k] = floor(255 / (dB_max - dB_min) * (Y[k] - dB_min)), clipped.
            scaled = np.floor(255.0 / (s.max_decibels - s.min_decibels) * (decibels - s.min_decibels))
            out["byte_frequency"][rows] = np.clip(scaled, 0.0, 255.0).astype(np.uint8)
        return smoothed, state

    def _finish(self, out: dict, ends: np.ndarray) -> Features:
        s, fps = self.settings, self.fps
        bands = out["bands"]
        named = np.zeros((len(bands), self.plan.named_weights.shape[1]), np.float32)
        for start in range(0, len(bands), FINISH_ROWS):  # no float64 copy of the whole table
            rows = slice(start, start + FINISH_ROWS)
            named[rows] = bands[rows].astype(np.float64) @ self.plan.named_weights
        flux = out["flux"]
        onset = np.clip(onset_strength(flux, fps), 0.0, 1.0).astype(np.float32)
        blocks, hop = self._beat_energy()
        beats = track_beats(blocks, self.audio.sample_rate, hop, self.audio.mono)
        scalars = {
            "bass": named[:, 0], "mid": named[:, 1], "treble": named[:, 2],
            "rms": out["rms"], "peak": out["peak"], "centroid": out["centroid"],
            "flux": flux, "onset": onset,
            **beat_series(beats, ends, self.audio.sample_rate, fps, s.beat_decay),
        }
        if s.attack > 0 or s.release > 0:
            names = [spec.name for spec in FEATURES if spec.smoothed]
            table = np.concatenate([bands, np.stack([scalars[k] for k in names], axis=1)], axis=1)
            table = follow(table, fps, s.attack, s.release)
            bands = np.ascontiguousarray(table[:, : bands.shape[1]])
            scalars.update({k: np.ascontiguousarray(table[:, bands.shape[1] + i]) for i, k in enumerate(names)})
        return Features(
            sample_rate=self.audio.sample_rate,
            fps=fps,
            n_frames=self.n,
            settings=s,
            backend=self.backend.name,
            spectrum=out["spectrum"],
            bands=bands,
            waveform=out["waveform"],
            scalars={spec.name: scalars[spec.name].astype(np.float32, copy=False) for spec in FEATURES},
            beat_times=beats.times,
            downbeat_times=beats.downbeats,
            band_edges=self.plan.band_edges,
            frame_end=ends,
            byte_frequency=out.get("byte_frequency"),
            float_frequency=out.get("float_frequency"),
            byte_time_domain=out.get("byte_time_domain"),
        )


class _DeviceConstants:
    """The plan's arrays, moved once to the backend's device."""

    def __init__(self, backend: Backend, plan: _Plan):
        self.window = backend.to_device(plan.window)
        self.band_weights = backend.matrix(plan.band_weights)
        self.host_band_weights = NUMPY.matrix(plan.band_weights)
        if plan.onset_window is not None:
            self.onset_window = backend.to_device(plan.onset_window)
            self.onset_weights = backend.matrix(plan.onset_weights)
        self.frequencies = backend.to_device(plan.frequencies.astype(plan.dtype))
        self.wave_index = backend.to_device(plan.wave_index)


def spectral_flux(bands: np.ndarray, before: np.ndarray):
    """float32 ``[rows]``: mean over bands of the rise ``max(0, bands[i] - bands[i - lag])``, for a
    block of rows, with ``before`` the ``lag`` rows before it (zeros before the track: silence);
    and the ``lag`` rows before the next block."""
    lag, count = len(before), len(bands)
    joined = np.concatenate([before, bands])
    # Summed in float64: a float32 sum's SIMD order depends on where the block lies in memory.
    flux = np.maximum(joined[lag:] - joined[:count], 0.0).mean(axis=1, dtype=np.float64).astype(np.float32)
    return flux, joined[count:].copy()


def _odd(frames: float) -> int:
    return max(1, int(round(frames)) // 2 * 2 + 1)


def onset_strength(flux: np.ndarray, fps: float) -> np.ndarray:
    """float64 ``[n]``, 0 and up: flux above its running median, on a fixed scale (not clipped)."""
    from scipy.ndimage import median_filter

    if flux.size == 0:
        return np.zeros(0, np.float64)
    flux = flux.astype(np.float64)
    baseline = median_filter(flux, size=_odd(ONSET_MEDIAN_SECONDS * fps), mode="nearest")
    return np.maximum(flux - baseline, 0.0) / ONSET_FULL_SCALE


def follow(table: np.ndarray, fps: float, attack: float, release: float) -> np.ndarray:
    """Attack/release envelope follower down the frame axis of ``table`` ``[n, k]``.

    Each step moves towards the input by ``1 - exp(-1 / (fps * T))`` with ``T`` the attack time
    when rising and the release time when falling (``T = 0``: jump straight there). The state
    starts at 0, the silence before the track.
    """
    def coefficient(seconds: float) -> float:
        return 1.0 if seconds <= 0 else 1.0 - math.exp(-1.0 / (fps * seconds))

    up, down = coefficient(attack), coefficient(release)
    source = table.astype(np.float64)
    result = np.empty_like(source)
    state = np.zeros(source.shape[1])
    # A nonlinear recursion (the step depends on the direction): it runs once over the small
    # [n_frames, bands + scalars] table, after the FFT work, only when a follower is asked for.
    for i in range(source.shape[0]):
        row = source[i]
        state += np.where(row > state, up, down) * (row - state)
        result[i] = state
    return result.astype(np.float32)
