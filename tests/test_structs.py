"""GPU parameter structs are declared once (gpurender.render.structs): their layouts follow WGSL's
storage rules, the shaders include them, and the WGSL compiler on the device agrees with every offset."""

import re
from pathlib import Path

import numpy as np
import pytest

from gpurender.render import structs
from gpurender.render.shaderlib import load_wgsl
from gpurender.render.structs import STRUCTS, GpuStruct, array, wgsl_type

ROOT = Path(__file__).resolve().parents[1]
SHADERS = sorted((ROOT / "shaders").glob("*.wgsl"))


# ---- layout rules, by hand ----------------------------------------------------------------------


@pytest.mark.parametrize("name, align, size", [
    ("f32", 4, 4), ("u32", 4, 4), ("i32", 4, 4),
    ("vec2<f32>", 8, 8), ("vec3<f32>", 16, 12), ("vec4<u32>", 16, 16), ("vec4<i32>", 16, 16),
    ("mat4x4<f32>", 16, 64), ("mat2x2<f32>", 8, 16), ("mat3x4<f32>", 16, 48), ("mat4x2<f32>", 8, 32),
    ("array<f32, 5>", 4, 20), ("array<vec2<f32>, 3>", 8, 24), ("array<vec4<u32>, 32>", 16, 512),
])
def test_alignment_and_size_of_each_type(name, align, size):
    t = wgsl_type(name)
    assert (t.align, t.size, t.dtype.itemsize) == (align, size, size)


@pytest.mark.parametrize("name", ["bool", "f16", "vec3<bool>", "mat3x3<f32>", "array<vec3<f32>, 2>", "array<f32>"])
def test_unsupported_types_are_refused(name):
    with pytest.raises(ValueError, match="supported"):
        wgsl_type(name)


def test_the_wgsl_specs_own_example():
    """The example of WGSL's "Structure Member Layout" section: offsets, alignments and sizes."""
    a = GpuStruct("A", [("u", "f32"), ("v", "f32"), ("w", "vec2<f32>"), ("x", "f32")])
    assert a.offsets == {"u": 0, "v": 4, "w": 8, "x": 16} and (a.align, a.size) == (8, 24)
    b = GpuStruct("B", [("a", "vec2<f32>"), ("b", "vec3<f32>"), ("c", "f32"), ("d", "f32"), ("e", a),
                        ("f", "vec3<f32>"), ("g", array(a, 3)), ("h", "i32")])
    assert b.offsets == {"a": 0, "b": 16, "c": 28, "d": 32, "e": 40, "f": 64, "g": 80, "h": 152}
    assert (b.align, b.size, b.dtype.itemsize) == (16, 160, 160)
    assert b.field("g").type.stride == 24 or b.field("g").type.element.stride == 24
    assert b.dependencies() == [a]


