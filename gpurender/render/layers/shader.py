"""The ``shader`` layer: a user's WGSL function ``shade(uv, px) -> vec4<f32>`` run for every pixel.

The user's file is appended to ``shaders/user_shader.wgsl``, which declares the inputs (resolution,
time, frame, phase, four free parameters, the frame's audio features, band levels and samples) and
the entry points that call ``shade`` and premultiply its straight RGBA. A file that does not
compile becomes one :class:`~gpurender.errors.SceneError` line naming the user's file and the line
in it (mapped back from the composed source), and the process-wide device stays usable. A shader
too large or too deeply nested, or one that crashes or hangs the compiler, is refused the same way
before this process compiles it (:mod:`gpurender.render.shadercheck`).
"""

from __future__ import annotations

import contextlib
import logging
import re

import numpy as np
import wgpu

from ...audio.features import feature_names
from ...errors import SceneError
from ...scene.layers_fx import DEFINES_SHADE, SHADE_SIGNATURE, read_shader_code
from ..shadercheck import CompileFailure, check_limits, trial_compile
from ..shaderlib import load_wgsl, params_buffer
from ..structs import AUDIO_FEATURES, SHADER_INPUTS, as_bytes
from .base import FrameInfo, LayerRenderer, as_target, clear_pass, color_target

#: Scalar features in the order of the WGSL ``AudioFeatures`` struct (which
#: gpurender.render.structs.AUDIO_FEATURES declares from gpurender.audio.features.FEATURES).
FEATURE_ORDER = feature_names()
SIGNATURE = SHADE_SIGNATURE
_FEATURES_FLOATS = AUDIO_FEATURES.size // 4  # the struct is padded to whole vec4s

_LOCATION = re.compile(r"┌─\s*[^\s:]*:(\d+):(\d+)")
_SNIPPET_LINE = re.compile(r"^\s*(\d+)\s*│")
_LABEL_LINE = re.compile(r"^\s*│(.*)$")
_SUMMARY = re.compile(r"Shader '.*?' parsing error:\s*(.*)|Shader validation error:\s*(.*)")
_NOTE = re.compile(r"^\s*=\s*(.+)$")


def compose_source(user_code: str) -> tuple[str, int]:
    """The complete WGSL for a user's code and the number of lines that precede the user's first."""
    prelude = load_wgsl("user_shader.wgsl")
    if not prelude.endswith("\n"):
        prelude += "\n"
    return prelude + user_code, prelude.count("\n")


def parse_wgsl_error(message: str) -> tuple[str, list[tuple[int, int | None]]]:
    """Read a wgpu/naga shader error: its one-line summary and candidate (line, column) locations.

    A parsing error's ``┌─ wgsl:line:col`` header is where the problem is; a validation error's
    header is where the enclosing function begins, so the lines naga marks with ``^`` come first
    there. Columns are known only for the header.
    """
    lines = message.splitlines()
    summary, validation = "", False
    for line in lines:
        m = _SUMMARY.search(line)
        if m:
            summary = (m.group(1) or m.group(2) or "").strip()
            validation = m.group(2) is not None
            break
    notes = [m.group(1).strip() for m in map(_NOTE.match, lines) if m]
    if notes and notes[0] not in summary:
        summary = f"{summary}: {notes[0]}" if summary else notes[0]
    if not summary:
        summary = next((ln.strip() for ln in reversed(lines) if ln.strip()), "unknown error")

    marked: list[tuple[int, int | None]] = []
    header = None
    current = None
    for line in lines:
        m = _LOCATION.search(line)
        if m and header is None:
            header = (int(m.group(1)), int(m.group(2)))
            continue
        m = _SNIPPET_LINE.match(line)
        if m:
            current = int(m.group(1))
            continue
        m = _LABEL_LINE.match(line)
        if m and current is not None and "^" in m.group(1) and "╰" not in m.group(1):
            marked.append((current, None))
    if header is None:
        return summary, marked
    return summary, (marked + [header]) if validation else ([header] + marked)


def user_error_message(message: str, offset: int, user_lines: int, name: str) -> str:
    """One line for a user's shader that does not compile, with the line in the user's file."""
    summary, locations = parse_wgsl_error(message)
    for line, col in locations:
        if offset < line <= offset + user_lines:
            where = f"{name}:{line - offset}" + (f":{col}" if col else "")
            return f"{where}: WGSL error: {summary}; fix the shader and render again"
    return (f"{name}: WGSL error: {summary} (in the code gpurender wraps around the shader: declare "
            f"`{SIGNATURE}` and do not redefine inputs, features, band, wave or names starting "
            f"with gpurender_)")


