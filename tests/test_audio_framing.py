"""Frame-exact windows: frame i's window ends at sample round(i * sr / fps), exactly."""

from fractions import Fraction

import numpy as np
import pytest

from gpurender.audio import (
    AnalysisSettings,
    AudioData,
    analyze,
    default_frame_count,
    fps_fraction,
    frame_end_samples,
)
from gpurender.errors import GpurenderError

AWKWARD_RATES = [(44100, 30), (44100, 60), (44100, 120), (48000, 24)]


@pytest.mark.parametrize("sample_rate,fps", AWKWARD_RATES)
def test_frame_ends_match_the_formula_exactly(sample_rate, fps):
    ten_minutes = 600 * fps + 1
    ends = frame_end_samples(ten_minutes, sample_rate, fps)
    assert ends.dtype == np.int64 and ends.shape == (ten_minutes,)
    # Oracle 1: Python's round() on the exact rational, at the start and at the ten-minute mark.
    for i in list(range(0, 600)) + list(range(ten_minutes - 600, ten_minutes)):
        assert ends[i] == round(Fraction(i * sample_rate, fps)), i
    # Oracle 2: the formula as written in float arithmetic, for every frame (exact at these sizes).
    expected = np.array([round(i * sample_rate / fps) for i in range(ten_minutes)], dtype=np.int64)
    np.testing.assert_array_equal(ends, expected)


def test_ties_round_to_even_as_pythons_round_does():
    # 44.1 kHz / 120 fps = 367.5 samples per frame: every odd frame is a tie.
    ends = frame_end_samples(4, 44100, 120)
    assert ends.tolist() == [0, 368, 735, 1102]


def test_first_frame_offset_and_fractional_fps():
    np.testing.assert_array_equal(frame_end_samples(5, 48000, 30, first=100), frame_end_samples(105, 48000, 30)[100:])
    ntsc = frame_end_samples(1000, 48000, Fraction(30000, 1001))
    assert ntsc[999] == round(Fraction(999 * 48000 * 1001, 30000))
    assert fps_fraction(29.97) == Fraction(30000, 1001)  # the NTSC rate it names, as --fps reads it
    assert fps_fraction("24000/1001") == Fraction(24000, 1001)
    for bad in (0, -1, float("nan"), "x", True):
        with pytest.raises(GpurenderError):
            fps_fraction(bad)


def test_default_frame_count_covers_the_track():
    assert default_frame_count(441000, 44100, 30) == 301  # 10 s: frames at 0 .. 10.0 s
    assert default_frame_count(440999, 44100, 30) == 300
    assert default_frame_count(1, 48000, 60) == 1
    assert default_frame_count(0, 48000, 60) == 1


@pytest.mark.parametrize("sample_rate,fps", AWKWARD_RATES)
def test_analysis_windows_end_where_the_formula_says(sample_rate, fps):
    n_samples = sample_rate // 5
    ramp = (np.arange(n_samples, dtype=np.float32) + 1) / n_samples  # every sample distinct, nonzero
    audio = AudioData(ramp[:, None], sample_rate)
    size = 32
    settings = AnalysisSettings(fft_size=size, waveform_width=size, backend="numpy")
    n_frames = default_frame_count(n_samples, sample_rate, fps) + 3  # a few frames past the end
    features = analyze(audio, fps, n_frames, settings)
    tail = int(frame_end_samples(n_frames, sample_rate, fps)[-1]) + size
    padded = np.concatenate([np.zeros(size, np.float32), ramp, np.zeros(tail, np.float32)])
    for i in range(n_frames):
        end = round(Fraction(i * sample_rate, fps))
        np.testing.assert_array_equal(features.waveform[i], padded[end:end + size], err_msg=f"frame {i}")
    np.testing.assert_array_equal(features.frame_end, frame_end_samples(n_frames, sample_rate, fps))
    assert features.n_frames == n_frames and features.bands.shape[0] == n_frames
