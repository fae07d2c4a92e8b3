"""Where each video frame's analysis window sits in the audio, computed exactly.

Frame ``i`` is at time ``i / fps``; its window is the ``N`` samples ending at sample
``round(i * sample_rate / fps)`` (exclusive end), with zeros before the track's start and after
its end. The rounding is Python's ``round`` — ties go to the even sample — and is done in exact
integer arithmetic on the rational ``fps``: frame 71,999 at 120 fps lands exactly where the
formula says, with no float drift, on every machine and in every chunk of a farm render. Example: at 44.1 kHz and 120 fps (367.5 samples per frame) frame 1 ends at sample 368
and frame 3 at 1102 (``round(367.5) == 368``, ``round(1102.5) == 1102``).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def fps_fraction(fps) -> Fraction:
    """``fps`` as an exact positive fraction, read as everywhere else in gpurender
    (:func:`gpurender.settings.check_fps`: whole numbers, ratios such as ``30000/1001``, and the
    NTSC decimals 23.976, 29.97, 59.94 meaning their exact ratios)."""
    from ..settings import check_fps

    return Fraction(check_fps(fps))


def frame_end_samples(n_frames: int, sample_rate: int, fps, first: int = 0) -> np.ndarray:
    """int64 ``[n_frames]``: the exclusive end sample of the windows of frames ``first ..``.

    ``end[i] = round((first + i) * sample_rate / fps)`` with ties to even, exactly.
    """
    rate = Fraction(fps_fraction(fps))
    num, den = rate.denominator * int(sample_rate), rate.numerator  # end = i * num / den
    n_frames = int(n_frames)
    if n_frames <= 0:
        return np.zeros(0, np.int64)
    last = first + n_frames - 1
    if last * num < 2**62:
        index = np.arange(first, first + n_frames, dtype=np.int64)
        quotient, remainder = np.divmod(index * num, den)
        twice = 2 * remainder
        up = (twice > den) | ((twice == den) & (quotient % 2 == 1))
        return quotient + up
    # Beyond int64 (absurd frame counts or fps denominators): Python integers, still exact.
    return np.array([round(Fraction(i * num, den)) for i in range(first, first + n_frames)], dtype=np.int64)


def default_frame_count(n_samples: int, sample_rate: int, fps) -> int:
    """Frames that cover a track: every frame ``i`` whose time ``i / fps`` is within it.

    That is ``floor(n_samples * fps / sample_rate) + 1`` (frame 0 included, and the frame at the
    track's very end when ``duration * fps`` is whole). A render of the whole track uses the first
    ``round(duration * fps)`` of them, which is never more.
    """
    rate = fps_fraction(fps)
    return int(n_samples) * rate.numerator // (int(sample_rate) * rate.denominator) + 1
