"""Parameter declarations of the effect layer types: ``particles``, ``waveform`` and ``shader``.

The data side only (no GPU library): names, defaults, kinds and help for each parameter. Their
renderers live in ``gpurender/render/layers/particles.py``, ``waveform.py`` and ``shader.py``.
Every ``number`` parameter may be bound to an audio feature.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SceneError
from .model import ParamSpec as P
from .model import register_layer_type

#: Scalar audio features a ``particles`` burst can be triggered by.
BURST_TRIGGERS = ("none", "beat", "onset")
#: Most particles one layer may hold: a particle takes 32 bytes of one storage buffer, and no
#: adapter binds more than 2**32 - 1 bytes (wgpu's limit is a u32); the adapter in use may allow
#: fewer, which the renderer checks.
MAX_PARTICLES = (2 ** 32 - 1) // 32
#: The function a ``shader`` layer's WGSL defines.
SHADE_SIGNATURE = "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32>"
DEFINES_SHADE = re.compile(r"\bfn\s+shade\s*\(")


def read_shader_code(params: dict, place) -> tuple[str, str | None]:
    """A ``shader`` layer's WGSL and the file it came from (None for inline ``code``);
    :class:`SceneError` at ``place(key)`` when neither or both are given or the file is unreadable."""
    file, code = params.get("file"), params.get("code")
    if bool(file) == bool(code):
        raise SceneError(f"{place('file')}: give either file = \"shade.wgsl\" or code = \"...\" (exactly one)")
    if code:
        return code, None
    path = Path(file)
    if not path.is_file():
        raise SceneError(f"{place('file')}: shader file {str(path)!r} does not exist; check the path "
                         "(relative paths are relative to the scene file)")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(f"{place('file')}: shader file {str(path)!r} cannot be read: {exc}") from None


def _check_shader(params: dict, place, placeholders) -> None:
    code, file = read_shader_code(params, place)
    if not DEFINES_SHADE.search(code):
        what = f"shader file {file!r}" if file else "the code"
        raise SceneError(f"{place('file' if file else 'code')}: {what} defines no shade function; "
                         f"declare `{SHADE_SIGNATURE}`")

register_layer_type(
    "particles",
    {
        "count": P(20000, "int", help="most particles alive at once; the oldest are replaced first",
                   limits=(1, MAX_PARTICLES)),
        "seed": P(0, "int", help="seed of the particle generator: same seed, same frames", limits=(0, 2 ** 32 - 1)),
        "space": P("world", "str", ("world", "screen"),
                   "world: seen through the camera; screen: x, y in -1..1 of the frame height, no camera"),
        "substeps": P(1, "int", help="simulation steps per frame (the step is 1 / (fps * substeps))",
                      limits=(1, 64)),
        "rate": P(2000.0, help="particles emitted per second"),
        "burst": P(0.0, help="particles emitted at once on each trigger (see burst_on)"),
        "burst_on": P("beat", "str", BURST_TRIGGERS,
                      "trigger of bursts: a detected beat, an onset above 0.5, or none"),
        "x": P(0.0, help="emitter position x"),
        "y": P(0.0, help="emitter position y"),
        "z": P(0.0, help="emitter position z"),
        "radius": P(0.05, help="particles are born uniformly inside a sphere of this radius"),
        "direction": P((0.0, 1.0, 0.0), "vec3", help="main direction of emission"),
        "spread": P(30.0, help="half-angle of the emission cone in degrees (180: all directions)"),
        "speed": P(1.0, help="initial speed in units per second"),
        "speed_jitter": P(0.3, help="random fraction taken off the initial speed", limits=(0, 1)),
        "life": P(2.0, help="lifetime in seconds"),
        "life_jitter": P(0.3, help="random fraction taken off the lifetime", limits=(0, 1)),
        "gravity": P(0.5, help="downward (-y) acceleration in units per second squared"),
        "drag": P(0.2, help="velocity damping per second (velocity *= exp(-drag * dt))"),
        "swirl": P(0.0, help="acceleration around the emitter's axis (y in world, z in screen space)"),
        "turbulence": P(0.0, help="strength of a smooth, time-varying random acceleration field"),
        "turbulence_scale": P(2.0, help="spatial frequency of the turbulence field"),
        "size": P(6.0, help="sprite diameter in pixels at birth", unit="px"),
        "size_end": P(0.3, help="sprite diameter at the end of life, as a fraction of size"),
        "color": P("#ffd070", "color", help="colour at birth"),
        "color_end": P("#ff300000", "color", help="colour at the end of life (alpha 0 fades out)"),
        "softness": P(0.5, help="fraction of the sprite radius faded at its edge", limits=(0, 1)),
        "brightness": P(1.0, help="multiplies the colours"),
        "draw": P("additive", "str", ("blend", "additive"), "blend: premultiplied over; additive: glow"),
    },
    help="a GPU particle system with emitters and forces, simulated with a fixed time step",
    renderer="gpurender.render.layers.particles:ParticlesRenderer",
)

register_layer_type(
    "waveform",
    {
        "style": P("line", "str", ("line", "filled"),
                   "line: the wave as a line; filled: the area between the centre line and the wave"),
        "color": P("#ffffff", "color", help="colour of the line (filled: of the outline)"),
        "fill_color": P(None, "color", help="colour of the filled area (default: color at half alpha)"),
        "thickness": P(2.0, help="line width in pixels (filled: outline width, 0 for none)", unit="px"),
        "x": P(0.0, help="left end, fraction of the frame width"),
        "width": P(1.0, help="length, fraction of the frame width"),
        "y": P(0.5, help="centre line, fraction of the frame height from the bottom"),
        "height": P(0.3, help="distance between -1 and +1 samples, fraction of the frame height"),
        "gain": P(1.0, help="multiplies the samples (the result is clipped to -1..1)"),
    },
    help="the frame's audio samples as a line or a filled shape",
    renderer="gpurender.render.layers.waveform:WaveformRenderer",
)

register_layer_type(
    "shader",
    {
        "file": P(None, "path", help=f"WGSL file defining {SHADE_SIGNATURE} (give file or code)"),
        "code": P(None, "str", help="the same WGSL inline, instead of a file"),
        "param1": P(0.0, help="free value passed to the shader as inputs.params.x"),
        "param2": P(0.0, help="free value passed to the shader as inputs.params.y"),
        "param3": P(0.0, help="free value passed to the shader as inputs.params.z"),
        "param4": P(0.0, help="free value passed to the shader as inputs.params.w"),
        "speed": P(1.0, help="rate of inputs.phase, which advances by speed * dt each frame (bind it to "
                            "make motion follow the music without jumps)"),
    },
    help="a user's WGSL function shading every pixel, with time and the audio features as inputs",
    check=_check_shader,
    renderer="gpurender.render.layers.shader:ShaderRenderer",
)
