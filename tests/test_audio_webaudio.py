"""Web Audio mode against an independent, frame-by-frame transcription of the W3C specification.

The reference below follows the AnalyserNode section of the Web Audio API spec literally: for each
video frame take the most recent fftSize samples, apply the Blackman window (alpha 0.16), take
the DFT scaled by 1/N, smooth with the previous frame's smoothed magnitudes, convert to dB, then
to bytes with floor and clamp; time-domain bytes are floor(128 * (1 + x)) clamped.
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from gpurender.audio import AnalysisSettings, AudioData, analyze, demo_track


def spec_analyser(mono, sample_rate, fps, n_frames, fft_size, smoothing, min_db, max_db):
    n = fft_size
    alpha = 0.16
    a0, a1, a2 = (1 - alpha) / 2, 1 / 2, alpha / 2
    window = np.array([a0 - a1 * math.cos(2 * math.pi * k / n) + a2 * math.cos(4 * math.pi * k / n) for k in range(n)])
    previous = np.zeros(n // 2)
    byte_freq, float_freq, byte_time = [], [], []
    for i in range(n_frames):
        end = round(Fraction(i * sample_rate, fps))
        x = np.array([float(mono[j]) if 0 <= j < len(mono) else 0.0 for j in range(end - n, end)])
        spectrum = np.fft.fft(x * window) / n  # X[k] = 1/N sum x_b[n] e^(-2 pi i k n / N)
        smoothed = smoothing * previous + (1 - smoothing) * np.abs(spectrum[: n // 2])
        previous = smoothed
        with np.errstate(divide="ignore"):
            decibels = 20 * np.log10(smoothed)
        b = np.floor(255 / (max_db - min_db) * (decibels - min_db))
        byte_freq.append(np.clip(b, 0, 255).astype(np.uint8))
        float_freq.append(decibels)
        byte_time.append(np.clip(np.floor(128 * (1 + x)), 0, 255).astype(np.uint8))
    return np.array(byte_freq), np.array(float_freq), np.array(byte_time)


@pytest.mark.parametrize(
    "fft_size,smoothing,min_db,max_db,fps",
    [(512, 0.8, -100.0, -30.0, 60), (2048, 0.5, -90.0, -20.0, 24), (256, 0.0, -100.0, -30.0, 120)],
)
def test_webaudio_bytes_match_the_spec(fft_size, smoothing, min_db, max_db, fps):
    # Music plus a loud tone at a bin centre (to reach the 255 clamp), then silence (-inf dB, the 0 clamp).
    music = demo_track(0.6, sample_rate=44100, seed=3).samples
    tone = 0.5 * np.sin(2 * np.pi * (44100 / 32) * np.arange(len(music)) / 44100)[:, None]
    audio = AudioData(0.45 * music + tone.astype(np.float32), 44100)
    n_frames = 40
    settings = AnalysisSettings(
        mode="webaudio", fft_size=fft_size, smoothing=smoothing, min_decibels=min_db, max_decibels=max_db,
        block_frames=7, backend="numpy",  # several blocks: the smoothing state must carry across
    )
    features = analyze(audio, fps, n_frames, settings)
    byte_freq, float_freq, byte_time = spec_analyser(
        audio.mono, audio.sample_rate, fps, n_frames, fft_size, smoothing, min_db, max_db
    )
    assert features.byte_frequency.dtype == np.uint8 and features.byte_frequency.shape == (n_frames, fft_size // 2)
    np.testing.assert_array_equal(features.byte_frequency, byte_freq)
    np.testing.assert_array_equal(features.byte_time_domain, byte_time)
    # The test signal must exercise the clamps and the whole byte range, or the test proves little.
    assert byte_freq.min() == 0 and byte_freq.max() == 255 and len(np.unique(byte_freq)) > 200
    finite = np.isfinite(float_freq)
    np.testing.assert_allclose(features.float_frequency[finite], float_freq[finite], rtol=1e-5, atol=1e-4)
    assert np.all(features.float_frequency[~finite] == -1000.0)  # -inf from silence, floored
    assert np.isfinite(features.float_frequency).all()


def test_webaudio_smoothing_runs_over_video_frames():
    # A tone that stops: with smoothing the magnitude decays by exactly tau per frame afterwards.
    sample_rate, fps, size = 48000, 30, 256
    t = np.arange(sample_rate) / sample_rate
    tone = np.where(t < 0.5, 0.5 * np.sin(2 * np.pi * 3000 * t), 0.0).astype(np.float32)
    settings = AnalysisSettings(mode="webaudio", fft_size=size, smoothing=0.8, backend="numpy")
    features = analyze(AudioData(tone, sample_rate), fps, 30, settings)
    k = round(3000 * size / sample_rate)
    quiet = [i for i in range(1, 30) if features.frame_end[i - 1] - size >= sample_rate // 2]
    assert len(quiet) > 5
    for i in quiet:
        assert features.spectrum[i, k] == pytest.approx(0.8 * features.spectrum[i - 1, k], rel=1e-6)


def test_webaudio_silence_is_zero_bytes_not_infinities():
    features = analyze(AudioData(np.zeros((4800, 2), np.float32), 48000), 30, None,
                       AnalysisSettings(mode="webaudio", fft_size=512, backend="numpy"))
    assert not features.byte_frequency.any()
    assert np.all(features.byte_time_domain == 128)
    assert np.all(features.float_frequency == -1000.0)
    assert not features.bands.any() and not features.spectrum.any()
