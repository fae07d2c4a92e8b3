"""The parameter structs gpurender's shaders read, each declared once: layout, NumPy dtype, WGSL text.

A :class:`GpuStruct` lists a struct's fields with their WGSL types. From that one list it works out
the layout WGSL gives the struct in the storage address space (WGSL spec, "Memory Layout": each
member at the next multiple of its type's alignment; vec3 aligns to 16 but takes 12 bytes; a
matrix is an array of column vectors; the struct's size is rounded up to its largest alignment),
a NumPy structured dtype with exactly those offsets, and the struct's WGSL declaration. A shader
takes the declaration with an include line, ``//#include "struct WaveformParams"`` (resolved by
:mod:`.shaderlib`), and its renderer fills the struct by field name (:meth:`GpuStruct.pack`), so
adding, removing or moving a field is one edit here. Parameters live in read-only storage buffers
(see :func:`.shaderlib.params_buffer`), whose layout rules these are; the uniform address space
would add rules (16-byte array strides) that no struct here needs.

Every struct a shader includes is in :data:`STRUCTS`; tests check each one's offsets against the
rules by hand and against the WGSL compiler on the device (a shader copies every field back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..audio.features import feature_names
from ..scene.model import MAX_LAYERS

_SCALARS = {"f32": "<f4", "u32": "<u4", "i32": "<i4"}
_VEC = re.compile(r"vec([234])<(f32|u32|i32)>")
_MAT = re.compile(r"mat([234])x([234])<f32>")
_ARRAY = re.compile(r"array<\s*(.+?)\s*,\s*(\d+)\s*>")


def _round_up(n: int, align: int) -> int:
    return -(-n // align) * align


@dataclass(frozen=True)
class Leaf:
    """One scalar of a struct: the WGSL expression that reads it (relative to the struct value),
    its byte offset and its scalar type. Tests use these to check offsets on the device."""

    expr: str
    offset: int
    scalar: str


class WgslType:
    """A host-shareable WGSL type: its alignment, size, WGSL name and NumPy dtype (storage rules)."""

    def __init__(self, wgsl: str, align: int, size: int, dtype, leaves, element=None):
        self.wgsl, self.align, self.size, self.dtype = wgsl, align, size, dtype
        self._leaves = leaves  # [(expr suffix, offset, scalar)]
        self.element = element  # an array's element type
        self.struct = None  # the GpuStruct, for a struct type

    @property
    def stride(self) -> int:
        """Bytes from one element to the next in an array of this type."""
        return _round_up(self.size, self.align)

    def leaves(self, prefix: str = "", offset: int = 0) -> list[Leaf]:
        return [Leaf(prefix + expr, offset + at, scalar) for expr, at, scalar in self._leaves]

    def __repr__(self) -> str:
        return f"WgslType({self.wgsl!r}, align={self.align}, size={self.size})"


def wgsl_type(spec) -> WgslType:
    """The :class:`WgslType` of ``spec``: a WGSL type name (``"f32"``, ``"vec3<f32>"``,
    ``"mat4x4<f32>"``, ``"array<vec4<u32>, 8>"``), a :class:`GpuStruct` or an :func:`array` of one."""
    if isinstance(spec, WgslType):
        return spec
    if isinstance(spec, GpuStruct):
        return spec.type
    if not isinstance(spec, str):
        raise TypeError(f"not a WGSL type: {spec!r}")
    name = spec.replace(" ", "")
    if name in _SCALARS:
        return WgslType(name, 4, 4, np.dtype(_SCALARS[name]), [("", 0, name)])
    m = _VEC.fullmatch(name)
    if m:
        n, scalar = int(m.group(1)), m.group(2)
        align = 8 if n == 2 else 16
        return WgslType(name, align, 4 * n, np.dtype((_SCALARS[scalar], (n,))),
                        [(f".{'xyzw'[i]}", 4 * i, scalar) for i in range(n)])
    m = _MAT.fullmatch(name)
    if m:
        cols, rows = int(m.group(1)), int(m.group(2))
        column = wgsl_type(f"vec{rows}<f32>")
        if column.stride != column.size:
            # a padded column has no plain NumPy subarray layout; no shader needs one yet
            raise ValueError(f"{name}: matrices with 3 rows are not supported (their columns are padded)")
        leaves = [(f"[{c}]{expr}", c * column.stride + at, s) for c in range(cols) for expr, at, s in column._leaves]
        return WgslType(name, column.align, cols * column.stride, np.dtype(("<f4", (cols, rows))), leaves)
    m = _ARRAY.fullmatch(name)
    if m:
        return array(m.group(1), int(m.group(2)))
    raise ValueError(f"unsupported WGSL type {spec!r}; use f32, u32, i32, vecN<T>, matCxR<f32>, array<T, N> "
                     "or a GpuStruct")


def array(element, count: int) -> WgslType:
    """A fixed-size WGSL array ``array<element, count>`` (element: a type name or a GpuStruct)."""
    elem = wgsl_type(element)
    if count < 1:
        raise ValueError(f"array<{elem.wgsl}, {count}>: the count must be at least 1")
    if elem.stride != elem.size:
        raise ValueError(f"array<{elem.wgsl}, {count}>: elements padded to their alignment (vec3) are not "
                         "supported; use a vec4 or a struct")
    dtype = np.dtype((elem.dtype, (count,)))
    leaves = [(f"[{i}]{expr}", i * elem.stride + at, s) for i in range(count) for expr, at, s in elem._leaves]
    return WgslType(f"array<{elem.wgsl}, {count}>", elem.align, count * elem.stride, dtype, leaves, element=elem)


@dataclass(frozen=True)
class Field:
    name: str
    type: WgslType
    offset: int
    help: str = ""
    struct: "GpuStruct | None" = None  # the struct type of the field or of its array elements


class GpuStruct:
    """A WGSL struct declared once: ``GpuStruct("Name", [(field, type[, help]), ...], help)``.

    ``type`` is a WGSL type name, another :class:`GpuStruct`, or :func:`array` of either. Gives
    :attr:`offsets`, :attr:`size`, :attr:`dtype`, :meth:`wgsl` (the declaration, nested structs
    first) and :meth:`pack` (the bytes to upload, filled by field name).
    """

    def __init__(self, name: str, fields, help: str = ""):
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ValueError(f"bad WGSL struct name {name!r}")
        self.name, self.help = name, help
        placed, offset, align = [], 0, 1
        for entry in fields:
            fname, spec, *rest = entry
            if any(f.name == fname for f in placed):
                raise ValueError(f"{name}.{fname}: declared twice")
            t = wgsl_type(spec)
            nested = t.struct or (t.element.struct if t.element is not None else None)
            offset = _round_up(offset, t.align)
            placed.append(Field(fname, t, offset, rest[0] if rest else "", nested))
            offset += t.size
            align = max(align, t.align)
        if not placed:
            raise ValueError(f"{name}: a struct needs at least one field")
        self.fields: tuple[Field, ...] = tuple(placed)
        self.align = align
        self.size = _round_up(offset, align)
        self.dtype = np.dtype({"names": [f.name for f in placed], "formats": [f.type.dtype for f in placed],
                               "offsets": [f.offset for f in placed], "itemsize": self.size})
        leaves = [(f".{f.name}{expr}", f.offset + at, s) for f in placed for expr, at, s in f.type._leaves]
        self.type = WgslType(name, align, self.size, self.dtype, leaves)
        self.type.struct = self

    @property
    def offsets(self) -> dict[str, int]:
        return {f.name: f.offset for f in self.fields}

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}; fields: {', '.join(f.name for f in self.fields)}")

    def dependencies(self) -> list["GpuStruct"]:
        """The structs this one uses, innermost first (each once)."""
        out: list[GpuStruct] = []
        for f in self.fields:
            if f.struct is not None:
                for s in f.struct.dependencies() + [f.struct]:
                    if s not in out:
                        out.append(s)
        return out

    def wgsl(self) -> str:
        """This struct's WGSL declaration (not the structs it uses: see :func:`declaration`)."""
        lines = [f"// {line}" for line in self.help.splitlines()] if self.help else []
        lines.append(f"struct {self.name} {{")
        for f in self.fields:
            comment = f"  // {f.help}" if f.help else ""
            lines.append(f"    {f.name}: {f.type.wgsl},{comment}")
        lines.append("};")
        return "\n".join(lines) + "\n"

    def zeros(self) -> np.ndarray:
        """A zeroed record (a 0-d structured array) to fill by field name, ``rec["frame"] = 3``."""
        return np.zeros((), dtype=self.dtype)

    def pack(self, **values) -> np.ndarray:
        """The struct's bytes (``uint8 [size]``) with every field given by name.

        A missing or unknown field, or a value of the wrong shape, raises ValueError: a field added
        to the declaration cannot be forgotten by the code that fills it. A nested struct takes a
        dict, an array of structs a sequence of dicts (or a structured array).
        """
        rec = self.zeros()
        self._fill(rec, values)
        return as_bytes(rec)

    def _fill(self, rec, values: dict) -> None:
        names = {f.name for f in self.fields}
        unknown = sorted(set(values) - names)
        missing = [f.name for f in self.fields if f.name not in values]
        if unknown or missing:
            raise ValueError(f"{self.name}: " + "; ".join(
                part for part in (f"no field {', '.join(unknown)}" if unknown else "",
                                  f"missing {', '.join(missing)}" if missing else "") if part))
        for f in self.fields:
            value = values[f.name]
            if f.type.struct is not None and isinstance(value, dict):
                f.struct._fill(rec[f.name], value)
                continue
            if f.struct is not None and f.type.element is not None and not isinstance(value, np.ndarray):
                count = f.type.dtype.shape[0]
                if len(value) > count:
                    raise ValueError(f"{self.name}.{f.name}: {len(value)} elements, at most {count}")
                for i, item in enumerate(value):
                    f.struct._fill(rec[f.name][i], item)  # elements not given stay zero
                continue
            shape = f.type.dtype.shape
            if f.struct is None and np.shape(value) != shape:
                raise ValueError(f"{self.name}.{f.name}: a {f.type.wgsl} takes shape {shape}, "
                                 f"not {np.shape(value)}")
            rec[f.name] = value

    def __repr__(self) -> str:
        return f"GpuStruct({self.name!r}, size={self.size})"


