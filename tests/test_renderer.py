"""The frame loop: frame order, seeking, and Ctrl-C held to frame boundaries."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from gpurender.audio import analyze, demo_track
from gpurender.render.renderer import FrameRenderer, interrupts_at_frame_boundaries
from gpurender.scene import scene_from_dict

SCENE = {"background": "#102030", "layers": [{"type": "spectrum", "bars": 8},
                                              {"type": "points", "shape": "helix", "count": 300}]}


@pytest.fixture(scope="module")
def features():
    return analyze(demo_track(duration=1.0), 12)


def test_frames_arrive_in_order_and_match_single_renders(features):
    r = FrameRenderer(scene_from_dict(SCENE), features, 48, 32, 12)
    got = list(r.frames(3, 5, output="rgba", ring_depth=3))
    assert [i for i, _ in got] == [3, 4, 5, 6, 7]
    # The same frame rendered on its own (after a seek backwards) is identical.
    np.testing.assert_array_equal(r.render_rgba(5), got[2][1])
    assert not np.array_equal(got[0][1], got[-1][1])


def test_yuv_output_size(features):
    r = FrameRenderer(scene_from_dict(SCENE), features, 48, 32, 12)
    [(i, data)] = list(r.frames(0, 1))
    assert i == 0 and data.shape == (48 * 32 * 3 // 2,) and data.dtype == np.uint8


def test_ctrl_c_is_raised_at_the_next_frame_and_the_handler_restored(features):
    r = FrameRenderer(scene_from_dict(SCENE), features, 48, 32, 12)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for index, _ in r.frames(0, 6, ring_depth=2):
            seen.append(index)
            if index == 1:
                os.kill(os.getpid(), signal.SIGINT)  # delivered while the loop is running
    assert seen and seen[-1] < 5
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # The renderer still works afterwards.
    assert len(list(r.frames(0, 2))) == 2


def test_interrupt_after_the_last_frame_is_still_delivered():
    with pytest.raises(KeyboardInterrupt):
        with interrupts_at_frame_boundaries():
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_adapter_choice_by_index_or_name():
    from gpurender.errors import RenderError
    from gpurender.render.device import choose_adapter

    class A:
        def __init__(self, name, kind):
            self.info = {"device": name, "adapter_type": kind}

    adapters = [A("llvmpipe", "CPU"), A("NVIDIA H100 0", "DiscreteGPU"), A("NVIDIA H100 1", "DiscreteGPU")]
    assert choose_adapter(adapters, "1").info["device"] == "NVIDIA H100 1"
    assert choose_adapter(adapters, "0").info["device"] == "NVIDIA H100 0"
    assert choose_adapter(adapters, "llvm").info["device"] == "llvmpipe"
    with pytest.raises(RenderError, match="index below 2"):
        choose_adapter(adapters, "5")
    with pytest.raises(RenderError, match="matches no adapter"):
        choose_adapter(adapters, "radeon")


def test_10bit_output_comes_from_a_float_composite(features):
    scene = dict(SCENE, layers=SCENE["layers"] + [{"type": "spectrum", "bars": 4, "opacity": 0.37}])
    r = FrameRenderer(scene_from_dict(scene), features, 48, 32, 12)
    [(_, i420)] = list(r.frames(4, 1))
    [(_, planar)] = list(r.frames(4, 1, output="yuv420p10le"))
    assert r._levels == 1023.0  # layers read at 10-bit steps
    [(_, p010)] = list(r.frames(4, 1, output="p010le"))
    assert planar.dtype == np.uint8 and planar.size == 48 * 32 * 3  # 16-bit samples, as bytes
    ten = planar.view("<u2").astype(int)
    # the same picture: within a code of 8 bits (the 8-bit frame was rounded once more)
    assert np.abs(ten - 4 * i420.astype(int)).max() <= 4 + 2
    # P010 holds the same codes as the planar frame, chroma interleaved and shifted to the top bits
    pw = p010.view("<u2").astype(int)
    n = 48 * 32
    assert (pw[:n] >> 6 == ten[:n]).all()
    assert (pw[n::2] >> 6 == ten[n:n + n // 4]).all() and (pw[n + 1::2] >> 6 == ten[n + n // 4:]).all()
    # and codes 8 bits cannot hold: the float composite's opacity blend is not rounded to 8 bits
    assert (ten % 4 != 0).mean() > 0.2
    # back to 8 bits: RGBA readback still works after the switch
    assert r.render_rgba(4).shape == (32, 48, 4) and r._levels == 255.0
