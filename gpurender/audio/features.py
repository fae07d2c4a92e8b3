"""The per-frame feature table that an analysis produces and the renderer reads.

:data:`FEATURES` is the one list of the scalar audio features a parameter can follow: name,
one-line description and range. Everything else that names them is derived from it (the
:class:`Features` attributes, the .npz keys, the scene's check of bindings, the shader layer's
inputs, docs and schemas). This module imports nothing heavier than NumPy, so the scene stage may
read the list.

A :class:`Features` value holds one row per video frame for every feature, saves itself to an
.npz (atomically) and loads back. It knows nothing of how it was computed; see
:mod:`gpurender.audio.analysis` for that.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import GpurenderError
from .beats import MAX_BPM
from .settings import AnalysisSettings


class UnknownFeatureError(GpurenderError, KeyError):
    """A feature name that does not exist (also a KeyError for Python callers)."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class FeatureSpec:
    """One scalar audio feature: a float32 value per video frame.

    ``minimum``..``maximum`` is its range in ``unit`` (``maximum`` None: no fixed top; the
    centroid goes up to half the sample rate). ``smoothed``: whether the analysis's
    ``attack``/``release`` follower applies to it (not to the beat features: a smoothed pulse or
    phase would be late and wrong).
    """

    name: str
    help: str
    minimum: float = 0.0
    maximum: float | None = 1.0
    unit: str = ""
    smoothed: bool = True


#: The scalar audio features, in the order of :meth:`Features.table` and of the shader layer's
#: ``AudioFeatures`` struct (new ones go at the end).
FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("bass", "level of the bands centred in 20-250 Hz"),
    FeatureSpec("mid", "level of the bands centred in 250-4000 Hz"),
    FeatureSpec("treble", "level of the bands centred in 4000-20000 Hz"),
    FeatureSpec("rms", "root mean square of the frame's samples"),
    FeatureSpec("peak", "largest magnitude of the frame's samples"),
    FeatureSpec("centroid", "spectral centroid: magnitude-weighted mean frequency (0 in silence)",
                maximum=None, unit="Hz"),
    FeatureSpec("flux", "mean rise of the band levels over the last 1/30 s"),
    FeatureSpec("onset", "onset strength: flux above its running median"),
    FeatureSpec("beat", "1 on each beat of the tracked tempo, decaying by beat_decay", smoothed=False),
    FeatureSpec("tempo", "local tempo in beats per minute (0 when no beat is tracked)",
                maximum=MAX_BPM, unit="BPM", smoothed=False),
    FeatureSpec("beat_phase", "position between two beats: 0 on a beat, rising to 1 at the next",
                smoothed=False),
    FeatureSpec("downbeat", "1 on the first beat of each bar, decaying by beat_decay", smoothed=False),
)

_SPECS = {spec.name: spec for spec in FEATURES}


def feature_names() -> tuple[str, ...]:
    """The scalar feature names, in :data:`FEATURES` order."""
    return tuple(_SPECS)


def feature_spec(name: str) -> FeatureSpec:
    """The :class:`FeatureSpec` of ``name``; :class:`UnknownFeatureError` (one line) if there is none."""
    try:
        return _SPECS[name]
    except (KeyError, TypeError):
        raise UnknownFeatureError(
            f"unknown audio feature {name!r}; valid features are {', '.join(_SPECS)}"
        ) from None


# The per-frame arrays that are not scalars, and the beat times; all are saved to the .npz.
_ARRAYS = (
    "spectrum", "bands", "waveform", "band_edges", "frame_end", "beat_times", "downbeat_times",
    "byte_frequency", "float_frequency", "byte_time_domain",
)