def as_bytes(record: np.ndarray) -> np.ndarray:
    """The bytes of a record from :meth:`GpuStruct.zeros`, as ``uint8 [size]`` to upload."""
    return np.ascontiguousarray(record).reshape(1).view(np.uint8)


def declaration(name: str) -> str:
    """The WGSL text of :data:`STRUCTS` ``[name]`` preceded by the structs it uses (for an include)."""
    try:
        struct = STRUCTS[name]
    except KeyError:
        raise KeyError(f"no GPU struct {name!r} in gpurender.render.structs; declared: {', '.join(STRUCTS)}") from None
    return "".join(s.wgsl() for s in struct.dependencies() + [struct])


# ---- the declarations ------------------------------------------------------------------------

_S = GpuStruct

POINTS = _S("PointsParams", [
    ("view_proj", "mat4x4<f32>", "clip from world (the camera)"),
    ("model", "mat4x4<f32>", "world from the cloud's own space"),
    ("viewport", "vec2<f32>", "output size in pixels"),
    ("size", "f32", "sprite diameter in pixels"),
    ("softness", "f32", "fraction of the sprite radius faded at its edge, 0..1"),
    ("brightness", "f32", "multiplies the colours"),
    ("antialias", "u32", "1: a hard edge (softness 0) is weighted by pixel coverage"),
], "A points layer's sprites (points.wgsl).")

