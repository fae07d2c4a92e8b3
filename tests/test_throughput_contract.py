"""The throughput machinery as one piece: frame loop, readback ring and encoder thread together.

The parts have their own tests (tests/test_convert.py, test_readback.py, test_encode.py); these
check what only holds when they are joined: every frame reaches the file once and in order however
slow the consumer, rendering runs ahead of a stalled encoder by a bounded number of frames only, the
ring's depth never changes a byte of the output, and a failure anywhere in ``render_video`` (the
encoder thread, the frame loop, an interrupt) stops the render and leaves no file behind.
"""

from __future__ import annotations

import os
import random
import threading
import time

import av
import numpy as np
import pytest

from gpurender.audio import AudioData, analyze
from gpurender.encode import EncodeSettings, VideoWriter
from gpurender.errors import EncodeError, RenderError
from gpurender.pipeline import render_video
from gpurender.progress import Progress
from gpurender.scene.loader import scene_from_dict
from gpurender.settings import RenderSettings
from media import before_each_encode, fail_encoding_at

W, H, FPS = 64, 48, 24
SR = 16000


@pytest.fixture(scope="module")
def scene(device):
    # Every test here renders, so all of them skip with the device fixture where no adapter exists.
    # An orbiting camera and spinning points: every frame differs from the others, so order shows.
    return scene_from_dict({
        "background": "#101020",
        "camera": {"orbit_speed": 90},
        "layers": [
            {"type": "spectrum", "bars": 8},
            {"type": "points", "shape": "sphere", "count": 300, "size": 6, "spin": 120, "blend": "add"},
        ],
    })


@pytest.fixture(scope="module")
def audio():
    t = np.arange(int(2.0 * SR)) / SR
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
    return AudioData(np.stack([tone, tone], axis=1).astype(np.float32), SR)


def lossless(**changes) -> RenderSettings:
    base = RenderSettings(width=W, height=H, fps=FPS, format="mkv", encoder="cpu", lossless=True)
    return base.with_(**changes)


def decoded_i420(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="yuv420p").reshape(-1) for frame in container.decode(video=0)]


def reference_frames(scene, audio, n: int) -> list[np.ndarray]:
    """The frames as a synchronous (depth 1) loop with an idle consumer produces them."""
    from gpurender.render.renderer import FrameRenderer

    features = analyze(audio, FPS)
    renderer = FrameRenderer(scene, features, W, H, FPS)
    return [data.copy() for _, data in renderer.frames(0, n, ring_depth=1)]


@pytest.fixture(scope="module")
def reference(device, scene, audio):
    frames = reference_frames(scene, audio, 24)
    # The order checks below mean something only if no two frames are alike.
    assert len({f.tobytes() for f in frames}) == len(frames)
    return frames


def test_every_frame_reaches_the_file_in_order_under_a_slow_consumer(tmp_path, monkeypatch, scene, audio,
                                                                     reference):
    from gpurender.render.renderer import FrameRenderer

    rng = random.Random(5)
    before_each_encode(monkeypatch, lambda frame: time.sleep(rng.choice([0.0, 0.0, 0.002, 0.02])))
    n = len(reference)
    renderer = FrameRenderer(scene, analyze(audio, FPS), W, H, FPS)
    target = tmp_path / "slow.mkv"
    settings = EncodeSettings(W, H, FPS, format="mkv", encoder="cpu", lossless=True)
    seen = []
    with VideoWriter(target, settings, queue_size=1) as writer:
        for index, data in renderer.frames(0, n, ring_depth=3):
            seen.append(index)
            # The render side is slow too, now and then: frames wait in the ring meanwhile.
            time.sleep(rng.choice([0.0, 0.0, 0.01, 0.03]))
            writer.write(data)
    assert seen == list(range(n))
    got = decoded_i420(target)
    assert len(got) == n
    for i, (frame, want) in enumerate(zip(got, reference)):
        np.testing.assert_array_equal(frame, want, err_msg=f"frame {i}")


@pytest.mark.parametrize("depth", [1, 4])
def test_ring_depth_does_not_change_the_output(tmp_path, scene, audio, reference, depth):
    n = 12
    target = tmp_path / f"k{depth}.mkv"
    result = render_video(scene, audio, target, lossless(duration=n / FPS, ring_depth=depth, queue_size=2))
    assert result.frames == n
    got = decoded_i420(target)
    assert len(got) == n
    for i in range(n):
        np.testing.assert_array_equal(got[i], reference[i], err_msg=f"frame {i} with ring depth {depth}")


