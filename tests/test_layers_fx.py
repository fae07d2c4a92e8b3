"""The particles, waveform and shader layers on the software adapter, at tiny sizes.

Reference images (``tests/reference/``), particle determinism across runs, processes and seeks,
waveform geometry, a user shader's exact inputs, compile errors mapped to the user's file and
line, and audio bindings on every numeric parameter.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.scene import Binding, scene_from_dict
from gpurender.scene.model import layer_types
from refimage import assert_matches_reference

wgpu = pytest.importorskip("wgpu")

ROOT = Path(__file__).resolve().parents[1]
FPS = 30
W, H = 64, 48

PARTICLES = {
    "type": "particles", "space": "screen", "count": 3000, "seed": 3, "substeps": 2,
    "y": -0.7, "speed": 1.4, "spread": 25, "gravity": 0.8, "drag": 0.4, "life": 1.5,
    "rate": {"feature": "bass", "scale": 900, "offset": 100}, "burst_on": "beat", "burst": 250,
    "turbulence": {"feature": "treble", "scale": 2.0, "offset": 0.5}, "swirl": 0.5,
    "size": 3.0, "draw": "blend", "color": "#ffd070", "color_end": "#ff300020",
}


@pytest.fixture(scope="module")
def features():
    from gpurender.audio import analyze, demo_track

    return analyze(demo_track(duration=1.0), FPS)


def renderer(layers, features, background="#000000", w=W, h=H, camera=None):
    from gpurender.render.renderer import FrameRenderer

    data = {"background": background, "layers": layers}
    if camera:
        data["camera"] = camera
    return FrameRenderer(scene_from_dict(data), features, w, h, FPS)


def render(layers, features, index, **kw):
    return renderer(layers, features, **kw).render_rgba(index)


def write_shader(tmp_path, body: str, name="shade.wgsl") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


# ---- declarations --------------------------------------------------------------------------


def test_types_are_declared_and_have_renderers():
    from gpurender.render.layers import renderer_types

    for name in ("particles", "waveform", "shader"):
        assert name in layer_types()
        assert name in renderer_types()


@pytest.mark.parametrize("kind", ["particles", "waveform", "shader"])
def test_unknown_parameter_is_rejected(kind):
    with pytest.raises(SceneError, match="unknown parameter 'bogus'"):
        scene_from_dict({"layers": [{"type": kind, "bogus": 1}]})


def test_bad_option_and_binding_on_non_number_are_rejected():
    with pytest.raises(SceneError, match="filled"):
        scene_from_dict({"layers": [{"type": "waveform", "style": "dots"}]})
    with pytest.raises(SceneError, match="only numeric"):
        scene_from_dict({"layers": [{"type": "particles", "count": {"feature": "bass"}}]})


# ---- bindings on every numeric parameter ----------------------------------------------------


def _uniforms(r, frame):
    """Everything a layer sends to the GPU for ``frame`` that parameters can change."""
    if r.layer.type == "particles":
        r.reset()
        n_emit = r.emission(frame)
        return [r.sim_data(frame, n_emit), r.draw_data(frame), np.array([n_emit])]
    if r.layer.type == "waveform":
        return [r.uniform_data(frame)]
    return [r.inputs_data(frame)]


@pytest.mark.parametrize("kind", ["particles", "waveform", "shader"])
def test_every_numeric_parameter_follows_a_binding(kind, features, tmp_path):
    """Binding any number parameter changes what the layer draws, by the bound feature's value."""
    extra = {"file": write_shader(tmp_path, "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> "
                                            "{ return vec4<f32>(1.0); }")} if kind == "shader" else {}
    base = renderer([{"type": kind, **extra}], features)
    r = base.layers[0]
    # A frame with a beat, so that a burst fires and its size shows.
    beat_frame = int(np.flatnonzero(np.asarray(features.beat) >= 1.0)[0])
    frame = base.frame_info(beat_frame)
    numbers = [k for k, spec in layer_types()[kind].params.items() if spec.kind == "number"]
    assert numbers
    original = r.layer
    reference = _uniforms(r, frame)
    try:
        for key in numbers:
            default = original.params[key]
            # bass at this frame is well above 0: offset + scale * bass is far from the default.
            binding = Binding(feature="bass", scale=3.0, offset=2.0 * default + 0.5)
            r.layer = dataclasses.replace(original, params={**original.params, key: binding})
            bound = 2.0 * default + 0.5 + 3.0 * float(features.bass[beat_frame])
            assert r.value(key, frame) == pytest.approx(bound, rel=1e-6)
            changed = _uniforms(r, frame)
            assert any(not np.array_equal(a, b) for a, b in zip(changed, reference)), key
            # Scale 0 and offset = default: exactly the unbound value.
            r.layer = dataclasses.replace(original, params={**original.params, key: Binding("bass", 0.0, default)})
            same = _uniforms(r, frame)
            assert all(np.array_equal(a, b) for a, b in zip(same, reference)), key
    finally:
        r.layer = original


