"""Memory stays flat: rendering more frames must not take more memory, for every layer type.

Each case renders warm-up frames, then two windows of frames, reading the process's resident
memory (``VmRSS``) before and after each window; the smaller growth of the two must stay under a
few KB per frame (a leak grows in both windows, allocator noise in at most one). Before the fix
the waveform layer grew by 0.58 MB a frame, text by 0.34 MB and a scaled image by 1 MB: lavapipe
compiled, and never freed, a shader variant at every bind of a pipeline that branched on
uniform-buffer values. So a pure-Python check also holds every WGSL shader to parameters in
read-only storage. Sizes are tiny (the leak did not depend on the size); the module takes ~10 s
on 2 cores.
"""

from __future__ import annotations

import gc
import re
import weakref
from pathlib import Path

import numpy as np
import pytest

from gpurender.scene import scene_from_dict

ROOT = Path(__file__).resolve().parents[1]
FPS = 30
W, H = 96, 64
WARMUP, WINDOW = 20, 80
#: Growth allowed per frame. The leaks this guards against were 340-1000 KB a frame.
LIMIT_KB_PER_FRAME = 20.0

BRANCHY_SHADER = """
fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {
    var acc = 0.0;
    for (var i = 0u; i < u32(inputs.params.y); i = i + 1u) { acc += band(i) * sin(f32(i) * uv.x); }
    if (inputs.params.x > 0.5) { return vec4<f32>(acc, uv, 1.0); }
    return vec4<f32>(features.bass, uv.y, acc, 1.0);
}
"""


def layer_cases(image_file: str) -> dict:
    """Layers by case name: every layer type of a scene file, in its main variants."""
    from gpurender.render.compositor import BLEND_MODES

    bound = {"feature": "bass", "scale": 0.5, "offset": 0.5}
    return {
        "points": [{"type": "points", "count": 400, "size": 3}],
        "points-depth": [{"type": "points", "count": 400, "draw": "depth"}],
        "spectrum": [{"type": "spectrum", "bars": 16}],
        "spectrum-radial": [{"type": "spectrum", "bars": 16, "style": "radial"}],
        "waveform": [{"type": "waveform"}],
        "waveform-filled": [{"type": "waveform", "style": "filled"}],
        "text": [{"type": "text", "text": "{frame} {time:.2f}", "size": 14}],
        "image": [{"type": "image", "file": image_file, "fit": "none"}],
        "image-scaled": [{"type": "image", "file": image_file, "scale": bound}],
        "particles": [{"type": "particles", "count": 1500, "rate": 600}],
        "particles-screen": [{"type": "particles", "count": 1500, "space": "screen", "draw": "blend"}],
        "shader": [{"type": "shader", "file": str(ROOT / "examples" / "shaders" / "rings.wgsl"),
                    "param1": bound, "param2": 8.0}],
        "shader-branching": [{"type": "shader", "code": BRANCHY_SHADER, "param1": 1.0, "param2": 6.0}],
        # the compositor with every blend mode, one layer each
        "blend-modes": [{"type": "spectrum", "bars": 4, "blend": mode, "opacity": 0.8} for mode in BLEND_MODES],
    }


def rss_kb() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    pytest.skip("no /proc/self/status VmRSS on this system")


def growth_per_frame_kb(produce) -> float:
    """The smaller of two windows' RSS growth per frame; ``produce(first, count)`` renders frames."""
    produce(0, WARMUP)
    growths = []
    for k in range(2):
        gc.collect()
        before = rss_kb()
        produce(WARMUP + k * WINDOW, WINDOW)
        gc.collect()
        growths.append((rss_kb() - before) / WINDOW)
    return min(growths)