@contextlib.contextmanager
def _quiet_wgpu_log():
    """Drop wgpu's own log lines meanwhile: a compile error is reported once, as a SceneError."""
    logger = logging.getLogger("wgpu")
    drop = lambda record: False  # noqa: E731
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _read_user_code(layer) -> tuple[str, str]:
    code, file = read_shader_code(layer.params, layer.where)
    return code, file or f"<{layer.name} code>"


def build_pipeline(device, code: str, label: str, target_format: str):
    """Compile a composed shader source: its module, bind group layout and render pipeline.

    Raises :class:`~gpurender.render.shadercheck.CompileFailure` with the compiler's message.
    Used both here and by the child process that tries a user's shader first.
    """
    try:
        with _quiet_wgpu_log():
            module = device.create_shader_module(label=label, code=code)
    except wgpu.GPUError as exc:
        raise CompileFailure("module", str(exc)) from None

    frag = wgpu.ShaderStage.FRAGMENT
    bind_group_layout = device.create_bind_group_layout(entries=[
        {"binding": 0, "visibility": frag, "buffer": {"type": "read-only-storage"}},
        {"binding": 1, "visibility": frag, "buffer": {"type": "read-only-storage"}},
        {"binding": 2, "visibility": frag, "buffer": {"type": "read-only-storage"}},
        {"binding": 3, "visibility": frag, "buffer": {"type": "read-only-storage"}},
    ])
    # An explicit layout: "auto" would drop the bindings a user's shader never reads.
    layout = device.create_pipeline_layout(bind_group_layouts=[bind_group_layout])
    try:
        with _quiet_wgpu_log():
            pipeline = device.create_render_pipeline(
                layout=layout,
                vertex={"module": module, "entry_point": "gpurender_vs"},
                primitive={"topology": "triangle-list"},
                fragment={"module": module, "entry_point": "gpurender_fs",
                          "targets": [{"format": target_format}]},
            )
    except wgpu.GPUError as exc:
        raise CompileFailure("pipeline", str(exc)) from None
    return module, bind_group_layout, pipeline


def compile_error_message(failure: CompileFailure, offset: int, user_lines: int, name: str) -> str:
    """One line for a user's shader that the compiler refused."""
    if failure.stage == "module":
        return user_error_message(failure.message, offset, user_lines, name)
    last = next((ln.strip() for ln in reversed(failure.message.splitlines()) if ln.strip()), "unknown error")
    return (f"{name}: the shader compiles but cannot be used: {last} (a shader reads only the inputs "
            f"gpurender declares; remove its own @group/@binding variables)")


