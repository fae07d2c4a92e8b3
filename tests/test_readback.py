"""The readback ring: every frame once, in order, correct, owned by the caller, at any depth."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gpurender.render.readback import (
    ReadbackRing,
    _settled,
    record_texture_copy,
    strip_row_padding,
    texture_copy_layout,
)

NBYTES = 1001  # not a multiple of 4: the ring pads its buffers and trims the result


def pattern(index: int, nbytes: int = NBYTES) -> np.ndarray:
    return np.random.default_rng(index).integers(0, 256, nbytes, dtype=np.uint8)


class Source:
    """A synthetic frame source: frame i's pattern lands in a GPU buffer, then goes to the ring."""

    def __init__(self, device, nbytes: int = NBYTES):
        import wgpu

        self.device = device
        self.size = (nbytes + 3) & ~3
        self.buffer = device.create_buffer(
            size=self.size, usage=wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
        )

    def frame(self, index: int):
        data = np.zeros(self.size, np.uint8)
        data[:NBYTES] = pattern(index)
        # Queue writes run before the next submission's commands, after all earlier ones, so
        # this cannot overwrite a previous frame that has not been copied yet.
        self.device.queue.write_buffer(self.buffer, 0, data)
        return self.device.create_command_encoder()

    def record_copy(self, encoder, dst) -> None:
        encoder.copy_buffer_to_buffer(self.buffer, 0, dst, 0, self.size)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_every_frame_once_in_order_under_random_delays(device, depth):
    rng = np.random.default_rng(depth)
    src = Source(device)
    ring = ReadbackRing(device, NBYTES, depth=depth)
    n = 14
    received = []
    for i in range(n):
        time.sleep(rng.uniform(0, 0.004))  # rendering takes a while
        got = ring.submit(src.frame(i), src.record_copy, i)
        assert ring.in_flight <= depth
        for index, arr in got:
            time.sleep(rng.uniform(0, 0.006))  # the consumer is slow at times
            received.append((index, arr))
        if depth == 1:
            assert [idx for idx, _ in got] == [i]  # synchronous: this frame, now
    received.extend(ring.flush())
    assert ring.in_flight == 0 and ring.flush() == []

    assert [idx for idx, _ in received] == list(range(n))
    # Checked only now, after every slot was reused several times: the arrays are the caller's.
    for index, arr in received:
        assert arr.shape == (NBYTES,) and arr.dtype == np.uint8
        assert arr.flags.owndata and arr.flags.writeable
        np.testing.assert_array_equal(arr, pattern(index))
    ring.close()


def test_frame_indices_are_labels(device):
    src = Source(device)
    ring = ReadbackRing(device, NBYTES, depth=2)
    out = []
    for i in (100, 101, 102):
        out += ring.submit(src.frame(i), src.record_copy, i)
    out += ring.flush()
    assert [i for i, _ in out] == [100, 101, 102]
    np.testing.assert_array_equal(out[2][1], pattern(102))


def test_finished_frame_is_delivered_before_the_ring_fills(device):
    src = Source(device)
    ring = ReadbackRing(device, NBYTES, depth=3)
    got = ring.submit(src.frame(0), src.record_copy, 0)  # may already be done on a fast device
    deadline = time.monotonic() + 10.0
    while not got and time.monotonic() < deadline:
        time.sleep(0.001)
        got = ring.poll()
    assert [i for i, _ in got] == [0], "a finished frame waited for the ring to fill"
    assert ring.in_flight == 0
    np.testing.assert_array_equal(got[0][1], pattern(0))


def test_submit_returns_completed_frames_without_waiting(device):
    src = Source(device)
    ring = ReadbackRing(device, NBYTES, depth=4)
    early = ring.submit(src.frame(0), src.record_copy, 0)
    early += ring.submit(src.frame(1), src.record_copy, 1)
    # Give the GPU ample time; the next submit then hands both back although the ring is not full.
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and not all(
        s.promise is None or _settled(s.promise) for s in ring._slots
    ):
        time.sleep(0.002)
    got = early + ring.submit(src.frame(2), src.record_copy, 2)
    assert [i for i, _ in got][:2] == [0, 1]
    rest = ring.flush()
    assert [i for i, _ in got + rest] == [0, 1, 2]