PARTICLE = _S("Particle", [
    ("pos", "vec3<f32>"),
    ("age", "f32", "seconds since birth"),
    ("vel", "vec3<f32>"),
    ("life", "f32", "seconds; 0 for a slot never used"),
], "One particle of the pool, the state the particles layer keeps on the GPU.")

PARTICLES_STEP = _S("ParticlesStep", [
    ("emitter", "vec3<f32>"),
    ("radius", "f32"),
    ("direction", "vec3<f32>", "unit length"),
    ("spread_cos", "f32", "cosine of the cone's half-angle"),
    ("axis", "vec3<f32>", "swirl axis (unit length)"),
    ("speed", "f32"),
    ("seed", "u32"),
    ("frame", "u32"),
    ("head", "u32", "first slot of this frame's newborns"),
    ("n_emit", "u32"),
    ("capacity", "u32"),
    ("substeps", "u32"),
    ("frame_dt", "f32", "1 / fps"),
    ("time", "f32", "time of the previous frame (start of this step)"),
    ("life", "f32"),
    ("life_jitter", "f32"),
    ("speed_jitter", "f32"),
    ("gravity", "f32"),
    ("drag", "f32"),
    ("swirl", "f32"),
    ("turbulence", "f32"),
    ("turbulence_scale", "f32"),
    ("spread", "f32", "the cone's half-angle in radians (screen space)"),
    ("screen", "u32", "1: particles stay in the z = 0 plane"),
], "One simulation step of the particles layer (particles.wgsl).")

