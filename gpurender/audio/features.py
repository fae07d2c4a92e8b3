"""The per-frame feature table that an analysis produces and the renderer reads.

A :class:`Features` value holds one row per video frame for every feature, saves itself to an
.npz (atomically) and loads back. It knows nothing of how it was computed; see
:mod:`gpurender.audio.analysis` for that.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import GpurenderError, environment_failure
from .settings import AnalysisSettings


class UnknownFeatureError(GpurenderError, KeyError):
    """A feature name that does not exist (also a KeyError for Python callers)."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


_ARRAYS = (
    "spectrum", "bands", "waveform", "bass", "mid", "treble", "rms", "peak", "centroid", "flux",
    "onset", "beat", "band_edges", "frame_end", "byte_frequency", "float_frequency", "byte_time_domain",
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
    - ``beat`` in 0..1: 1 on frames where an onset is detected, decaying as
      ``exp(-dt / beat_decay)`` afterwards, 0 before the first. A detected onset is a peak of the
      (unclipped) onset strength over 0.1 s that reaches 0.1 and 0.4 times the strongest onset
      within 0.5 s either side; of two closer than 0.1 s the stronger stays.

    ``attack``/``release`` smoothing, when set, has been applied to ``bands`` and every scalar
    except ``beat``. In webaudio mode there are also (unless ``keep_spectrum`` is off)
    ``byte_frequency`` uint8 ``[n, fft_size/2]`` (getByteFrequencyData), ``float_frequency``
    float32 ``[n, fft_size/2]`` in dB (getFloatFrequencyData, with -inf floored at -1000 dB) and
    ``byte_time_domain`` uint8 ``[n, fft_size]`` (getByteTimeDomainData).
    """

    SCALAR_NAMES: ClassVar[tuple[str, ...]] = (
        "bass", "mid", "treble", "rms", "peak", "centroid", "flux", "onset", "beat",
    )

    sample_rate: int
    fps: float
    n_frames: int
    settings: AnalysisSettings
    backend: str
    spectrum: np.ndarray | None
    bands: np.ndarray
    waveform: np.ndarray
    bass: np.ndarray
    mid: np.ndarray
    treble: np.ndarray
    rms: np.ndarray
    peak: np.ndarray
    centroid: np.ndarray
    flux: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    band_edges: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    frame_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    byte_frequency: np.ndarray | None = None
    float_frequency: np.ndarray | None = None
    byte_time_domain: np.ndarray | None = None

    def scalar(self, name: str) -> np.ndarray:
        """The float32 ``[n_frames]`` series of one scalar feature, by name."""
        if name not in self.SCALAR_NAMES:
            raise UnknownFeatureError(
                f"unknown audio feature {name!r}; valid features are {', '.join(self.SCALAR_NAMES)}"
            )
        return getattr(self, name)

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
        arrays.update(
            sample_rate=np.array(self.sample_rate, np.int64),
            fps=np.array(self.fps, np.float64),
            n_frames=np.array(self.n_frames, np.int64),
            backend=np.array(self.backend),
            settings=np.array(json.dumps(self.settings.to_dict(), sort_keys=True)),
            scalar_names=np.array(self.SCALAR_NAMES),
        )
        atomic_write(path, lambda handle: np.savez(handle, **arrays), what="features file")

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
        try:
            settings = AnalysisSettings(**json.loads(str(values.pop("settings"))))
            kwargs = {name: values.get(name) for name in _ARRAYS}
            return cls(
                sample_rate=int(values["sample_rate"]),
                fps=float(values["fps"]),
                n_frames=int(values["n_frames"]),
                settings=settings,
                backend=str(values["backend"]),
                **kwargs,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise GpurenderError(
                f"features file {str(path)!r} is not a gpurender features file ({err}); "
                "write it again with `gpurender analyze`"
            ) from None


def atomic_write(path, write, what: str = "file") -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``.

    A failure (or Ctrl-C) leaves no file at ``path`` and removes the temporary one.
    """
    path = Path(os.fspath(path))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GpurenderError(f"cannot write {what} {str(path)!r}: folder {str(folder)!r} does not exist; create it first")
    temporary = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        # os.open with 0o666 honours the umask, as a plain open() of the target would.
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise GpurenderError(
            f"cannot write {what} {str(path)!r}: {err.strerror or err}; choose a writable folder"
        ) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        failure = environment_failure(exc)
        if failure is not None:
            raise type(failure)(f"cannot write {what} {str(path)!r}: {failure}") from None
        raise
