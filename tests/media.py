"""Test media made on the fly (a short song with beats) and decoding helpers shared by tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_song(path: Path, seconds: float = 2.0, sr: int = 44100) -> Path:
    """A stereo WAV: a 440 Hz tone with a 60 Hz kick every half second (beats to react to)."""
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    kick = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.5):
        i, n = int(start * sr), int(0.1 * sr)
        kick[i:i + n] += 0.7 * np.sin(2 * np.pi * 60 * t[:n]) * np.exp(-t[:n] * 30)
    tone = 0.2 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([tone + kick, 0.5 * tone + kick], axis=1).astype(np.float32), sr)
    return Path(path)


def decoded(path, fmt: str = "yuv420p") -> list[np.ndarray]:
    """Every video frame of ``path`` as arrays in pixel format ``fmt``."""
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def assert_same_frames(a, b):
    assert len(a) == len(b)
    for i, (fa, fb) in enumerate(zip(a, b)):
        assert np.array_equal(fa, fb), f"frame {i} differs"


def before_each_encode(monkeypatch, hook) -> None:
    """Run ``hook(frame)`` in the encoder thread before every frame is encoded: to slow, stall or
    fail the encoder while the real one still writes the file."""
    from gpurender.encode import VideoWriter

    real = VideoWriter._encode

    def encode(self, frame):
        hook(frame)
        real(self, frame)

    monkeypatch.setattr(VideoWriter, "_encode", encode)


def fail_encoding_at(monkeypatch, pts: int) -> None:
    """Make the encoder raise ``RuntimeError("simulated encoder failure")`` at frame ``pts``."""

    def hook(frame):
        if frame.pts == pts:
            raise RuntimeError("simulated encoder failure")

    before_each_encode(monkeypatch, hook)



def refuse_encoder(monkeypatch, name: str = "libx264") -> None:
    """Make encoder ``name`` fail to open (as a missing or broken encoder would), so the writer's
    fallback is taken."""
    from gpurender.encode import writer
    from gpurender.errors import EncodeError

    real_open = writer._ContainerSink.open

    def refuse(sink):
        if sink.choice.name == name:
            raise EncodeError(f"encoder {name} would not open (refused by the test)")
        real_open(sink)

    monkeypatch.setattr(writer._ContainerSink, "open", refuse)