class ShaderRenderer(LayerRenderer):
    content = "single"  # one fullscreen triangle; gpurender_fs clamps and premultiplies (colour <= alpha)
    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        device = ctx.device
        user_code, self.source_name = _read_user_code(layer)
        if not DEFINES_SHADE.search(user_code):
            raise SceneError(f"{self.source_name}: defines no shade function; declare `{SIGNATURE}`")
        # A hostile or huge shader must not crash or hang this process: measure it, then let a
        # child process compile it first (see shadercheck).
        check_limits(user_code, self.source_name)
        code, offset = compose_source(user_code)
        user_lines = user_code.count("\n") + 1
        failure = trial_compile(code, self.target_format, self.source_name)
        if failure is None:
            try:
                self._module, self.bind_group_layout, self.pipeline = build_pipeline(
                    device, code, self.source_name, self.target_format)
            except CompileFailure as exc:  # the child's device differs from this one
                failure = exc
        if failure is not None:
            raise SceneError(compile_error_message(failure, offset, user_lines, self.source_name))

        self.inputs = params_buffer(device, SHADER_INPUTS.size, "shader inputs")
        self.features = params_buffer(device, AUDIO_FEATURES.size, "shader features")
        self.n_bands = ctx.feature_width("bands") if ctx.features is not None else 1
        self.n_wave = ctx.feature_width("waveform") if ctx.features is not None else 1
        self.bind_group = device.create_bind_group(layout=self.bind_group_layout, entries=[
            {"binding": 0, "resource": {"buffer": self.inputs}},
            {"binding": 1, "resource": {"buffer": self.features}},
            {"binding": 2, "resource": {"buffer": ctx.feature_buffer("bands")}},
            {"binding": 3, "resource": {"buffer": ctx.feature_buffer("waveform")}},
        ])
        self._table = None
        self._phase: dict = {}  # speed binding -> phase at every frame
        self._pipelines: dict = {}

    def feature_row(self, frame: FrameInfo) -> np.ndarray:
        """The frame's scalar features in :data:`FEATURE_ORDER` (zeros without audio)."""
        features = self.ctx.features
        if features is None or self.ctx.params.n_frames == 0:
            return as_bytes(AUDIO_FEATURES.zeros()).view(np.float32)
        if self._table is None:  # one AudioFeatures record per frame, filled by name
            self._table = np.zeros(self.ctx.params.n_frames, AUDIO_FEATURES.dtype)
            for name in FEATURE_ORDER:
                self._table[name] = features.scalar(name)
        position = frame.position
        below = int(np.floor(position))
        row = as_bytes(self._table[self.ctx.clamp_frame(below)]).view(np.float32)
        t = position - below
        if t == 0:
            return row
        # a motion-blur sub-frame between two frames: every feature interpolated linearly
        after = as_bytes(self._table[self.ctx.clamp_frame(below + 1)]).view(np.float32)
        return (row + (after - row) * np.float32(t)).astype(np.float32)

    def phase(self, frame: FrameInfo) -> float:
        """The integral of ``speed`` over time up to ``frame`` (``speed * time`` when constant)."""
        speed = self.layer.params["speed"]
        if not hasattr(speed, "feature") or self.ctx.params.n_frames == 0:
            return self.value("speed", frame) * frame.time
        series = self.ctx.params.series(speed)
        phase = self._phase.get(speed)
        if phase is None:
            phase = np.concatenate([[0.0], np.cumsum(series, dtype=np.float64)]) / self.ctx.fps
            self._phase[speed] = phase
        position = frame.position
        i = int(np.floor(position))
        last = len(phase) - 1
        if i > last:
            # Past the end of the features the last value holds, as it does for every binding.
            return float(phase[last] + (position - last) * series[-1] / self.ctx.fps)
        if i < 0:
            return float(position * series[0] / self.ctx.fps)
        # Between frames (motion-blur sub-frames) the speed of the frame holds until the next.
        t = position - i
        return float(phase[i] + (t * series[min(i, len(series) - 1)] / self.ctx.fps if t else 0.0))

    def _row(self, frame: FrameInfo) -> int:
        """The row of the band and waveform tables that holds the frame (the same in both: at a
        sub-frame, both tables' scratch rows are filled)."""
        if self.ctx.features is None:
            return 0
        self.ctx.table_row("waveform", frame)
        return self.ctx.table_row("bands", frame)

    def inputs_data(self, frame: FrameInfo) -> np.ndarray:
        return SHADER_INPUTS.pack(
            resolution=(self.ctx.width, self.ctx.height),
            time=frame.time,
            frame=max(frame.index, 0),
            fps=frame.fps,
            phase=self.phase(frame),
            gpurender_n_bands=max(self.n_bands, 1),
            gpurender_n_wave=max(self.n_wave, 1),
            gpurender_row=self._row(frame),
            params=[self.value(f"param{k}", frame) for k in range(1, 5)],
        )

    def pipeline_for(self, target):
        """The pipeline for a :class:`DrawTarget`: the checked one for the layer's own texture, the
        same module with the target's format and blend state otherwise."""
        target = as_target(target)
        if not target.direct and target.format == self.target_format:
            return self.pipeline
        key = (target.format, repr(target.blend))
        pipeline = self._pipelines.get(key)
        if pipeline is None:
            device = self.ctx.device
            pipeline = self._pipelines[key] = device.create_render_pipeline(
                layout=device.create_pipeline_layout(bind_group_layouts=[self.bind_group_layout]),
                vertex={"module": self._module, "entry_point": "gpurender_vs"},
                primitive={"topology": "triangle-list"},
                fragment={"module": self._module, "entry_point": "gpurender_fs",
                          "targets": [color_target(target.format, target.blend)]},
            )
        return pipeline

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        queue = self.ctx.device.queue
        queue.write_buffer(self.inputs, 0, self.inputs_data(frame))
        queue.write_buffer(self.features, 0, self.feature_row(frame))
        rpass = clear_pass(command_encoder, target)
        rpass.set_pipeline(self.pipeline_for(target))
        rpass.set_bind_group(0, self.bind_group)
        rpass.draw(3)
        rpass.end()