def test_postprocess_result_is_copied_out_of_mapped_memory(device):
    src = Source(device)
    ring = ReadbackRing(device, NBYTES, depth=2, postprocess=lambda a: a[::2])
    out = []
    for i in range(5):
        out += ring.submit(src.frame(i), src.record_copy, i)
    out += ring.flush()
    for i, arr in out:
        assert arr.flags.owndata
        np.testing.assert_array_equal(arr, pattern(i)[::2])


def test_rgba_texture_readback_strips_row_padding(device):
    import wgpu

    w, h = 10, 6  # 40-byte rows, padded to 256
    bpr, nbytes = texture_copy_layout(w, h)
    assert (bpr, nbytes) == (256, 256 * h)
    assert texture_copy_layout(64, 2) == (256, 512)  # already aligned: no padding
    tex = device.create_texture(
        size=(w, h, 1), format="rgba8unorm", usage=wgpu.TextureUsage.COPY_DST | wgpu.TextureUsage.COPY_SRC
    )
    ring = ReadbackRing(device, nbytes, depth=3, postprocess=lambda a: strip_row_padding(a, w, h))
    copy = record_texture_copy(tex, w, h)
    frames = {}
    out = []
    for i in range(6):
        img = np.random.default_rng(50 + i).integers(0, 256, (h, w, 4), dtype=np.uint8)
        frames[i] = img
        device.queue.write_texture({"texture": tex}, img, {"bytes_per_row": 4 * w, "rows_per_image": h}, (w, h, 1))
        out += ring.submit(device.create_command_encoder(), copy, i)
    out += ring.flush()
    assert [i for i, _ in out] == list(range(6))
    for i, arr in out:
        assert arr.shape == (h, w, 4) and arr.flags.c_contiguous and arr.flags.owndata
        np.testing.assert_array_equal(arr, frames[i])


def test_strip_row_padding_without_gpu():
    w, h = 3, 2
    bpr, nbytes = texture_copy_layout(w, h)
    flat = np.zeros(nbytes, np.uint8)
    rows = flat.reshape(h, bpr)
    rows[:, : w * 4] = np.arange(h * w * 4, dtype=np.uint8).reshape(h, w * 4)
    rows[:, w * 4 :] = 255  # padding must not leak in
    np.testing.assert_array_equal(strip_row_padding(flat, w, h), np.arange(24, dtype=np.uint8).reshape(h, w, 4))


def test_converter_into_ring_end_to_end(device):
    import wgpu

    from gpurender.render.convert import YuvConverter, rgba_to_i420_cpu

    w, h = 10, 6
    conv = YuvConverter(device, w, h)
    tex = device.create_texture(
        size=(w, h, 1), format="rgba8unorm", usage=wgpu.TextureUsage.TEXTURE_BINDING | wgpu.TextureUsage.COPY_DST
    )
    view = tex.create_view()
    ring = ReadbackRing(device, conv.nbytes, depth=3)
    imgs, out = {}, []
    for i in range(7):
        imgs[i] = np.random.default_rng(i).integers(0, 256, (h, w, 4), dtype=np.uint8)
        device.queue.write_texture({"texture": tex}, imgs[i], {"bytes_per_row": 4 * w, "rows_per_image": h}, (w, h, 1))
        enc = device.create_command_encoder()
        conv.encode(enc, view)
        out += ring.submit(enc, conv.record_copy, i)
    out += ring.flush()
    assert [i for i, _ in out] == list(range(7))
    for i, arr in out:
        assert arr.shape == (w * h * 3 // 2,)
        diff = np.abs(arr.astype(int) - rgba_to_i420_cpu(imgs[i]))
        assert diff.max() <= 1


def test_bad_depth_is_refused(device):
    with pytest.raises(ValueError):
        ReadbackRing(device, 16, depth=0)


def test_ring_works_from_a_worker_thread(device):
    import threading

    result = {}

    def work():
        try:
            src = Source(device)
            ring = ReadbackRing(device, NBYTES, depth=3)
            out = []
            for i in range(8):
                out += ring.submit(src.frame(i), src.record_copy, i)
            out += ring.flush()
            result["out"] = out
        except BaseException as exc:  # surfaced below
            result["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "readback from a worker thread hung"
    assert "error" not in result, result.get("error")
    assert [i for i, _ in result["out"]] == list(range(8))
    for i, arr in result["out"]:
        np.testing.assert_array_equal(arr, pattern(i))