# ---- particles ------------------------------------------------------------------------------


def test_particles_reference(features):
    frames = [rgba for _, rgba in renderer([PARTICLES], features).frames(0, 24, output="rgba")]
    assert frames[5].any() and not np.array_equal(frames[20], frames[23])
    assert_matches_reference("particles_screen", frames[23])


def test_particles_world_reference(features):
    layer = {**PARTICLES, "space": "world", "y": -0.8, "draw": "additive", "spread": 70, "speed": 1.8,
             "size": 2.0, "rate": 600.0, "color": "#60c0ff", "color_end": "#ff40ff40"}
    image = render([layer], features, 20, camera={"distance": 3.0, "elevation": 15, "orbit_speed": 40})
    assert image.any()
    assert_matches_reference("particles_world", image)


def test_particles_same_frames_in_one_pass_after_seek_and_after_reset(features):
    n, k = 14, 11
    one_pass = renderer([PARTICLES], features)
    frames = [rgba for _, rgba in one_pass.frames(0, n, output="rgba")]
    assert len({f.tobytes() for f in frames}) == n  # it moves: the test can tell frames apart
    # A fresh renderer that starts at frame k fast-forwards the simulation without drawing.
    assert np.array_equal(renderer([PARTICLES], features).render_rgba(k), frames[k])
    # A second run gives the same frames; going back resets the state and replays it.
    again = renderer([PARTICLES], features)
    assert all(np.array_equal(a, b) for (_, a), b in zip(again.frames(0, n, output="rgba"), frames))
    assert np.array_equal(again.render_rgba(3), frames[3])
    assert np.array_equal(again.render_rgba(k), frames[k])
    # A chunk in the middle of the track equals the same frames of the single pass.
    chunk = [rgba for _, rgba in renderer([PARTICLES], features).frames(6, 5, output="rgba")]
    assert all(np.array_equal(a, b) for a, b in zip(chunk, frames[6:11]))