# Offsets worked out by hand from the rules for the structs with the most padding; they are also
# the layouts the shaders declared by hand before the structs were declared once.
HAND = {
    "PointsParams": ({"view_proj": 0, "model": 64, "viewport": 128, "size": 136, "softness": 140,
                      "brightness": 144, "antialias": 148}, 160),
    "Particle": ({"pos": 0, "age": 12, "vel": 16, "life": 28}, 32),
    "ParticlesStep": ({"emitter": 0, "radius": 12, "direction": 16, "spread_cos": 28, "axis": 32, "speed": 44,
                       "seed": 48, "substeps": 68, "frame_dt": 72, "spread": 112, "screen": 116}, 128),
    "ParticlesDraw": ({"view_proj": 0, "viewport": 64, "size": 72, "size_end": 76, "color": 80, "color_end": 96,
                       "softness": 112, "brightness": 116, "antialias": 120}, 128),
    "WaveformParams": ({"color": 0, "fill_color": 16, "viewport": 32, "frame": 40, "n_samples": 44, "left": 48,
                        "filled": 72, "opacity": 80}, 96),
    "SpectrumParams": ({"viewport": 32, "frame": 40, "style": 52, "radius": 72, "opacity": 80}, 96),
    "QuadParams": ({"rect": 0, "src_size": 16, "filtered": 24, "opacity": 32}, 48),
    "ShaderInputs": ({"resolution": 0, "time": 8, "frame": 12, "gpurender_row": 32, "params": 48}, 64),
    "SplatParams": ({"view_proj": 0, "viewport": 64, "count": 80, "depth_near": 96, "depth_levels": 108,
                     "samples": 112, "tiles_x": 124}, 128),
    "I420Video": ({"background": 0, "title_color": 16, "title_rect": 32, "title_stride": 48, "stride": 60,
                   "title_tiles": 64}, 80),
    "StackLayer": ({"rect": 0, "mode": 16, "opacity": 20}, 32),
    "Stack": ({"background": 0, "layers": 16}, 16 + 32 * 32),
    "YuvParams": ({"width": 0, "p010": 16, "gain": 20}, 24),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_offsets_worked_out_by_hand(name):
    offsets, size = HAND[name]
    s = STRUCTS[name]
    assert {k: s.offsets[k] for k in offsets} == offsets and s.size == size


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_every_struct_follows_the_rules(name):
    s = STRUCTS[name]
    end = 0
    for f in s.fields:
        assert f.offset % f.type.align == 0, f.name
        assert f.offset == -(-end // f.type.align) * f.type.align, f"{f.name}: not at the next aligned offset"
        end = f.offset + f.type.size
        assert s.dtype.fields[f.name][1] == f.offset
    assert s.align == max(f.type.align for f in s.fields)
    assert s.size == -(-end // s.align) * s.align == s.dtype.itemsize
    # the WGSL text lists the same fields and types, in order
    body = re.search(r"struct (\w+) \{\n(.*?)\n\};", s.wgsl(), re.S)
    assert body.group(1) == name
    declared = re.findall(r"^\s+(\w+): ([^,]+(?:, \d+>)?),", body.group(2), re.M)
    assert declared == [(f.name, f.type.wgsl) for f in s.fields]


def test_audio_features_follow_the_feature_list():
    from gpurender.audio.features import feature_names

    names = [f.name for f in structs.AUDIO_FEATURES.fields]
    assert names[:len(feature_names())] == list(feature_names()) and len(names) % 4 == 0


# ---- filling by name ----------------------------------------------------------------------------


def test_pack_puts_each_value_at_its_offset():
    data = structs.WAVEFORM.pack(color=(1, 2, 3, 4), fill_color=(5, 6, 7, 8), viewport=(640, 360), frame=7,
                                 n_samples=512, left=1.5, span=2.5, centre=3.5, amplitude=4.5, gain=5.5,
                                 thickness=6.5, filled=1, antialias=1, opacity=0.25)
    assert data.dtype == np.uint8 and data.shape == (structs.WAVEFORM.size,)
    words = data.view(np.float32)
    ints = data.view(np.uint32)
    off = structs.WAVEFORM.offsets
    assert list(words[:8]) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert ints[off["frame"] // 4] == 7 and ints[off["filled"] // 4] == 1
    assert words[off["thickness"] // 4] == 6.5 and words[off["opacity"] // 4] == 0.25


def test_pack_refuses_missing_unknown_and_misshapen_fields():
    quad = structs.QUAD
    with pytest.raises(ValueError, match="missing filtered"):
        quad.pack(rect=(0, 0, 1, 1), src_size=(1, 1))
    with pytest.raises(ValueError, match="no field nearest"):
        quad.pack(rect=(0, 0, 1, 1), src_size=(1, 1), filtered=0, antialias=1, opacity=1, nearest=1)
    with pytest.raises(ValueError, match="shape"):
        quad.pack(rect=1.0, src_size=(1, 1), filtered=0, antialias=1, opacity=1)  # a scalar would silently fill the vec4
    with pytest.raises(ValueError, match="shape"):
        quad.pack(rect=(0, 0, 1), src_size=(1, 1), filtered=0, antialias=1, opacity=1)


def test_pack_fills_an_array_of_structs():
    rect = (0, 0, 64, 48)
    data = structs.STACK.pack(background=(0.1, 0.2, 0.3, 1.0),
                              layers=[{"rect": rect, "mode": 3, "opacity": 0.5},
                                      {"rect": (1, 2, 3, 4), "mode": 16, "opacity": 1.0}])
    rec = data.view(structs.STACK.dtype)[0]
    assert list(rec["layers"]["mode"][:3]) == [3, 16, 0] and rec["layers"]["opacity"][0] == np.float32(0.5)
    assert list(rec["layers"]["rect"][1]) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="missing opacity"):
        structs.STACK.pack(background=(0, 0, 0, 1), layers=[{"rect": rect, "mode": 3}])
    with pytest.raises(ValueError, match="at most 32"):
        structs.STACK.pack(background=(0, 0, 0, 1), layers=[{"rect": rect, "mode": 0, "opacity": 1.0}] * 33)


# ---- the shaders include them --------------------------------------------------------------------


def _included_structs(path: Path) -> list[str]:
    return re.findall(r'^\s*//#include "struct (\w+)"', path.read_text(), re.M)


def test_shaders_include_the_declarations_instead_of_their_own():
    included = {name for path in SHADERS for name in _included_structs(path)}
    # every declared struct is used by some shader, directly or inside another
    used = included | {d.name for name in included for d in STRUCTS[name].dependencies()}
    assert used == set(STRUCTS)
    for path in SHADERS:
        text = path.read_text()
        own = set(re.findall(r"^struct (\w+)", text, re.M))
        assert not own & set(STRUCTS), f"{path.name} declares {own & set(STRUCTS)} by hand"
        composed = load_wgsl(path.name)
        for name in _included_structs(path):
            assert composed.count(f"struct {name} {{") == 1
            assert STRUCTS[name].wgsl() in composed


def test_a_struct_used_twice_is_declared_once():
    # particles.wgsl and particles_draw.wgsl both include Particle; Stack brings StackLayer
    assert load_wgsl("composite.wgsl").count("struct StackLayer {") == 1
    text = structs.declaration("Stack")
    assert text.index("struct StackLayer") < text.index("struct Stack ")


def test_an_unknown_struct_fails_loudly(tmp_path, monkeypatch):
    from gpurender.render import shaderlib

    (tmp_path / "broken.wgsl").write_text('//#include "struct NoSuchParams"\n')
    monkeypatch.setattr(shaderlib, "_shader_root", lambda: tmp_path)
    shaderlib._read.cache_clear()
    shaderlib.load_wgsl.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"broken\.wgsl.*NoSuchParams.*declared: .*PointsParams"):
            shaderlib.load_wgsl("broken.wgsl")
    finally:
        shaderlib._read.cache_clear()
        shaderlib.load_wgsl.cache_clear()


# ---- the compiler on the device agrees ----------------------------------------------------------


def _probe_source(s: GpuStruct) -> tuple[str, list]:
    """A compute shader that copies every scalar of ``s`` (as bits) into ``out``, after the length
    of an array of ``s`` that fills a buffer of 1000 structs of our size."""
    leaves = s.type.leaves("s")
    lines = [f"    out[{i + 1}u] = bitcast<u32>({leaf.expr});" for i, leaf in enumerate(leaves)]
    source = (structs.declaration(s.name)
              + f"@group(0) @binding(0) var<storage, read> s: {s.name};\n"
              + f"@group(0) @binding(1) var<storage, read> many: array<{s.name}>;\n"
              + "@group(0) @binding(2) var<storage, read_write> out: array<u32>;\n"
              + "@compute @workgroup_size(1)\nfn main() {\n    out[0u] = arrayLength(&many);\n"
              + "\n".join(lines) + "\n}\n")
    return source, leaves


@pytest.mark.parametrize("name", sorted(STRUCTS))
def test_the_device_reads_every_field_where_we_write_it(device, name):
    import wgpu

    s = STRUCTS[name]
    source, leaves = _probe_source(s)
    # distinct words, each a normal float (so no float path could flush or canonicalise them)
    words = (np.arange(1000 * s.size // 4, dtype=np.float32) + 1.0).view(np.uint32)
    usage = wgpu.BufferUsage
    src = device.create_buffer_with_data(data=words, usage=usage.STORAGE)
    out = device.create_buffer(size=4 * (len(leaves) + 1), usage=usage.STORAGE | usage.COPY_SRC)
    pipeline = device.create_compute_pipeline(
        layout="auto", compute={"module": device.create_shader_module(code=source), "entry_point": "main"})
    group = device.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": src, "offset": 0, "size": s.size}},
        {"binding": 1, "resource": {"buffer": src}},
        {"binding": 2, "resource": {"buffer": out}},
    ])
    encoder = device.create_command_encoder()
    cpass = encoder.begin_compute_pass()
    cpass.set_pipeline(pipeline)
    cpass.set_bind_group(0, group)
    cpass.dispatch_workgroups(1)
    cpass.end()
    device.queue.submit([encoder.finish()])
    got = np.frombuffer(bytes(device.queue.read_buffer(out)), np.uint32)
    assert got[0] == 1000, f"{name}: the compiler's size differs from {s.size}"
    expected = [words[leaf.offset // 4] for leaf in leaves]
    wrong = [(leaf.expr, leaf.offset) for leaf, a, b in zip(leaves, got[1:], expected) if a != b]
    assert not wrong, f"{name}: the compiler places these elsewhere: {wrong[:5]}"