def count_drawn_frames(monkeypatch) -> list[int]:
    """Record the index of every frame the frame loop draws (the list fills as it renders)."""
    from gpurender.render.renderer import FrameRenderer

    drawn = []
    real_draw = FrameRenderer.encode_frame

    def counting_draw(self, encoder, frame):
        drawn.append(frame.index)
        real_draw(self, encoder, frame)

    monkeypatch.setattr(FrameRenderer, "encode_frame", counting_draw)
    return drawn


def test_rendering_runs_ahead_of_a_stalled_encoder_by_a_bounded_number_of_frames(tmp_path, monkeypatch, scene,
                                                                                   audio):

    release = threading.Event()
    before_each_encode(monkeypatch, lambda frame: release.wait(timeout=30))
    drawn = count_drawn_frames(monkeypatch)
    n, queue, depth = 40, 2, 3
    target = tmp_path / "stalled.mkv"
    outcome = {}

    def run():
        try:
            outcome["result"] = render_video(scene, audio, target,
                                             lossless(duration=n / FPS, ring_depth=depth, queue_size=queue))
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    try:
        # Wait until the frame loop stops advancing (the encoder holds one frame, the queue is full).
        last, steady_since = -1, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.is_alive():
            if len(drawn) != last:
                last, steady_since = len(drawn), time.monotonic()
            elif last > 0 and time.monotonic() - steady_since > 1.0:
                break
            time.sleep(0.05)
        ahead = len(drawn)
    finally:
        release.set()
        worker.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    # One frame in the encoder, `queue` waiting, `depth` in the ring, one being drawn (+1 for slack).
    assert 0 < ahead <= 1 + queue + depth + 2, f"{ahead} frames drawn while the encoder was stalled"
    assert outcome["result"].frames == n
    assert len(decoded_i420(target)) == n


def test_encoder_error_mid_render_stops_it_and_leaves_no_output(tmp_path, monkeypatch, scene, audio):
    fail_encoding_at(monkeypatch, 3)
    drawn = count_drawn_frames(monkeypatch)
    n, queue, depth = 48, 2, 3
    target = tmp_path / "broken.mp4"
    with pytest.raises(EncodeError, match="failed at frame 3: simulated encoder failure"):
        render_video(scene, audio, target, RenderSettings(width=W, height=H, fps=FPS, duration=n / FPS,
                                                          ring_depth=depth, queue_size=queue, encoder="cpu"))
    assert os.listdir(tmp_path) == []
    # The error stopped the frame loop soon after it happened, not at the end of the video.
    assert len(drawn) <= 4 + queue + depth + 2, f"{len(drawn)} of {n} frames drawn after the encoder failed"


def test_render_error_mid_loop_leaves_no_output(tmp_path, monkeypatch, scene, audio):
    from gpurender.render.renderer import FrameRenderer

    real_draw = FrameRenderer.encode_frame

    def failing_draw(self, encoder, frame):
        if frame.index == 5:
            raise RenderError("simulated device loss at frame 5")
        real_draw(self, encoder, frame)

    monkeypatch.setattr(FrameRenderer, "encode_frame", failing_draw)
    target = tmp_path / "lost.mp4"
    with pytest.raises(RenderError, match="simulated device loss"):
        render_video(scene, audio, target, RenderSettings(width=W, height=H, fps=FPS, duration=0.5, encoder="cpu"))
    assert os.listdir(tmp_path) == []


class _InterruptAt(Progress):
    def __init__(self, frame: int):
        super().__init__(quiet=True)
        self.frame = frame

    def update(self, done: int) -> None:
        super().update(done)
        if done == self.frame:
            raise KeyboardInterrupt


@pytest.mark.parametrize("fmt", ["mp4", "png"])
def test_interrupt_mid_render_leaves_no_output(tmp_path, scene, audio, fmt):
    target = tmp_path / ("out.mp4" if fmt == "mp4" else "frames")
    settings = RenderSettings(width=W, height=H, fps=FPS, duration=0.5, encoder="cpu", format=fmt)
    with pytest.raises(KeyboardInterrupt):
        render_video(scene, audio, target, settings, progress=_InterruptAt(4))
    assert os.listdir(tmp_path) == []
