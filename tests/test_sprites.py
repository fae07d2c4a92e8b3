"""The points and particles layers draw their sprites with one WGSL file (shaders/sprite.wgsl), and
softness 0 (a hard edge) draws clean discs in both: anti-aliased (partly covered rim pixels of the
sprite's own colour), or with anti-aliasing off every pixel fully covered or untouched."""

import re
from pathlib import Path

import numpy as np
import pytest

from gpurender.render.shaderlib import load_wgsl

wgpu = pytest.importorskip("wgpu")

ROOT = Path(__file__).resolve().parents[1]
W = H = 64


def test_both_sprite_shaders_include_the_one_sprite_file():
    for name in ("points.wgsl", "particles_draw.wgsl"):
        raw = (ROOT / "shaders" / name).read_text()
        assert '//#include "sprite.wgsl"' in raw
        # none of the sprite code left behind: no soft edge or vertex struct of their own
        assert "smoothstep" not in raw and not re.search(r"^struct ", raw, re.M), name
        composed = load_wgsl(name)
        assert composed.count("fn sprite_paint(") == 1 and composed.count("struct SpriteVertex") == 1


def _run_compute(device, source: str, n_out: int) -> np.ndarray:
    out = device.create_buffer(size=4 * n_out, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)
    pipeline = device.create_compute_pipeline(
        layout="auto", compute={"module": device.create_shader_module(code=source), "entry_point": "main"})
    group = device.create_bind_group(layout=pipeline.get_bind_group_layout(0),
                                     entries=[{"binding": 0, "resource": {"buffer": out}}])
    encoder = device.create_command_encoder()
    cpass = encoder.begin_compute_pass()
    cpass.set_pipeline(pipeline)
    cpass.set_bind_group(0, group)
    cpass.dispatch_workgroups(1)
    cpass.end()
    device.queue.submit([encoder.finish()])
    return np.frombuffer(bytes(device.queue.read_buffer(out)), np.float32)


def test_sprite_edge_on_the_device(device):
    """Coverage by distance from the centre (in radii): 1 inside; softness 0 without anti-aliasing
    is 1 up to and on the rim (where smoothstep with equal edges would divide 0 by 0) and 0 past it,
    with anti-aliasing the share of the pixel inside the rim (radius in pixels: 0.5 + pixels to the
    rim, a sprite under a pixel wide scaled down); otherwise it fades to 0 at the rim."""
    ds = [0.0, 0.5, 0.7, 0.9, 0.999, 1.0, 1.1, 1.3]
    softnesses = [0.0, 0.35, 1.0]
    # values come through a storage buffer so the compiler cannot fold the calls at compile time;
    # the flat values as the vertex stage makes them (sprite_flat), then the fragment's paint: an
    # opaque white sprite's alpha is its coverage, negative where the fragment is discarded
    cases = [(d, s, r, aa) for s in softnesses for d in ds for r, aa in ((4.0, 0), (4.0, 1), (0.3, 1))]
    body = "\n".join(
        f"    sprite_flat(&v, vec4<f32>(1.0), 2.0 * (out[{i}] + {r!r}), out[{i}] + {s!r}, 1.0, {aa}u);\n"
        f"    out[{i}] = sprite_paint(vec2<f32>(out[{i}] + {d!r}, 0.0), v.color, v.edge).a;"
        for i, (d, s, r, aa) in enumerate(cases))
    source = (load_wgsl("sprite.wgsl") + "\n@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n"
              "@compute @workgroup_size(1)\nfn main() {\n    var v: SpriteVertex;\n" + body + "\n}\n")
    painted = _run_compute(device, source, len(cases))
    assert np.isfinite(painted).all()
    got = np.maximum(painted, 0.0)

    def expected(d, s, r, aa):
        if s <= 0:
            if not aa:
                return float(d <= 1.0)
            return float(np.clip((1 - d) * r + 0.5, 0, 1)) * min(2 * r, 1.0)
        t = np.clip((d - (1 - s)) / s, 0, 1)
        return 1 - t * t * (3 - 2 * t)

    want = np.array([expected(*case) for case in cases])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert ((painted < 0) == (want <= 0)).all()  # discarded exactly where nothing is covered