def test_particles_same_frame_in_another_process(features, tmp_path):
    k = 9
    here = render([PARTICLES], features, k)
    out = tmp_path / "frame.npy"
    script = (
        "import sys, numpy as np\n"
        "from gpurender.audio import analyze, demo_track\n"
        "from gpurender.scene import scene_from_dict\n"
        "from gpurender.render.renderer import FrameRenderer\n"
        f"f = analyze(demo_track(duration=1.0), {FPS})\n"
        f"s = scene_from_dict({{'background': '#000000', 'layers': [{PARTICLES!r}]}})\n"
        f"np.save(sys.argv[1], FrameRenderer(s, f, {W}, {H}, {FPS}).render_rgba({k}))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, cwd=ROOT, timeout=120)
    assert np.array_equal(np.load(out), here)


def bare_particles(layer: dict, features, w=W, h=H):
    """A particles renderer on its own (no frame loop, no compositor) and a target texture."""
    from gpurender.render.device import LAYER_FORMAT, get_device
    from gpurender.render.layers import RenderContext, create_renderer
    from gpurender.scene.evaluate import ParamEvaluator

    scene = scene_from_dict({"layers": [layer]})
    device = get_device()
    ctx = RenderContext(device=device, width=w, height=h, fps=FPS, features=features,
                        params=ParamEvaluator(features, FPS), camera=scene.camera)
    target = device.create_texture(size=(w, h, 1), format=LAYER_FORMAT,
                                   usage=wgpu.TextureUsage.RENDER_ATTACHMENT).create_view()
    return create_renderer(ctx, scene.layers[0]), target


def step(r, first, count, target=None):
    for index in range(first, first + count):
        encoder = r.ctx.device.create_command_encoder()
        frame = renderer_frame(index)
        r.advance(encoder, frame)
        if target is not None:
            r.draw(encoder, frame, target)
        r.ctx.device.queue.submit([encoder.finish()])


def test_particles_state_is_the_same_with_or_without_drawing_and_after_reset(features):
    r, target = bare_particles(PARTICLES, features)
    step(r, 0, 10, target)
    drawn = r.read_state()
    assert (drawn[:, 7] > 0).sum() > 100  # particles were born
    r.reset()
    assert not r.read_state().any()
    step(r, 0, 10)
    assert np.array_equal(r.read_state(), drawn)
    other, _ = bare_particles(PARTICLES, features)
    step(other, 0, 10)
    assert np.array_equal(other.read_state(), drawn)
    with pytest.raises(RuntimeError, match="expected 10"):
        step(other, 12, 1)


@pytest.mark.parametrize("substeps", [1, 3])
def test_particles_fixed_step_physics(features, substeps):
    """One particle per frame, falling from rest: semi-implicit Euler with h = 1 / (fps * substeps)."""
    g, drag, n_frames = 2.0, 0.5, 6
    layer = {"type": "particles", "count": 16, "rate": float(FPS), "burst": 0, "speed": 0.0, "radius": 0.0,
             "gravity": g, "drag": drag, "life": 100.0, "life_jitter": 0.0, "speed_jitter": 0.0,
             "x": 0.25, "y": 0.5, "substeps": substeps}
    r, _ = bare_particles(layer, None)
    step(r, 0, n_frames)
    state = r.read_state()
    h = 1.0 / (FPS * substeps)
    for born in range(n_frames):
        v = y = 0.0
        for _ in range((n_frames - born) * substeps):
            v = (v - g * h) * np.exp(-drag * h)
            y += v * h
        x_, y_, z_, age, vx, vy, vz, life = state[born]
        assert (x_, z_, vx, vz, life) == (np.float32(0.25), 0.0, 0.0, 0.0, 100.0)
        assert y_ == pytest.approx(0.5 + y, abs=1e-6) and vy == pytest.approx(v, rel=1e-5)
        assert age == pytest.approx((n_frames - born) / FPS, rel=1e-5)
    assert not state[n_frames:].any()  # slots not reached yet


def test_particles_births_are_spread_over_the_frame(features):
    """Ten births in one frame: ages from one frame down to a tenth of one, oldest first."""
    layer = {"type": "particles", "count": 32, "rate": 10.0 * FPS, "speed": 1.0, "spread": 0.0,
             "direction": [1.0, 0.0, 0.0], "gravity": 0.0, "drag": 0.0, "radius": 0.0, "life_jitter": 0.0,
             "speed_jitter": 0.0}
    r, _ = bare_particles(layer, None)
    step(r, 0, 1)
    state = r.read_state()
    ages = state[:10, 3]
    assert ages == pytest.approx([(10 - k) / (10 * FPS) for k in range(10)], rel=1e-5)
    # Straight along +x at speed 1: x equals the age.
    assert state[:10, 0] == pytest.approx(ages, rel=1e-5)
    assert np.abs(state[:10, 1:3]).max() < 1e-6


def test_particles_seed_changes_the_frame(features):
    a = render([PARTICLES], features, 8)
    b = render([{**PARTICLES, "seed": 4}], features, 8)
    assert a.any() and not np.array_equal(a, b)


def test_particles_burst_on_beat_emits_at_once(features):
    r = renderer([{**PARTICLES, "rate": 0.0, "burst": 100}], features).layers[0]
    beats = {int(i) for i in np.flatnonzero(np.diff(np.concatenate([[0.0], features.beat])) > 0)}
    counts = [r.emission(renderer_frame(i)) for i in range(features.n_frames)]
    assert beats and {i for i, c in enumerate(counts) if c} == beats
    assert all(counts[i] == 100 for i in beats)


def renderer_frame(index):
    from gpurender.render.layers import FrameInfo

    return FrameInfo(index=index, time=index / FPS, fps=FPS)


def test_particles_rate_accumulates_fractions():
    # 45 particles per second at 30 fps: 1.5 per frame, released as 1, 2, 1, 2 ...
    r = renderer([{**PARTICLES, "rate": 45.0, "burst": 0}], None).layers[0]
    counts = [r.emission(renderer_frame(i)) for i in range(6)]
    assert counts == [1, 2, 1, 2, 1, 2]


def test_particles_bad_count_is_refused(features):
    with pytest.raises(SceneError, match="count"):
        renderer([{**PARTICLES, "count": 0}], features)


# ---- waveform -------------------------------------------------------------------------------


def _with_waveform(features, wave):
    return dataclasses.replace(features, waveform=np.ascontiguousarray(wave, dtype=np.float32))


def test_waveform_references(features):
    line = render([{"type": "waveform", "gain": 4.0, "thickness": 2.0, "color": "#80e0ff"}], features, 10)
    filled = render([{"type": "waveform", "style": "filled", "gain": 4.0, "color": "#ffa040",
                      "y": 0.4, "height": 0.5}], features, 10)
    assert not np.array_equal(line, filled)
    assert_matches_reference("waveform_line", line)
    assert_matches_reference("waveform_filled", filled)


def test_waveform_silence_is_a_line_on_the_centre(features):
    silent = _with_waveform(features, np.zeros_like(features.waveform))
    image = render([{"type": "waveform", "thickness": 2.0, "y": 0.5, "color": "#ffffff"}], silent, 3,
                   background="#00000000")
    alpha = image[..., 3]
    # The centre line is 24 px from the bottom: rows 23 and 24 from the top are covered.
    assert (alpha[23] == 255).all() and (alpha[24] == 255).all()
    assert (np.delete(alpha, [23, 24], axis=0) == 0).all()


def test_waveform_filled_area_matches_the_wave(features):
    n = features.waveform.shape[1]
    wave = np.tile(np.sin(np.linspace(0, 2 * np.pi, n)), (features.n_frames, 1))
    height = 0.5
    image = render([{"type": "waveform", "style": "filled", "thickness": 0.0, "height": height,
                     "fill_color": "#ffffff"}], _with_waveform(features, wave), 2, background="#00000000")
    covered = image[..., 3].astype(np.float64).sum() / 255.0
    amplitude = 0.5 * height * H
    expected = W * amplitude * np.mean(np.abs(np.sin(np.linspace(0, 2 * np.pi, 4096))))
    assert covered == pytest.approx(expected, rel=0.03)
    # Positive half above the centre on the left, negative half below it on the right.
    assert image[:H // 2, : W // 2, 3].sum() > 0 and image[H // 2:, : W // 2, 3].sum() == 0
    assert image[H // 2:, W // 2 + 1:, 3].sum() > 0 and image[:H // 2, W // 2 + 1:, 3].sum() == 0


# ---- shader ---------------------------------------------------------------------------------


def test_shader_receives_its_inputs_exactly(features, tmp_path):
    path = write_shader(tmp_path, """
fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {
    if (px.x < 32.0) {
        return vec4<f32>(inputs.params.x, f32(inputs.frame) / 255.0, inputs.time * 10.0 / 255.0, 1.0);
    }
    return vec4<f32>(features.bass, band(3u), (wave(0u) + 1.0) * 0.5, 1.0);
}
""")
    k = 7
    image = render([{"type": "shader", "file": path, "param1": 51 / 255}], features, k, w=64, h=8)
    assert (image[:, :32] == [51, k, round(k / FPS * 10), 255]).all()
    expected = np.array([features.bass[k], features.bands[k, 3], (features.waveform[k, 0] + 1) * 0.5]) * 255
    assert np.abs(image[:, 32:, :3].astype(float) - expected).max() <= 1.0
    assert (image[..., 3] == 255).all()


def test_shader_output_is_premultiplied_and_uv_points_up(tmp_path):
    path = write_shader(tmp_path, "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {\n"
                                  "    return vec4<f32>(1.0, 0.0, 0.0, select(0.0, 0.6, uv.y > 0.5));\n}\n")
    image = render([{"type": "shader", "file": path}], None, 0, w=16, h=16, background="#0000ff")
    # Red at 60% over blue in the top half, plain blue below.
    assert np.abs(image[0, 0].astype(int) - [153, 0, 102, 255]).max() <= 1
    assert (image[15, 15] == [0, 0, 255, 255]).all()


def test_shader_reference_and_example(features):
    from gpurender.scene import load_scene
    from gpurender.render.renderer import FrameRenderer

    image = FrameRenderer(load_scene(ROOT / "examples" / "shader.toml"), features, W, H, FPS).render_rgba(12)
    assert image[..., :3].any()
    assert_matches_reference("shader_rings", image)


def test_shader_phase_integrates_speed(features, tmp_path):
    path = write_shader(tmp_path, "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> { return vec4<f32>(1.0); }")
    r = renderer([{"type": "shader", "file": path, "speed": {"feature": "rms", "scale": 2.0}}], features)
    layer = r.layers[0]
    rms2 = 2.0 * np.asarray(features.rms, np.float64)
    for k in (0, 1, 5, features.n_frames - 1):
        assert layer.phase(r.frame_info(k)) == pytest.approx(rms2[:k].sum() / FPS)
    constant = renderer([{"type": "shader", "file": path, "speed": 0.5}], features).layers[0]
    assert constant.phase(r.frame_info(12)) == pytest.approx(0.5 * 12 / FPS)


@pytest.mark.parametrize("body, line", [
    ("fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {\n"
     "    let x = 1.0;\n"
     "    let y = undefined_thing(x);\n"
     "    return vec4<f32>(y);\n}\n", 3),
    ("// a helper that returns the wrong type\n"
     "fn helper() -> f32 {\n"
     "    return vec2<f32>(1.0);\n}\n"
     "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {\n"
     "    return vec4<f32>(helper());\n}\n", 3),
    ("fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {\n"
     "    return vec4<f32>(1.0)\n}\n", 3),
])
def test_shader_compile_error_names_the_users_file_and_line(tmp_path, features, body, line):
    path = write_shader(tmp_path, body, "broken.wgsl")
    with pytest.raises(SceneError) as info:
        renderer([{"type": "shader", "file": path}], features)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}") and "\n" not in message
    # The process-wide device is still usable afterwards.
    good = write_shader(tmp_path, "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> "
                                  "{ return vec4<f32>(0.0, 1.0, 0.0, 1.0); }")
    assert (render([{"type": "shader", "file": good}], features, 0, w=8, h=8) == [0, 255, 0, 255]).all()


def test_shader_wrong_signature_or_missing_file(tmp_path, features):
    wrong = write_shader(tmp_path, "fn shade(uv: vec2<f32>) -> vec4<f32> { return vec4<f32>(1.0); }")
    with pytest.raises(SceneError, match=r"shade\(uv: vec2<f32>, px: vec2<f32>\)"):
        renderer([{"type": "shader", "file": wrong}], features)
    none = write_shader(tmp_path, "fn paint() -> f32 { return 1.0; }", "none.wgsl")
    with pytest.raises(SceneError, match="defines no shade function"):
        renderer([{"type": "shader", "file": none}], features)
    with pytest.raises(SceneError, match="does not exist"):
        renderer([{"type": "shader", "file": str(tmp_path / "missing.wgsl")}], features)
    with pytest.raises(SceneError, match="exactly one"):
        renderer([{"type": "shader"}], features)


def test_shader_error_parsing_without_gpu():
    from gpurender.render.layers.shader import compose_source, user_error_message

    code, offset = compose_source("fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> { return vec4<f32>(1.0); }")
    assert code.splitlines()[offset].startswith("fn shade(")
    message = (
        "Validation Error\n\nCaused by:\n  In wgpuDeviceCreateShaderModule\n\n"
        "Shader 'x' parsing error: unknown identifier\n"
        f"  ┌─ wgsl:{offset + 4}:9\n  │\n"
        f"{offset + 4} │   let a = nope;\n  │           ^^^^ unknown identifier\n"
    )
    line = user_error_message(message, offset, 10, "mine.wgsl")
    assert line.startswith("mine.wgsl:4:9: WGSL error: unknown identifier")
    # A problem reported in gpurender's own part names the user's file and the expected signature.
    wrapper = message.replace(str(offset + 4), "3")
    assert "fn shade(uv: vec2<f32>, px: vec2<f32>)" in user_error_message(wrapper, offset, 10, "mine.wgsl")


def test_shader_inline_code(features):
    layer = {"type": "shader", "name": "glow",
             "code": "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> { return vec4<f32>(0.0, 0.0, 1.0, 1.0); }"}
    assert (render([layer], features, 0, w=8, h=8) == [0, 0, 255, 255]).all()
    broken = {**layer, "code": "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {\n  return nope;\n}\n"}
    with pytest.raises(SceneError, match=r"^<glow code>:2:"):
        renderer([broken], features)


# ---- examples -------------------------------------------------------------------------------


def test_particles_example_renders_the_same_chunked(features):
    from gpurender.scene import load_scene
    from gpurender.render.renderer import FrameRenderer

    scene = load_scene(ROOT / "examples" / "particles.toml")
    assert any(layer.type == "particles" for layer in scene.layers)
    w, h = 128, 96
    whole = [rgba for _, rgba in FrameRenderer(scene, features, w, h, FPS).frames(0, 24, output="rgba")]
    last_chunk = [rgba for _, rgba in FrameRenderer(scene, features, w, h, FPS).frames(18, 6, output="rgba")]
    assert len(last_chunk) == 6 and all(np.array_equal(a, b) for a, b in zip(last_chunk, whole[18:]))
    assert_matches_reference("particles_example", whole[-1])