PARTICLES_DRAW = _S("ParticlesDraw", [
    ("view_proj", "mat4x4<f32>"),
    ("viewport", "vec2<f32>", "output size in pixels"),
    ("size", "f32", "diameter in pixels at birth"),
    ("size_end", "f32", "fraction of `size` at the end of life"),
    ("color", "vec4<f32>", "straight RGBA at birth"),
    ("color_end", "vec4<f32>", "straight RGBA at the end of life"),
    ("softness", "f32"),
    ("brightness", "f32"),
    ("antialias", "u32", "1: a hard edge (softness 0) is weighted by pixel coverage"),
], "The particles layer's sprites (particles_draw.wgsl).")

SPECTRUM = _S("SpectrumParams", [
    ("color", "vec4<f32>"),
    ("color_top", "vec4<f32>"),
    ("viewport", "vec2<f32>"),
    ("frame", "u32", "the frame's row in the band table"),
    ("n_bands", "u32"),
    ("bars", "u32"),
    ("style", "u32", "0 bars, 1 mirrored, 2 radial"),
    ("height", "f32"),
    ("base_y", "f32"),
    ("gap", "f32"),
    ("gain", "f32"),
    ("radius", "f32"),
    ("antialias", "u32", "1: edges weighted by pixel coverage"),
    ("opacity", "f32", "the layer's opacity where it draws straight into the composite (else 1: the compositor applies it)"),
], "A spectrum layer's bars (spectrum.wgsl).")

WAVEFORM = _S("WaveformParams", [
    ("color", "vec4<f32>"),
    ("fill_color", "vec4<f32>"),
    ("viewport", "vec2<f32>"),
    ("frame", "u32", "the frame's row in the waveform table"),
    ("n_samples", "u32"),
    ("left", "f32", "pixels from the left edge"),
    ("span", "f32", "pixels from the first to the last sample"),
    ("centre", "f32", "pixels from the bottom edge"),
    ("amplitude", "f32", "pixels from the centre line to a full-scale sample"),
    ("gain", "f32"),
    ("thickness", "f32", "pixels"),
    ("filled", "u32"),
    ("antialias", "u32", "1: edges weighted by pixel coverage"),
    ("opacity", "f32", "the layer's opacity where it draws straight into the composite (else 1: the compositor applies it)"),
], "A waveform layer's line or area (waveform.wgsl).")

