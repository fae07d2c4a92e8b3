"""The frozen settings of one audio analysis, validated once when they are built.

An :class:`AnalysisSettings` value travels with the features it produced (and into the .npz), so
a render can always say how its audio was analysed. Bad values raise
:class:`AnalysisSettingsError`, which is both a :class:`~gpurender.errors.GpurenderError` (the CLI
prints one line) and a :class:`ValueError` (for Python callers).
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass

from ..errors import GpurenderError

MODES = ("default", "webaudio")
BACKENDS = ("auto", "numpy", "cupy")
MIN_FFT_SIZE = 32
MAX_FFT_SIZE = 32768
# Samples per FFT block when block_frames is 0. On the CPU a 1 MB float32 block keeps the FFT and
# the element-wise passes in cache: measured 2.5x faster than 4 MB blocks on a busy 2-core EPYC
# (64 vs 256 frames of 4096). A GPU wants big batches.
BLOCK_SAMPLES = {"numpy": 1 << 18, "cupy": 1 << 23}


class AnalysisSettingsError(GpurenderError, ValueError):
    """An analysis setting is out of range."""


@dataclass(frozen=True)
class AnalysisSettings:
    """How to analyse audio into per-frame features.

    fft_size: window length N in samples, a power of two from 32 to 32768.
    n_bands: number of log-spaced bands between ``min_frequency`` and ``max_frequency``.
    waveform_width: samples kept per frame in ``Features.waveform`` (the window, decimated).
    mode: ``"default"`` (Hann window, no smoothing) or ``"webaudio"`` (the W3C AnalyserNode:
        Blackman window, ``smoothing`` over successive video frames, byte/float outputs).
    smoothing: AnalyserNode ``smoothingTimeConstant`` (0..1), used in webaudio mode only.
    min_decibels, max_decibels: the dB range mapped to 0..1 for ``bands`` (both modes) and to
        0..255 for ``byte_frequency`` (webaudio mode).
    attack, release: time constants in seconds of an optional follower applied to ``bands`` and
        the scalar features except the beat features ``beat``, ``tempo``, ``beat_phase`` and
        ``downbeat`` (0 = follow instantly).
    block_frames: frames per FFT block (bounds memory); 0 picks about 256 K samples per block on
        the CPU and 8 M on a GPU.
    backend: ``"auto"`` (CuPy when a CUDA device is usable, else NumPy), ``"numpy"`` or ``"cupy"``.
    min_frequency, max_frequency: range of the log-spaced bands in Hz (capped at Nyquist).
    beat_decay: time constant in seconds of the ``beat`` and ``downbeat`` pulses' exponential decay.
    keep_spectrum: keep the per-bin arrays (``spectrum``; in webaudio mode also
        ``byte_frequency``, ``float_frequency``, ``byte_time_domain``). Their size grows with
        ``n_frames * fft_size``; turn this off for long tracks when only bands and scalars are needed.
    """

    fft_size: int = 2048
    n_bands: int = 64
    waveform_width: int = 256
    mode: str = "default"
    smoothing: float = 0.8
    min_decibels: float = -100.0
    max_decibels: float = -30.0
    attack: float = 0.0
    release: float = 0.0
    block_frames: int = 0
    backend: str = "auto"
    min_frequency: float = 20.0
    max_frequency: float = 20000.0
    beat_decay: float = 0.15
    keep_spectrum: bool = True

    def __post_init__(self):
        n = _as_int(self.fft_size)
        if n is None or n < MIN_FFT_SIZE or n > MAX_FFT_SIZE or n & (n - 1):
            raise AnalysisSettingsError(
                f"FFT size {self.fft_size!r} is not valid; use a power of two from {MIN_FFT_SIZE} to {MAX_FFT_SIZE} "
                "such as 1024, 2048 or 4096"
            )
        _positive_int("number of bands", self.n_bands)
        _positive_int("waveform width", self.waveform_width)
        if self.mode not in MODES:
            raise AnalysisSettingsError(f"analysis mode {self.mode!r} is not valid; use one of {', '.join(MODES)}")
        if self.backend not in BACKENDS:
            raise AnalysisSettingsError(
                f"analysis backend {self.backend!r} is not valid; use one of {', '.join(BACKENDS)}"
            )
        if not _finite(self.smoothing) or not 0.0 <= self.smoothing <= 1.0:
            raise AnalysisSettingsError(
                f"smoothing {self.smoothing!r} is not valid; give a number from 0 to 1 (Web Audio default 0.8)"
            )
        if not (_finite(self.min_decibels) and _finite(self.max_decibels)) or self.min_decibels >= self.max_decibels:
            raise AnalysisSettingsError(
                f"decibel range {self.min_decibels!r}..{self.max_decibels!r} is not valid; "
                "min_decibels must be below max_decibels (Web Audio defaults -100 and -30)"
            )
        for name in ("attack", "release", "beat_decay"):
            value = getattr(self, name)
            if not _finite(value) or value < 0:
                raise AnalysisSettingsError(f"{name} {value!r} is not valid; give a time in seconds >= 0")
        block = _as_int(self.block_frames)
        if block is None or block < 0:
            raise AnalysisSettingsError(
                f"block_frames {self.block_frames!r} is not valid; give a whole number >= 1, or 0 for automatic"
            )
        if not (_finite(self.min_frequency) and _finite(self.max_frequency)) or not (
            0 < self.min_frequency < self.max_frequency
        ):
            raise AnalysisSettingsError(
                f"band frequency range {self.min_frequency!r}..{self.max_frequency!r} Hz is not valid; "
                "give 0 < min_frequency < max_frequency"
            )
        # Plain Python numbers, so that the settings compare, hash and serialise cleanly.
        for name in ("fft_size", "n_bands", "waveform_width", "block_frames"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("smoothing", "min_decibels", "max_decibels", "attack", "release",
                     "min_frequency", "max_frequency", "beat_decay"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "keep_spectrum", bool(self.keep_spectrum))

    def to_dict(self) -> dict:
        return asdict(self)

    def frames_per_block(self, hop: float, backend: str = "numpy") -> int:
        """Frames per FFT block: ``block_frames``, or about :data:`BLOCK_SAMPLES` samples' worth.

        ``hop`` (samples between frames) also bounds the automatic choice, because a block reads
        the whole stretch of audio its frames span.
        """
        if self.block_frames:
            return self.block_frames
        budget = BLOCK_SAMPLES.get(backend, BLOCK_SAMPLES["numpy"])
        by_fft = budget // self.fft_size
        by_span = int(budget // max(hop, 1.0))
        return max(1, min(by_fft, by_span))


def _as_int(value):
    """``value`` as an int when it is a whole number type (not bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _positive_int(what: str, value) -> None:
    number = _as_int(value)
    if number is None or number < 1:
        raise AnalysisSettingsError(f"{what} {value!r} is not valid; give a whole number >= 1")


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
