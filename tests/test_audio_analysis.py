"""Batched analysis: spectra, bands, scalars, edge cases, back-ends, saving and plotting."""

import time

import numpy as np
import pytest

from gpurender.audio import (
    AnalysisSettings,
    AnalysisSettingsError,
    AudioData,
    Features,
    UnknownFeatureError,
    analyze,
    cupy_status,
    demo_track,
    plot_features,
)
from gpurender.audio.analysis import _Analysis
from gpurender.audio.backend import NUMPY, Backend, _gather_frames
from gpurender.audio.framing import fps_fraction
from gpurender.errors import GpurenderError

NUMPY_ONLY = AnalysisSettings(backend="numpy")


def tone(frequency, seconds=0.5, sample_rate=48000, amplitude=0.5):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return AudioData((amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32), sample_rate)


@pytest.mark.parametrize("mode", ["default", "webaudio"])
@pytest.mark.parametrize("fft_size", [256, 2048])
def test_pure_tones_peak_at_their_bin(mode, fft_size):
    sample_rate = 48000
    settings = AnalysisSettings(fft_size=fft_size, mode=mode, smoothing=0.0, backend="numpy")
    for frequency in (37 * sample_rate / fft_size, 5123.7, 440.0):
        features = analyze(tone(frequency), 30, settings=settings)
        inside = features.frame_end >= fft_size  # windows entirely within the tone
        inside &= features.frame_end <= int(0.5 * sample_rate)
        peaks = features.spectrum[inside].argmax(axis=1)
        assert np.all(peaks == round(frequency * fft_size / sample_rate)), (frequency, peaks)
    # Bin-centred amplitude: A * coherent gain / 2 (one-sided) with the 1/N scaling.
    centred = analyze(tone(37 * sample_rate / fft_size), 30, settings=settings)
    gain = 0.5 if mode == "default" else 0.42
    assert centred.spectrum[5, 37] == pytest.approx(0.5 * gain / 2, rel=1e-3)


def band_noise(low, high, seconds=0.5, sample_rate=48000, rms=0.2):
    rng = np.random.default_rng(7)
    spectrum = np.fft.rfft(rng.standard_normal(int(seconds * sample_rate)))
    frequencies = np.fft.rfftfreq(int(seconds * sample_rate), 1 / sample_rate)
    spectrum[(frequencies < low) | (frequencies >= high)] = 0
    noise = np.fft.irfft(spectrum, int(seconds * sample_rate))
    return AudioData((noise * rms / noise.std()).astype(np.float32), sample_rate)


def test_named_bands_and_centroid_follow_the_sound():
    frames = slice(3, 12)  # windows well inside the half-second sound
    named = {}
    for name, (low, high) in {"bass": (30, 240), "mid": (300, 3800), "treble": (4200, 19000)}.items():
        features = analyze(band_noise(low, high), 30, settings=NUMPY_ONLY)
        named[name] = {k: features.scalar(k)[frames] for k in ("bass", "mid", "treble")}
        others = [k for k in named[name] if k != name]
        assert named[name][name].min() > 0.5, name
        for other in others:
            assert named[name][other].max() < named[name][name].min() - 0.3, (name, other)
        centroid = features.centroid[frames]
        assert np.all((centroid > low * 0.8) & (centroid < high * 1.1)), (name, centroid)
    low, high = analyze(tone(80.0), 30, settings=NUMPY_ONLY), analyze(tone(9000.0), 30, settings=NUMPY_ONLY)
    assert np.all(np.abs(low.centroid[frames] - 80) < 50) and np.all(np.abs(high.centroid[frames] - 9000) < 200)
    assert low.rms[5] == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert low.peak[5] == pytest.approx(0.5, rel=0.01)
    assert np.all(low.bass[frames] > low.treble[frames] + 0.5) and np.all(high.treble[frames] > high.bass[frames])


def all_arrays(features):
    names = ("spectrum", "bands", "waveform", "byte_frequency", "float_frequency", "byte_time_domain")
    arrays = {name: getattr(features, name) for name in names if getattr(features, name) is not None}
    arrays.update({name: features.scalar(name) for name in Features.SCALAR_NAMES})
    return arrays


@pytest.mark.parametrize("mode", ["default", "webaudio"])
def test_silence_gives_zeros_never_nan(mode):
    silence = AudioData(np.zeros((24000, 2), np.float32), 48000)
    features = analyze(silence, 60, settings=AnalysisSettings(mode=mode, attack=0.05, release=0.2, backend="numpy"))
    for name, array in all_arrays(features).items():
        if array.dtype.kind == "f":
            assert np.isfinite(array).all(), name
        if name == "float_frequency":
            assert np.all(array == -1000.0)
        elif name == "byte_time_domain":
            assert np.all(array == 128)
        else:
            assert not array.any(), name


