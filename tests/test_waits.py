"""Every wait on the GPU has an end: swallowed interrupts come back, stuck maps and drivers time out."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

from gpurender.errors import RenderError
from gpurender.render import readback, waits
from gpurender.render.readback import ReadbackRing


def _swallow_interrupt_in_callback():
    """What cffi does with a KeyboardInterrupt raised inside a wgpu callback: report it and drop it."""
    import cffi

    ffi = cffi.FFI()

    @ffi.callback("void(int)")
    def callback(_status):
        raise KeyboardInterrupt

    waits.install_interrupt_watch()
    callback(0)


class _LostMap:
    """Starts the real map but hands back a promise that never settles, as when its callback
    was cut short; ``on_map`` runs right after (e.g. a swallowed interrupt)."""

    def __init__(self, on_map=None):
        self.on_map = on_map
        self.real = readback._map_read

    def __call__(self, buffer, size):
        from wgpu._async import GPUPromise

        self.real(buffer, size)
        if self.on_map is not None:
            self.on_map()
        return GPUPromise("lost map", None)


def _ring_with_one_frame(device, monkeypatch, lost: _LostMap):
    import wgpu

    monkeypatch.setattr(readback, "_map_read", lost)
    src = device.create_buffer(size=64, usage=wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST)
    ring = ReadbackRing(device, 64, depth=2)
    ring.submit(device.create_command_encoder(),
                lambda enc, dst: enc.copy_buffer_to_buffer(src, 0, dst, 0, 64), 0)
    return ring


def test_interrupt_swallowed_by_the_map_callback_ends_the_wait(device, monkeypatch):
    ring = _ring_with_one_frame(device, monkeypatch, _LostMap(on_map=_swallow_interrupt_in_callback))
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        ring.flush()
    assert time.monotonic() - started < 2.0
    started = time.monotonic()
    ring.close()  # shutting down does not wait for the lost map either
    assert time.monotonic() - started < readback.CLOSE_WAIT_S + 1.0


def test_a_map_that_never_settles_is_an_error_within_the_deadline(device, monkeypatch):
    monkeypatch.setenv("GPURENDER_GPU_TIMEOUT", "0.3")
    ring = _ring_with_one_frame(device, monkeypatch, _LostMap())
    started = time.monotonic()
    with pytest.raises(RenderError, match="reading frame 0 back from the GPU did not finish within 0.3 s"):
        ring.flush()
    assert time.monotonic() - started < 2.0
    ring.close()


def test_render_ends_with_an_interrupt_and_no_output_when_a_map_callback_swallows_it(
        device, monkeypatch, tmp_path, small_scene, song):
    from gpurender.audio import load_audio
    from gpurender.pipeline import render_video
    from gpurender.scene import load_scene
    from gpurender.settings import RenderSettings

    fired = []

    def once():
        if len(fired) == 2:  # the third frame's map loses its interrupt
            _swallow_interrupt_in_callback()
        fired.append(1)

    real = readback._map_read
    lost = _LostMap(on_map=once)

    def maybe_lost(buffer, size):
        return lost(buffer, size) if len(fired) == 2 else (fired.append(1), real(buffer, size))[1]

    monkeypatch.setattr(readback, "_map_read", maybe_lost)
    out = tmp_path / "out.mp4"
    settings = RenderSettings(width=64, height=48, fps=10, duration=1.0)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        render_video(load_scene(small_scene), load_audio(song), out, settings)
    assert time.monotonic() - started < 20
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_a_driver_call_that_never_returns_is_an_error():
    block = threading.Event()
    started = time.monotonic()
    with pytest.raises(RenderError, match="creating the GPU device did not finish within 0.2 s"):
        waits.run_with_deadline(block.wait, "creating the GPU device", timeout=0.2)
    assert time.monotonic() - started < 1.5
    block.set()


def test_ctrl_c_while_a_driver_call_runs_is_a_plain_interrupt():
    block = threading.Event()
    threading.Timer(0.2, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        waits.run_with_deadline(block.wait, "creating the GPU device", timeout=30)
    assert time.monotonic() - started < 2.0
    block.set()


def test_driver_call_results_and_errors_come_back():
    assert waits.run_with_deadline(lambda: 42, "x", timeout=5) == 42
    with pytest.raises(ValueError, match="boom"):
        waits.run_with_deadline(lambda: (_ for _ in ()).throw(ValueError("boom")), "x", timeout=5)


def test_bad_timeout_setting_is_one_line(monkeypatch):
    monkeypatch.setenv("GPURENDER_GPU_TIMEOUT", "soon")
    with pytest.raises(RenderError, match="GPURENDER_GPU_TIMEOUT='soon' is not a positive number of seconds"):
        waits.timeout_s()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_only_interrupts_are_counted_as_swallowed():
    import cffi

    ffi = cffi.FFI()

    @ffi.callback("void(int)")
    def failing(_status):
        raise ValueError("not an interrupt")

    waits.install_interrupt_watch()
    before = waits.swallowed_interrupts()
    failing(0)  # reported by the previous hook as before
    assert waits.swallowed_interrupts() == before
    _swallow_interrupt_in_callback()
    assert waits.swallowed_interrupts() == before + 1
    waits.forget_owed_interrupt()