QUAD = _S("QuadParams", [
    ("rect", "vec4<f32>", "left, top, width, height in output pixels (y down)"),
    ("src_size", "vec2<f32>", "texels of the texture in use (may be less than its allocation)"),
    ("filtered", "u32", "0: nearest texel, 1: bilinear"),
    ("antialias", "u32", "1: pixels the rectangle's edges cross weighted by the share inside it"),
    ("opacity", "f32", "the layer's opacity where it draws straight into the composite (else 1: the compositor applies it)"),
], "An image or text drawn into a pixel rectangle (image.wgsl).")

SHADER_INPUTS = _S("ShaderInputs", [
    ("resolution", "vec2<f32>"),
    ("time", "f32"),
    ("frame", "u32"),
    ("fps", "f32"),
    ("phase", "f32"),
    ("gpurender_n_bands", "u32"),
    ("gpurender_n_wave", "u32"),
    ("gpurender_row", "u32", "the frame's row in the feature tables (the last row past the track's end)"),
    ("params", "vec4<f32>"),
], "What a shader layer's code may read (user_shader.wgsl).")


def _audio_features() -> GpuStruct:
    names = feature_names()
    pads = -len(names) % 4  # whole vec4s, as the struct has always been
    return _S("AudioFeatures", [(n, "f32") for n in names] + [(f"gpurender_pad{i}", "f32") for i in range(pads)],
              "The frame's scalar audio features, in gpurender.audio.features.FEATURES order.")


AUDIO_FEATURES = _audio_features()

SPLAT = _S("SplatParams", [
    ("view_proj", "mat4x4<f32>"),
    ("viewport", "vec2<f32>"),
    ("radius", "f32", "disc radius in pixels"),
    ("brightness", "f32"),
    ("count", "u32", "points in this frame"),
    ("stride", "u32", "invocations per row of the dispatch grid (workgroups in x * 64)"),
    ("width", "u32", "pixels per row of the keys: the frame's width, or more where a pass needs whole tiles"),
    ("height", "u32"),
    ("depth_near", "f32", "view depth mapped to the highest level"),
    ("depth_far", "f32", "view depth mapped to level 0"),
    ("index_bits", "u32"),
    ("depth_levels", "f32", "2^(32 - index_bits) - 1"),
    ("samples", "u32", "keys per pixel: 1 (hard edges), or 4 (anti-aliased: a rotated grid of samples)"),
    ("tile_w", "u32", "pixels across a tile of the list of touched tiles"),
    ("tile_h", "u32", "pixels down a tile"),
    ("tiles_x", "u32", "tiles per row"),
], "The depth-tested point splat (pointseq.wgsl).")

I420_VIDEO = _S("I420Video", [
    ("background", "vec4<f32>", "sRGB 0..1, opaque"),
    ("title_color", "vec4<f32>", "straight sRGB and alpha"),
    ("title_rect", "vec4<i32>", "left, top, width, height in pixels; width 0 = no title"),
    ("title_stride", "u32", "u32 words per row of coverage (4 coverage bytes per word)"),
    ("tiles_x", "u32", "width / 8"),
    ("tiles", "u32", "tiles_x * height / 2"),
    ("stride", "u32", "invocations per row of the dispatch grid"),
    ("title_tiles", "vec4<u32>", "the tiles the title touches: columns, rows, first column, first row"),
], "The direct I420 resolve of point-cloud exports (pointseq.wgsl).")

STACK_LAYER = _S("StackLayer", [
    ("rect", "vec4<i32>", "the pixels the layer may have drawn: left, top, right, bottom (exclusive); "
                          "outside, it is transparent"),
    ("mode", "u32", "blend mode number: the index in gpurender.render.compositor.BLEND_MODES"),
    ("opacity", "f32", "0..1"),
], "One layer of the compositor's stack.")