def test_one_sample_and_empty_audio():
    one = AudioData(np.array([[0.75, -0.25]], np.float32), 44100)
    features = analyze(one, 30, settings=NUMPY_ONLY)
    assert features.n_frames == 1 and not features.bands.any()  # frame 0's window ends before sample 0
    later = analyze(one, 30, n_frames=3, settings=NUMPY_ONLY)  # frame 1's window holds that sample
    assert later.peak[1] == pytest.approx(0.25) and later.peak[2] == 0
    for array in all_arrays(later).values():
        assert np.isfinite(array.astype(np.float64)).all()
    empty = analyze(AudioData(np.zeros((0, 1), np.float32), 44100), 30, settings=NUMPY_ONLY)
    assert empty.n_frames == 1 and not empty.rms.any()
    none = analyze(one, 30, n_frames=0, settings=NUMPY_ONLY)
    assert none.bands.shape == (0, 64) and none.beat.shape == (0,)


def test_block_size_does_not_change_results():
    audio = demo_track(1.5, sample_rate=44100)
    for mode in ("default", "webaudio"):
        whole = analyze(audio, 60, settings=AnalysisSettings(mode=mode, backend="numpy"))
        blocks = analyze(audio, 60, settings=AnalysisSettings(mode=mode, block_frames=7, backend="numpy"))
        for name, array in all_arrays(whole).items():
            np.testing.assert_allclose(all_arrays(blocks)[name], array, rtol=1e-6, atol=1e-6, err_msg=name)
        if mode == "webaudio":
            np.testing.assert_array_equal(blocks.byte_frequency, whole.byte_frequency)


def test_gather_framing_path_matches_numpy():
    # The CuPy back-end builds frames by gathering with an index matrix and multiplies by dense
    # band weights; run that code on NumPy.
    audio = demo_track(1.0, sample_rate=44100)
    gather = Backend("gather", np, NUMPY.rfft, _gather_frames(np), np.asarray, np.asarray, np.asarray)
    for mode in ("default", "webaudio"):
        settings = AnalysisSettings(mode=mode, block_frames=16, backend="numpy")
        expected = analyze(audio, 30, settings=settings)
        n = expected.n_frames
        got = _Analysis(audio, fps_fraction(30), n, settings, gather).run()
        for name, array in all_arrays(expected).items():
            np.testing.assert_allclose(all_arrays(got)[name], array, rtol=1e-5, atol=1e-6, err_msg=name)
        assert np.abs(got.bands - expected.bands).max() < 1e-5


@pytest.mark.skipif(not cupy_status()[0], reason=f"CuPy/CUDA not usable: {cupy_status()[1]}")
@pytest.mark.parametrize("mode", ["default", "webaudio"])
def test_numpy_and_cupy_agree(mode):
    audio = demo_track(3.0)
    cpu = analyze(audio, 60, settings=AnalysisSettings(mode=mode, backend="numpy"))
    gpu = analyze(audio, 60, settings=AnalysisSettings(mode=mode, backend="cupy"))
    assert cpu.backend == "numpy" and gpu.backend == "cupy"
    scale = cpu.spectrum.max(axis=1, keepdims=True) + 1e-12
    assert np.abs(gpu.spectrum - cpu.spectrum).max() <= 1e-4 * scale.max()
    assert np.all(np.abs(gpu.spectrum - cpu.spectrum) <= 1e-4 * scale)
    for name in ("bands", "rms", "peak", "bass", "mid", "treble"):
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(gpu.centroid, cpu.centroid, rtol=1e-4, atol=0.5)


def test_auto_backend_says_which_it_used():
    features = analyze(tone(440.0, 0.1), 30)
    assert features.backend == ("cupy" if cupy_status()[0] else "numpy")
    if not cupy_status()[0]:
        with pytest.raises(GpurenderError, match="numpy"):
            analyze(tone(440.0, 0.1), 30, settings=AnalysisSettings(backend="cupy"))


@pytest.mark.parametrize(
    "kwargs",
    [{"fft_size": 1000}, {"fft_size": 16}, {"fft_size": 65536}, {"mode": "browser"}, {"smoothing": 1.5},
     {"min_decibels": -30.0, "max_decibels": -30.0}, {"n_bands": 0}, {"attack": -1.0}, {"backend": "opencl"}],
)
def test_bad_settings_are_refused_clearly(kwargs):
    with pytest.raises(AnalysisSettingsError) as caught:
        AnalysisSettings(**kwargs)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, GpurenderError)
    assert "\n" not in str(caught.value)
    assert AnalysisSettings(fft_size=np.int64(4096)).fft_size == 4096


def test_unknown_feature_lists_the_valid_ones():
    features = analyze(tone(440.0, 0.1), 30, settings=NUMPY_ONLY)
    with pytest.raises(UnknownFeatureError) as caught:
        features.scalar("loudness")
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, GpurenderError)
    message = str(caught.value)
    assert "'loudness'" in message and all(name in message for name in Features.SCALAR_NAMES)
    table = features.table()
    assert table.shape == (features.n_frames, len(Features.SCALAR_NAMES)) and table.flags.c_contiguous
    np.testing.assert_array_equal(table[:, Features.SCALAR_NAMES.index("rms")], features.rms)


