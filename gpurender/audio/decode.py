"""Turns an audio (or video) file into float32 samples at the file's own sample rate.

soundfile (libsndfile) reads WAV, FLAC, OGG/Vorbis/Opus and MP3 quickly and exactly; anything it
does not recognise (M4A/AAC, Opus in WebM/MKA, the sound track of a video file) goes through PyAV
(FFmpeg). Whatever the source, the result is an :class:`AudioData`: samples shaped
``[n_samples, n_channels]`` in -1..1, never resampled. Missing, corrupt and empty files raise
:class:`~gpurender.errors.AudioError` with one line that says what happened and what to do.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioError, one_line


@dataclass(frozen=True, eq=False)
class AudioData:
    """Decoded audio at its native sample rate.

    ``samples`` is float32 shaped ``[n_samples, n_channels]`` with values in -1..1 (out-of-range
    and non-finite values from float files are clipped / zeroed on construction).
    """

    samples: np.ndarray
    sample_rate: int
    #: The file the samples were decoded from (None when made in memory); outputs never replace it.
    source: str | None = None

    def __post_init__(self):
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        if samples.ndim != 2:
            raise AudioError(
                f"audio samples must be shaped [n_samples, n_channels], got shape {samples.shape}"
            )
        if samples.shape[1] < 1:
            raise AudioError("audio has no channels; give at least one channel of samples")
        samples = _sanitise(samples)
        rate = int(self.sample_rate)
        if rate != self.sample_rate or rate <= 0:
            raise AudioError(f"sample rate {self.sample_rate!r} is not valid; it must be a positive whole number of Hz")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", rate)

    @functools.cached_property
    def mono(self) -> np.ndarray:
        """float32 ``[n_samples]``: the mean of the channels (Web Audio's speaker down-mix for 1-2 channels)."""
        if self.samples.shape[1] == 1:
            return self.samples[:, 0]
        if self.samples.shape[1] == 2:
            # 0.5 * (L + R) is the Web Audio "speakers" down-mix; float32 arithmetic keeps it bit-exact.
            return (self.samples[:, 0] + self.samples[:, 1]) * np.float32(0.5)
        return self.samples.mean(axis=1, dtype=np.float32)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.sample_rate

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])


def _sanitise(samples: np.ndarray) -> np.ndarray:
    """Zero NaN/inf and clip to -1..1, copying only when something is out of range."""
    if samples.size == 0:
        return samples
    # Reductions only: an elementwise test (isfinite, abs) would allocate a copy the size of the
    # track (a 10-minute stereo track: 212 MB) just to look. max/min see NaN (they propagate it)
    # and infinities.
    lo, hi = samples.min(), samples.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        lo, hi = samples.min(), samples.max()
    if lo < -1.0 or hi > 1.0:
        samples = np.clip(samples, -1.0, 1.0)
    return samples


def load_audio(path) -> AudioData:
    """Decode an audio or video file to float32 samples at its own sample rate.

    soundfile is tried first (WAV, FLAC, OGG, MP3, ...); files it cannot open go to PyAV, which
    reads anything FFmpeg does (M4A/AAC, Opus, the audio track of MP4/MKV/WebM videos).
    Raises :class:`AudioError` for a missing, unreadable, corrupt or empty file.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise AudioError(f"audio file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise AudioError(f"audio path {str(path)!r} is a folder, not a file; give the path of an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(f"audio file {str(path)!r} is not readable; check its permissions")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file {str(path)!r} is empty (0 bytes); give a file that contains audio")

    try:
        samples, rate = _read_soundfile(path)
    except _NotForSoundfile as first:
        try:
            samples, rate = _read_pyav(path)
        except AudioError:
            raise
        except _PyAVFailed as second:
            raise AudioError(
                f"cannot decode audio file {str(path)!r}: it is corrupt or not an audio format "
                f"(libsndfile: {first}; FFmpeg: {second}); convert it to WAV or FLAC and try again"
            ) from None
    if samples.shape[0] == 0:
        raise AudioError(f"audio file {str(path)!r} contains no audio samples; give a file with sound in it")
    return AudioData(samples, rate, source=os.fspath(path))


class _NotForSoundfile(Exception):
    pass


class _PyAVFailed(Exception):
    pass


def _read_soundfile(path: Path):
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, ValueError, OSError) as err:
        # libsndfile says "Format not recognised" for M4A and friends: PyAV gets its turn.
        raise _NotForSoundfile(_phrase(err, path)) from None
    return data, int(rate)


_INT_SCALE = {
    "u8": (128.0, 128.0),
    "u8p": (128.0, 128.0),
    "s16": (0.0, 32768.0),
    "s16p": (0.0, 32768.0),
    "s32": (0.0, 2147483648.0),
    "s32p": (0.0, 2147483648.0),
    "s64": (0.0, 9223372036854775808.0),
    "s64p": (0.0, 9223372036854775808.0),
}


def _read_pyav(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise _PyAVFailed(_phrase(err, path)) from None
    with container:
        if not container.streams.audio:
            raise AudioError(
                f"file {str(path)!r} has no audio stream; give a file with a sound track"
            )
        stream = container.streams.audio[0]
        chunks = []
        rate = None
        channels = None
        try:
            for frame in container.decode(stream):
                if frame.samples == 0:
                    continue
                if rate is None:
                    rate, channels = frame.sample_rate, len(frame.layout.channels)
                elif frame.sample_rate != rate or len(frame.layout.channels) != channels:
                    raise AudioError(
                        f"audio file {str(path)!r} changes sample rate or channel count mid-stream; "
                        "convert it to WAV or FLAC first"
                    )
                chunks.append(_frame_to_float(frame, channels))
        except (av.FFmpegError, OSError, ValueError) as err:
            raise _PyAVFailed(_phrase(err, path)) from None
    if rate is None:
        return np.zeros((0, 1), np.float32), int(stream.rate or 1)
    return np.concatenate(chunks, axis=0), int(rate)


def _frame_to_float(frame, channels: int) -> np.ndarray:
    """One decoded PyAV frame as float32 ``[samples, channels]``."""
    array = frame.to_ndarray()
    name = frame.format.name
    if frame.format.is_planar:
        array = array.T  # planar arrays come as [channels, samples]
    else:
        array = array.reshape(-1, channels)  # packed arrays come as [1, samples * channels]
    if name in _INT_SCALE:
        offset, scale = _INT_SCALE[name]
        return ((array.astype(np.float64) - offset) / scale).astype(np.float32)
    return array.astype(np.float32, copy=False)


def _phrase(err: BaseException, path: Path) -> str:
    """A library's error as a short phrase: FFmpeg's own words, or :func:`one_line` without the
    path we already print."""
    import av

    if isinstance(err, av.FFmpegError) and err.strerror:
        text = " ".join(str(err.strerror).split())
    else:
        text = one_line(err).replace(f"Error opening {str(path)!r}: ", "")
    return text.rstrip(".") or type(err).__name__