STACK = _S("Stack", [
    ("background", "vec4<f32>", "straight RGBA"),
    ("layers", array(STACK_LAYER, MAX_LAYERS), "by layer slot (slice of the layer array)"),
], "The compositor's stack of layers (stack.wgsl).")

YUV = _S("YuvParams", [
    ("width", "u32"),
    ("height", "u32"),
    ("n_words", "u32"),
    ("n_bytes", "u32"),
    ("p010", "u32", "16-bit kernels: 1 for P010, 0 for yuv420p10le"),
    ("gain", "f32", "2^exposure, applied in linear light (tonemap.wgsl)"),
], "The colour conversion of the composite to Y'CbCr 4:2:0 or RGBA (rgba_to_yuv.wgsl).")

PYRAMID_STEP = _S("PyramidStep", [
    ("texel", "vec2<f32>", "1 / the size of the texture sampled (the finer level going down, the coarser going up)"),
    ("out_texel", "vec2<f32>", "1 / the size of the texture drawn"),
    ("fine_weight", "f32", "up and final passes: weight of the finer image (this level's own, or the source)"),
    ("coarse_weight", "f32", "up and final passes: weight of the upsampled coarser level"),
    ("threshold", "f32", "first down pass with prefilter: brightness above which a pixel passes"),
    ("knee", "f32", "half-width of the soft threshold, in brightness (threshold * the layer's knee)"),
    ("prefilter", "u32", "1: the first down pass keeps only what is above the threshold (bloom)"),
], "One pass of the bloom and blur mip chain (effect_pyramid.wgsl).")

TRAILS = _S("TrailsParams", [
    ("warp", "vec4<f32>", "where the previous frame is read: row-major 2x2 matrix taking an output pixel's "
                          "offset from the centre to the offset it reads"),
    ("centre", "vec2<f32>", "the frame's centre, pixels"),
    ("shift", "vec2<f32>", "pixels added to the place read (the drift, y down)"),
    ("keep", "f32", "fraction of the trail kept from one frame to the next"),
    ("weight_a", "f32", "weight of accumulator A in the output (B has 1 - weight_a)"),
    ("restart_a", "u32", "1: accumulator A forgets its history this frame"),
    ("restart_b", "u32", "1: accumulator B forgets its history this frame"),
    ("identity", "u32", "1: the warp is the identity (read texels directly)"),
    ("mode", "u32", "0 max, 1 add"),
], "One frame of the trails layer's two accumulators (effect_trails.wgsl).")

VIGNETTE = _S("VignetteParams", [
    ("color", "vec4<f32>", "premultiplied colour laid over the edges"),
    ("scale", "vec2<f32>", "multiplies the offset from the centre (in pixels) so that a corner is at distance 1"),
    ("strength", "f32"),
    ("radius", "f32", "distance where the fall-off starts"),
    ("softness", "f32", "width of the fall-off"),
], "The vignette layer (effect_vignette.wgsl).")

GRAIN = _S("GrainParams", [
    ("amount", "f32", "standard deviation of the grain in mid-tones"),
    ("cell", "f32", "grain size in output pixels (at least 1)"),
    ("chroma", "f32", "0 monochrome .. 1 independent channels"),
    ("key", "u32", "hash of the layer's seed and the frame's index"),
], "The grain layer (effect_grain.wgsl).")

#: Every struct a shader may include, by WGSL name.
STRUCTS: dict[str, GpuStruct] = {s.name: s for s in (
    POINTS, PARTICLE, PARTICLES_STEP, PARTICLES_DRAW, SPECTRUM, WAVEFORM, QUAD, SHADER_INPUTS, AUDIO_FEATURES,
    SPLAT, I420_VIDEO, STACK_LAYER, STACK, YUV, PYRAMID_STEP, TRAILS, VIGNETTE, GRAIN,
)}