def test_attack_and_release_smooth_a_step():
    sample_rate = 48000
    step = np.zeros(sample_rate, np.float32)
    step[sample_rate // 4: sample_rate // 2] = 0.8  # on for 0.25 s
    audio = AudioData(step, sample_rate)
    raw = analyze(audio, 100, settings=AnalysisSettings(fft_size=256, backend="numpy"))
    slow = analyze(audio, 100, settings=AnalysisSettings(fft_size=256, attack=0.05, release=0.1, backend="numpy"))
    rise = slice(27, 33)
    assert np.all(slow.rms[rise] < raw.rms[rise] - 0.05)  # attack lags behind the onset
    fall = slice(52, 60)
    assert np.all(slow.rms[fall] > raw.rms[fall] + 0.05)  # release holds after the offset
    # One time constant after the step the follower covers 1 - 1/e of it.
    assert raw.rms[25] == 0 and raw.rms[26] == pytest.approx(0.8)
    assert slow.rms[30] == pytest.approx(raw.rms[40] * (1 - np.exp(-1)), rel=0.08)
    np.testing.assert_array_equal(slow.beat, raw.beat)  # the beat pulse is not smoothed


def test_demo_track_is_fast_deterministic_and_makes_the_features_move():
    seconds = []
    for _ in range(2):  # best of two: the machine may be shared
        start = time.perf_counter()
        audio = demo_track()
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 1.0
    assert audio.channels == 2 and audio.sample_rate == 48000 and audio.duration == 10.0
    assert np.abs(audio.samples).max() <= 1.0
    np.testing.assert_array_equal(audio.samples, demo_track().samples)
    assert not np.array_equal(audio.samples, demo_track(seed=1).samples)
    assert not np.array_equal(audio.samples[:, 0], audio.samples[:, 1])  # really stereo
    for fps in (30, 60):
        features = analyze(audio, fps, settings=NUMPY_ONLY)
        for name in ("bass", "mid", "treble", "rms", "onset"):
            series = features.scalar(name)[fps:]
            assert np.ptp(series) > 0.15, name
        # 120 bpm: the kick is on every half second; beats should be found just after each.
        beats = np.flatnonzero(features.beat == 1) / fps
        kicks = np.arange(20) * 0.5
        found = [np.any((beats >= k) & (beats < k + 0.07)) for k in kicks]
        assert sum(found) >= 18, beats
        stray = [b for b in beats if not np.any((b >= kicks) & (b < kicks + 0.07))]
        assert len(stray) <= 2, stray
        assert features.beat.max() == 1.0 and 0 < features.beat.mean() < 0.6
    # Onsets and beats come from their own short analysis: the FFT size and mode do not move them.
    reference = analyze(audio, 60, settings=AnalysisSettings(fft_size=1024, backend="numpy"))
    for settings in (AnalysisSettings(fft_size=8192, backend="numpy"),
                     AnalysisSettings(mode="webaudio", fft_size=4096, keep_spectrum=False, backend="numpy")):
        other = analyze(audio, 60, settings=settings)
        np.testing.assert_allclose(other.onset, reference.onset, atol=1e-4)
        np.testing.assert_array_equal(np.flatnonzero(other.beat == 1), np.flatnonzero(reference.beat == 1))


def test_save_npz_round_trip_and_atomic(tmp_path):
    features = analyze(demo_track(1.0), 30, settings=AnalysisSettings(mode="webaudio", fft_size=512, backend="numpy"))
    target = tmp_path / "features.npz"
    features.save_npz(target)
    assert [p.name for p in tmp_path.iterdir()] == ["features.npz"]
    with np.load(target) as data:
        for name in ("spectrum", "bands", "waveform", "byte_frequency", "float_frequency", "byte_time_domain",
                     "band_edges", "frame_end", *Features.SCALAR_NAMES):
            assert name in data.files, name
        assert int(data["sample_rate"]) == 48000 and float(data["fps"]) == 30.0
        assert int(data["n_frames"]) == features.n_frames and '"mode": "webaudio"' in str(data["settings"])
    again = Features.load_npz(target)
    assert again.settings == features.settings and again.n_frames == features.n_frames
    for name, array in all_arrays(features).items():
        np.testing.assert_array_equal(all_arrays(again)[name], array, err_msg=name)
    with pytest.raises(GpurenderError, match="does not exist"):
        features.save_npz(tmp_path / "missing" / "features.npz")
    with pytest.raises(GpurenderError, match="not a gpurender features file|cannot be read"):
        np.savez(tmp_path / "other.npz", x=np.zeros(3))
        Features.load_npz(tmp_path / "other.npz")


def test_plot_features_writes_an_image(tmp_path):
    from PIL import Image

    features = analyze(demo_track(2.0), 30, settings=NUMPY_ONLY)
    target = tmp_path / "features.png"
    plot_features(features, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.png"]
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size[0] >= 800 and image.size[1] >= 600
        colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(colours[::37], axis=0)) > 50  # a picture, not a blank page
    with pytest.raises(GpurenderError, match="unknown image type"):
        plot_features(features, tmp_path / "features.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.png"]