@dataclass(eq=False)
class Features:
    """Audio features for every video frame; the frame is the first axis of every array.

    Frame ``i`` is at time ``i / fps``; its analysis window is the ``fft_size`` samples ending at
    sample ``frame_end[i] = round(i * sample_rate / fps)`` (exclusive; zeros outside the track).
    Silence gives zeros everywhere (never NaN or -inf). Ranges:

    - ``spectrum`` float32 ``[n, fft_size/2 + 1]``: linear magnitude ``|FFT(window * x)| / N``
      (the Web Audio scaling; a full-scale sine at a bin centre reads about 0.25 with the default
      Hann window). In webaudio mode, the smoothed magnitude the AnalyserNode keeps. ``None``
      when ``settings.keep_spectrum`` is off.
    - ``bands`` float32 ``[n, n_bands]`` in 0..1: energy of log-spaced bands between
      ``band_edges`` (Hz) in dB, mapped linearly from ``min_decibels``..``max_decibels`` to 0..1
      (a fixed mapping, not normalised per track). A band narrower than one FFT bin reads the
      bins it overlaps.
    - ``waveform`` float32 ``[n, waveform_width]`` in -1..1: the window's mono samples,
      decimated by picking every ``fft_size / waveform_width``-th sample.
    - ``bass``, ``mid``, ``treble`` in 0..1: mean of the ``bands`` whose centres lie in
      20-250 Hz, 250-4000 Hz and 4000-20000 Hz (the nearest band when none does).
    - ``rms``, ``peak`` in 0..1: root mean square and largest magnitude of the window's samples.
    - ``centroid`` in Hz, 0..sample_rate/2: magnitude-weighted mean frequency (0 in silence).
    - ``flux`` in 0..1: mean rise of the band levels over the last ~1/30 s
      (``max(1, round(fps / 30))`` frames), counting only bands that got louder. Flux, onsets and
      beats use their own short analysis of the same frames (Hann window of about 21 ms: 1024
      samples at 44.1/48 kHz, or ``fft_size`` if smaller; no Web Audio smoothing), so they are sharp
      and the same whatever ``fft_size`` and ``mode`` are.
    - ``onset`` in 0..1: flux above its running median (over half a second), divided by a fixed
      full scale of 0.2 and clipped: 1 is a hit that lifts every band by a fifth of the dB range.
    - ``beat`` in 0..1: 1 on the frame of each beat, decaying as ``exp(-dt / beat_decay)``
      afterwards, 0 before the first. The beats are tracked once on the whole track
      (:mod:`gpurender.audio.beats`: onset envelope, tempo estimate and dynamic programming), so
      ``beat`` fires once per beat of the music's tempo, not on every onset (an off-beat hi-hat
      is no beat), and never in silence. A beat's frame is the first whose window end reaches
      the beat's sample.
    - ``downbeat`` in 0..1: the same pulse on the first beat of each bar only (3 or 4 beats per
      bar, estimated from the accents: low-band level and chord changes).
    - ``tempo`` in BPM (40..240; 0 only when the track has no beats): the local tempo, 60 over
      the median of the three beat intervals around the frame; held through silences, and the
      first beats' tempo before them.
    - ``beat_phase`` in 0..1: 0 on a beat, rising linearly to 1 at the next (the tracked grid,
      which runs on through rests shorter than half a second); 0 in silence.

    ``beat_times`` and ``downbeat_times`` are the beats in seconds (float64, ascending) before
    they were mapped to frames; they cover the whole track even when ``n_frames`` does not.

    ``attack``/``release`` smoothing, when set, has been applied to ``bands`` and every scalar
    whose :class:`FeatureSpec` says ``smoothed`` (all but the beat features). In webaudio mode there are also (unless ``keep_spectrum`` is off)
    ``byte_frequency`` uint8 ``[n, fft_size/2]`` (getByteFrequencyData), ``float_frequency``
    float32 ``[n, fft_size/2]`` in dB (getFloatFrequencyData, with -inf floored at -1000 dB) and
    ``byte_time_domain`` uint8 ``[n, fft_size]`` (getByteTimeDomainData).
    """

    #: The scalar feature names (from :data:`FEATURES`); each is also an attribute
    #: (``features.bass``) and a key of ``scalars``.
    SCALAR_NAMES: ClassVar[tuple[str, ...]] = feature_names()

    sample_rate: int
    fps: float
    n_frames: int
    settings: AnalysisSettings
    backend: str
    spectrum: np.ndarray | None
    bands: np.ndarray
    waveform: np.ndarray
    scalars: dict  # name -> float32 [n_frames], one per FEATURES entry
    beat_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    downbeat_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    band_edges: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    frame_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    byte_frequency: np.ndarray | None = None
    float_frequency: np.ndarray | None = None
    byte_time_domain: np.ndarray | None = None

    def __post_init__(self):
        missing = [name for name in self.SCALAR_NAMES if name not in self.scalars]
        if missing:
            raise ValueError(f"Features needs every scalar feature; missing {', '.join(missing)}")

    def scalar(self, name: str) -> np.ndarray:
        """The float32 ``[n_frames]`` series of one scalar feature, by name."""
        return self.scalars[feature_spec(name).name]

    def table(self, names=None) -> np.ndarray:
        """float32 ``[n_frames, len(names)]``, C-contiguous: scalar features side by side.

        Made to be uploaded once as a GPU storage buffer and indexed by frame.
        """
        names = self.SCALAR_NAMES if names is None else tuple(names)
        if not names:
            return np.zeros((self.n_frames, 0), np.float32)
        return np.ascontiguousarray(np.stack([self.scalar(n) for n in names], axis=1), dtype=np.float32)

    @property
    def frequencies(self) -> np.ndarray:
        """Centre frequency in Hz of each ``spectrum`` bin."""
        n = self.settings.fft_size
        return np.arange(n // 2 + 1) * (self.sample_rate / n)

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def save_npz(self, path) -> None:
        """Write every feature and the settings, sample rate, fps and frame count to an .npz.

        The file is written beside the target under a temporary name and renamed when complete.
        """
        arrays = {name: getattr(self, name) for name in _ARRAYS if getattr(self, name) is not None}
        arrays.update(self.scalars)
        arrays.update(
            sample_rate=np.array(self.sample_rate, np.int64),
            fps=np.array(self.fps, np.float64),
            n_frames=np.array(self.n_frames, np.int64),
            backend=np.array(self.backend),
            settings=np.array(json.dumps(self.settings.to_dict(), sort_keys=True)),
            scalar_names=np.array(self.SCALAR_NAMES),
        )
        from ..encode.files import atomic_file

        with atomic_file(path, what="features file") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load_npz(cls, path) -> "Features":
        """Read back a file written by :meth:`save_npz`."""
        path = Path(os.fspath(path))
        try:
            with np.load(path, allow_pickle=False) as data:
                values = {name: data[name] for name in data.files}
        except FileNotFoundError:
            raise GpurenderError(f"features file {str(path)!r} does not exist; check the path") from None
        except (OSError, ValueError) as err:
            raise GpurenderError(
                f"features file {str(path)!r} cannot be read ({err}); write it again with `gpurender analyze`"
            ) from None
        missing = [name for name in feature_names() if name not in values]
        if missing and "settings" in values and "n_frames" in values:
            raise GpurenderError(
                f"features file {str(path)!r} lacks the feature(s) {', '.join(missing)} (it was written by an "
                "older gpurender); write it again with `gpurender analyze`"
            )
        try:
            settings = AnalysisSettings(**json.loads(str(values.pop("settings"))))
            kwargs = {name: values[name] for name in _ARRAYS if name in values}
            return cls(
                sample_rate=int(values["sample_rate"]),
                fps=float(values["fps"]),
                n_frames=int(values["n_frames"]),
                settings=settings,
                backend=str(values["backend"]),
                spectrum=values.get("spectrum"),
                scalars={name: values[name] for name in feature_names()},
                **{k: v for k, v in kwargs.items() if k != "spectrum"},
            )
        except (KeyError, TypeError, ValueError) as err:
            raise GpurenderError(
                f"features file {str(path)!r} is not a gpurender features file ({err}); "
                "write it again with `gpurender analyze`"
            ) from None


def _scalar_attribute(spec: FeatureSpec) -> property:
    return property(lambda self: self.scalars[spec.name], doc=f"float32 [n_frames]: {spec.help}")


# features.bass, features.beat, ...: one read-only attribute per FEATURES entry.
for _spec in FEATURES:
    setattr(Features, _spec.name, _scalar_attribute(_spec))
del _spec