@pytest.fixture(scope="module")
def features():
    from gpurender.audio import analyze, demo_track

    return analyze(demo_track(duration=(WARMUP + 2 * WINDOW) / FPS + 0.5), FPS)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    from PIL import Image

    rgba = np.zeros((24, 40, 4), np.uint8)
    rgba[..., 0] = np.linspace(0, 255, 40, dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[8:12, :, 3] = 90
    path = tmp_path_factory.mktemp("memory") / "picture.png"
    Image.fromarray(rgba).save(path)
    return str(path)


def drain(frames) -> None:
    for _ in frames:
        pass


@pytest.mark.parametrize("case", list(layer_cases("").keys()))
def test_scene_memory_is_flat_per_frame(device, features, image_file, case):
    from gpurender.render.renderer import FrameRenderer

    scene = scene_from_dict({"background": "#000000", "layers": layer_cases(image_file)[case]},
                            source=str(ROOT / "memory.toml"))
    renderer = FrameRenderer(scene, features, W, H, FPS)
    kb = growth_per_frame_kb(lambda first, count: drain(renderer.frames(first, count)))
    assert kb < LIMIT_KB_PER_FRAME, f"{case}: memory grows by {kb:.1f} KB a frame"


def _point_frames(n_points=300, seed=0):
    rng = np.random.default_rng(seed)
    while True:  # a new cloud every frame, as a sequence gives
        yield {"points": (rng.normal(size=(n_points, 3)) * 0.3).astype(np.float32)}


def _feed():
    from gpurender.pointcloud.frames import ColorMapper, FrameFeed, Normalizer

    return FrameFeed(_point_frames(), Normalizer((0, 0, 0), 1.0), ColorMapper("viridis", (-1.0, 1.0)), None)


@pytest.mark.parametrize("draw", ["depth", "blend", "additive"])
def test_point_sequence_layer_memory_is_flat_per_frame(device, draw):
    from gpurender.render.layers import pointseq  # noqa: F401  (registers the layer)
    from gpurender.render.renderer import FrameRenderer
    from gpurender.scene.model import Layer, Scene

    layer = Layer(type="pointseq", name="points", params={
        "feed": _feed(), "size": 3.0, "softness": 0.3, "brightness": 1.0, "draw": draw})
    renderer = FrameRenderer(Scene(background=(0, 0, 0, 1), layers=(layer,), source="memory"), None, W, H, FPS)
    kb = growth_per_frame_kb(lambda first, count: drain(renderer.frames(first, count)))
    assert kb < LIMIT_KB_PER_FRAME, f"pointseq ({draw}): memory grows by {kb:.1f} KB a frame"


def test_direct_point_video_memory_is_flat_per_frame(device):
    from gpurender.render.pointvideo import PointVideoRenderer
    from gpurender.scene.model import Camera

    title = {"text": "{i} {time:.2f}", "size": 10.0, "color": (1.0, 1.0, 1.0, 1.0), "x": 0.02, "y": 0.975,
             "anchor": "top-left"}
    renderer = PointVideoRenderer(_feed(), Camera(), (0, 0, 0, 1), W, H, FPS, size=3.0, title=title)
    kb = growth_per_frame_kb(lambda first, count: drain(renderer.frames(first, count)))
    assert kb < LIMIT_KB_PER_FRAME, f"direct I420 point video: memory grows by {kb:.1f} KB a frame"


def test_a_finished_renderer_is_freed_without_the_cycle_collector(device, features):
    """Renders one after another (API calls, reused Ray workers) must not wait for a full garbage
    collection to give back a renderer's textures and pipelines."""
    from gpurender.render.renderer import FrameRenderer

    scene = scene_from_dict({"layers": [{"type": "text", "text": "{frame}"}, {"type": "waveform"}]})
    gc.collect()
    gc.disable()
    try:
        renderer = FrameRenderer(scene, features, W, H, FPS)
        drain(renderer.frames(0, 2))
        ref = weakref.ref(renderer)
        del renderer
        assert ref() is None, "a FrameRenderer is kept alive by a reference cycle"
    finally:
        gc.enable()


def test_no_shader_binds_a_uniform_buffer():
    """Parameters are ``var<storage, read>`` (see ``shaderlib.params_buffer`` for why)."""
    offenders = [f"{path.name}:{n}" for path in sorted((ROOT / "shaders").glob("*.wgsl"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"var\s*<\s*uniform\s*>", line.split("//")[0])]
    assert not offenders, f"uniform buffers in {offenders}; use var<storage, read> and params_buffer()"


def test_a_large_table_is_uploaded_without_a_staging_copy_of_its_size(device):
    """Issue 11: ``create_buffer_with_data`` staged a whole-track table in a buffer of its size that
    wgpu kept for the device's life (a 10-minute track's 17 MB of tables held 34 MB). The upload
    goes a chunk at a time; the bytes arrive whole, including a tail that is not a whole word."""
    import wgpu

    from gpurender.memory import release_free_memory
    from gpurender.render.shaderlib import UPLOAD_CHUNK, upload_buffer

    data = np.random.default_rng(0).integers(0, 256, 16 * 2**20 + 3, dtype=np.uint8)
    release_free_memory()
    before = rss_kb()
    buf = upload_buffer(device, data, wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)
    assert buf.size == len(data) + 1  # padded to whole words
    for offset in (0, 5 * UPLOAD_CHUNK - 8, len(data) + 1 - 1024):  # first, across a chunk edge, the tail
        got = np.frombuffer(bytes(device.queue.read_buffer(buf, offset, 1024)), np.uint8)
        expected = data[offset:offset + 1024]
        expected = np.concatenate([expected, np.zeros(1024 - len(expected), np.uint8)])  # the padding
        np.testing.assert_array_equal(got, expected)
    release_free_memory()
    grown_mb = (rss_kb() - before) / 1024
    # The buffer itself is 16 MB (lavapipe keeps it in this process); a staging copy would double it.
    assert grown_mb < 16 + 6, grown_mb