def _layer_pixels(layer: dict, frames: int = 1, antialias: bool = True) -> np.ndarray:
    """One layer drawn on its own into its float texture: ``[H, W, 4]`` premultiplied RGBA."""
    from gpurender.render.device import LAYER_FORMAT, get_device
    from gpurender.render.layers import FrameInfo, RenderContext, create_renderer
    from gpurender.scene import scene_from_dict
    from gpurender.scene.evaluate import ParamEvaluator

    scene = scene_from_dict({"layers": [layer], "camera": {"orbit_speed": 0}})
    device = get_device()
    ctx = RenderContext(device=device, width=W, height=H, fps=30, features=None,
                        params=ParamEvaluator(None, 30), camera=scene.camera)
    ctx.antialias = antialias  # what the scene's top-level antialias sets
    texture = device.create_texture(size=(W, H, 1), format=LAYER_FORMAT,
                                    usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.COPY_SRC)
    r = create_renderer(ctx, scene.layers[0])
    for i in range(frames):
        encoder = device.create_command_encoder()
        frame = FrameInfo(index=i, time=i / 30, fps=30.0)
        if r.stateful:
            r.advance(encoder, frame)
        r.draw(encoder, frame, texture.create_view())
        device.queue.submit([encoder.finish()])
    data = device.queue.read_texture({"texture": texture}, {"bytes_per_row": W * 8, "rows_per_image": H}, (W, H, 1))
    return np.frombuffer(bytes(data), np.float16).reshape(H, W, 4).astype(np.float32)


HARD = {
    "points": {"type": "points", "shape": "cube", "count": 400, "softness": 0.0, "color": "#ff8000"},
    "particles": {"type": "particles", "space": "screen", "count": 400, "rate": 3000, "burst": 0, "speed": 0.6,
                  "spread": 180, "size_end": 1.0, "softness": 0.0, "color": "#ff8000", "color_end": "#ff8000",
                  "draw": "blend"},
}


@pytest.mark.parametrize("kind", sorted(HARD))
@pytest.mark.parametrize("size", [3.0, 8.0, 16.0])
def test_softness_zero_draws_hard_clean_discs(device, kind, size):
    pixels = _layer_pixels({**HARD[kind], "size": size}, frames=4 if kind == "particles" else 1, antialias=False)
    assert np.isfinite(pixels).all(), f"{kind}: NaN or infinity in the layer"
    alpha = pixels[..., 3]
    drawn = alpha > 0
    assert drawn.sum() > 20, f"{kind}: nothing drawn"
    # a hard edge: every pixel is either untouched or fully covered, in the layer's colour (to within
    # the interpolation of the colour across the sprite and half-float storage)
    assert (alpha[drawn] > 0.999).all(), f"{kind}: partly covered pixels {np.unique(alpha[drawn])[:5]}"
    np.testing.assert_allclose(pixels[drawn][:, :3], np.tile([1.0, 128 / 255, 0.0], (int(drawn.sum()), 1)),
                               atol=2e-3)


@pytest.mark.parametrize("kind", sorted(HARD))
@pytest.mark.parametrize("size", [3.0, 8.0, 16.0])
def test_softness_zero_is_antialiased_by_default(device, kind, size):
    frames = 4 if kind == "particles" else 1
    pixels = _layer_pixels({**HARD[kind], "size": size}, frames=frames)
    assert np.isfinite(pixels).all(), f"{kind}: NaN or infinity in the layer"
    alpha = pixels[..., 3]
    drawn = alpha > 0
    assert drawn.sum() > 20, f"{kind}: nothing drawn"
    # the outermost drawn pixels (next to an untouched one) are the rim: most partly covered
    padded = np.pad(drawn, 1)
    rim = drawn & ~(padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    partial = rim & (alpha < 0.999)
    assert partial.sum() > 0.5 * rim.sum(), f"{kind}: {partial.sum()} of {rim.sum()} rim pixels partly covered"
    assert (alpha <= 1.0 + 1e-3).all()
    # premultiplied and of the layer's colour at every coverage
    np.testing.assert_allclose(pixels[drawn][:, :3] / alpha[drawn][:, None],
                               np.tile([1.0, 128 / 255, 0.0], (int(drawn.sum()), 1)), atol=4e-3)
    # the same discs: coverage adds up to about what the hard edge covers
    hard = _layer_pixels({**HARD[kind], "size": size}, frames=frames, antialias=False)[..., 3]
    assert abs(alpha.sum() - hard.sum()) < 0.1 * hard.sum()
