"""Decoding: soundfile formats, the PyAV fallback, and files that are missing, empty or corrupt."""

import numpy as np
import pytest
import soundfile

from gpurender.audio import AnalysisSettings, AudioData, analyze_file, load_audio
from gpurender.errors import AudioError

RATE = 44100


def stereo_tones(seconds=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 1320 * t)], axis=1).astype(np.float32)


def dominant_frequency(audio: AudioData) -> float:
    mono = audio.mono[len(audio.mono) // 4: 3 * len(audio.mono) // 4]
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.fft.rfftfreq(len(mono), 1 / audio.sample_rate)[spectrum.argmax()])


@pytest.mark.parametrize(
    "extension,format,subtype,tolerance",
    [("wav", "WAV", "PCM_16", 0.0), ("flac", "FLAC", "PCM_24", 0.0), ("ogg", "OGG", "VORBIS", 0.05),
     ("mp3", "MP3", "MPEG_LAYER_III", 0.06)],
)
def test_soundfile_formats(tmp_path, extension, format, subtype, tolerance):
    written = stereo_tones()
    path = tmp_path / f"tones.{extension}"
    soundfile.write(path, written, RATE, format=format, subtype=subtype)
    audio = load_audio(path)
    assert audio.sample_rate == RATE and audio.channels == 2
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 2
    assert abs(audio.duration - 0.5) <= tolerance + 1e-9
    assert abs(dominant_frequency(audio) - 440) < 5
    np.testing.assert_allclose(audio.mono, audio.samples.mean(axis=1), atol=1e-7)
    if tolerance == 0.0:  # lossless: the samples themselves come back
        np.testing.assert_allclose(audio.samples, written, atol=1 / 32768 + 1e-7)


def write_with_pyav(path, samples, rate, codec, video=False):
    import av

    with av.open(str(path), "w") as container:
        picture = container.add_stream("libx264", rate=10) if video else None
        if picture is not None:
            picture.width, picture.height, picture.pix_fmt = 64, 64, "yuv420p"
        sound = container.add_stream(codec, rate=rate, layout="stereo")
        planar = np.ascontiguousarray(samples.T)
        for start in range(0, planar.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start:start + 4096]),
                                               format="fltp", layout="stereo")
            frame.sample_rate = rate
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode(None):
            container.mux(packet)
        if picture is not None:
            for i in range(5):
                image = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 40, np.uint8), format="rgb24")
                for packet in picture.encode(image):
                    container.mux(packet)
            for packet in picture.encode(None):
                container.mux(packet)


@pytest.mark.parametrize(
    "name,codec,rate,video",
    [("tones.m4a", "aac", RATE, False), ("clip.mp4", "aac", RATE, True), ("tones.webm", "libopus", 48000, False),
     ("tones.mka", "pcm_s16le", RATE, False), ("tones-u8.mka", "pcm_u8", RATE, False)],
)
def test_pyav_fallback_reads_what_soundfile_cannot(tmp_path, name, codec, rate, video):
    path = tmp_path / name
    written = stereo_tones(rate=rate)
    write_with_pyav(path, written, rate, codec, video=video)
    with pytest.raises(RuntimeError):
        soundfile.read(path)  # so the file really went through the PyAV fallback
    audio = load_audio(path)
    assert audio.sample_rate == rate and audio.channels == 2 and audio.samples.dtype == np.float32
    assert 0.45 < audio.duration < 0.6  # AAC adds encoder delay and padding
    assert abs(dominant_frequency(audio) - 440) < 5
    assert np.abs(audio.samples).max() <= 1.0
    if codec == "pcm_s16le":  # packed integer samples: scaled exactly, channels in order
        np.testing.assert_allclose(audio.samples, written, atol=1 / 32768 + 1e-7)
    if codec == "pcm_u8":
        np.testing.assert_allclose(audio.samples, written, atol=1 / 128 + 1e-7)


def test_analyze_file(tmp_path):
    path = tmp_path / "tones.wav"
    soundfile.write(path, stereo_tones(), RATE)
    features = analyze_file(path, 30, settings=AnalysisSettings(backend="numpy"))
    assert features.n_frames == 16 and features.sample_rate == RATE
    assert features.spectrum[8].argmax() == round(440 * 2048 / RATE)


def one_line_error(path):
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_empty_and_corrupt_files(tmp_path):
    assert "does not exist" in one_line_error(tmp_path / "nothing.wav")
    assert "folder" in one_line_error(tmp_path)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert "empty" in one_line_error(empty)
    no_samples = tmp_path / "no-samples.wav"
    soundfile.write(no_samples, np.zeros((0, 2), np.float32), RATE)
    assert "no audio samples" in one_line_error(no_samples)
    rng = np.random.default_rng(1)
    for name in ("noise.wav", "noise.mp3", "noise.m4a", "noise.flac"):
        corrupt = tmp_path / name
        corrupt.write_bytes(b"RIFF" + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
        assert "corrupt" in one_line_error(corrupt)
    text = tmp_path / "notes.ogg"
    text.write_text("this is not audio\n" * 50)
    assert "corrupt" in one_line_error(text)


def test_audio_data_is_clean():
    audio = AudioData(np.array([[0.5, np.nan], [2.0, -3.0], [np.inf, 0.25]]), 8000)
    assert audio.samples.dtype == np.float32 and np.isfinite(audio.samples).all()
    assert np.abs(audio.samples).max() <= 1.0
    assert audio.channels == 2 and audio.duration == 3 / 8000
    np.testing.assert_allclose(audio.mono, [0.25, 0.0, 0.625])
    assert AudioData(np.zeros(10), 100).samples.shape == (10, 1)
    with pytest.raises(AudioError):
        AudioData(np.zeros(10), 0)
