"""The ``trails`` effect layer: a fading, moving echo of everything beneath, reproducible from a bounded pre-roll.

**The look.** A trail is feedback: each frame, the previous trail is moved (``zoom``, ``rotate``,
``offset_*``, all per second about the frame's centre), dimmed by ``keep = decay ** (1 / fps)`` and
combined with the picture beneath: ``S_t = max(src_t, keep * warp(S_{t-1}))`` (``mode = "max"``,
the default: a background stays as it is, bright things leave echoes) or ``src_t + keep *
warp(S_{t-1})`` (``"add"``). A one-step recursion like this remembers every frame since frame 0, so
a chunk starting at frame F could only reproduce it by re-running everything before F; and no
rounding of the state forgets the past exactly (rounded decays have several fixed points).

**The state: two accumulators restarted at fixed frames.** The layer keeps two accumulators, A and
B, each the recursion above but restarted from nothing (``S = src``) every ``H`` frames: A at the
frames ``t = 0 (mod H)``, B at ``t = H/2 (mod H)``. An accumulator's value at frame ``t`` therefore
depends only on the frames since its last restart, at most ``H - 1`` frames back, whatever happened
before. The output is ``w_A * A + w_B * B``, ``w_A + w_B = 1``, with weights that are a function of
the accumulator's age ``a`` (frames since its restart) only, with ``half = H / 2 = m + r``:

- ``0`` while ``a < m`` (too young: it has not seen enough of the past),
- rising linearly to ``1`` over ``r`` frames, ``1`` for ``m`` frames, falling to ``0`` over ``r``
  frames just before its next restart.

The two windows are half a period apart and sum to 1 at every frame, so neither restart is ever
seen: an accumulator restarts while its weight is 0, and it takes over only once it is ``m`` frames
old. ``m`` is chosen so that ``keep ** m`` (what is left of anything older) is below
:data:`FORGOTTEN` for the largest ``decay`` the layer takes over the whole track (its bound values
are known before rendering), so the two accumulators agree to within that where they cross-fade and
the trail looks like the unbounded recursion. ``r`` is :data:`RAMP_SECONDS`. ``H = 2 (m + r)`` is at
most :data:`MAX_HORIZON_SECONDS`; past that (decay above about 0.15 per second) ``m`` is cut, and
the oldest part of a long trail fades in and out slightly as the accumulators take turns.

**Pre-roll.** Both accumulators have restarted within any ``H`` consecutive frames, so a chunk
starting at frame F reproduces the single pass exactly (bit for bit) if it draws frames from
``F - (H - 1)`` (:attr:`TrailsRenderer.preroll_frames`): state left over from anything else (a fresh
texture, an earlier render, a frame that was skipped) is replaced by restarts before it has weight.
Whatever the state when drawing resumes at a frame that does not follow the last one drawn, both
accumulators restart there. Frame 0 starts from nothing, exactly as a restart does.

Under motion blur the frame loop applies the layer at every sub-frame: the accumulators step at
each one (by ``frame.dt`` seconds: decay, zoom, rotation and drift are per second, so the trail is
the same length at any step), restart at the first sub-frame of their restart frames, and the
weights stay those of the frame.
"""

from __future__ import annotations

import math

import numpy as np

from ...scene.model import Binding
from ..shaderlib import load_wgsl, params_buffer
from ..structs import TRAILS
from . import EffectRenderer
from .kernels import (PerView, bind_group, bind_layout, draw_fullscreen, effect_texture,
                      fullscreen_pipeline, linear_sampler)

#: What is left of the oldest history an accumulator lacks, when it takes over: below half an
#: 8-bit step of a full-brightness trail.
FORGOTTEN = 1.0 / 512.0
#: Frames over which the accumulators cross-fade.
RAMP_SECONDS = 0.25
#: Longest horizon H (the period of each accumulator's restarts, and the pre-roll a chunk needs).
MAX_HORIZON_SECONDS = 6.0

MODES = {"max": 0, "add": 1}


def horizon(max_decay: float, fps: float) -> tuple[int, int]:
    """``(m, r)`` in frames for the largest ``decay`` a layer takes: ``H = 2 * (m + r)``."""
    r = max(1, round(RAMP_SECONDS * fps))
    longest = max(2 * (r + 1), int(MAX_HORIZON_SECONDS * fps) // 2 * 2)
    keep = min(max(max_decay, 0.0), 1.0) ** (1.0 / fps)
    if keep <= 0.0:
        m = 1
    elif keep >= 1.0:
        m = longest // 2 - r
    else:
        m = max(1, math.ceil(math.log(FORGOTTEN) / math.log(keep)))
    m = min(m, longest // 2 - r)
    return m, r


def window(age: int, m: int, r: int) -> float:
    """An accumulator's weight at ``age`` frames since its restart (``H = 2 * (m + r)``)."""
    half = m + r
    if age < m:
        return 0.0
    if age < half:
        return (age - m + 1) / (r + 1)
    if age < half + m:
        return 1.0
    return 1.0 - (age - half - m + 1) / (r + 1)


class TrailsRenderer(EffectRenderer):
    stateful = True

    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        device = ctx.device
        self.m, self.r = horizon(self._max_decay(), ctx.fps)
        #: Frames between an accumulator's restarts.
        self.period = 2 * (self.m + self.r)
        #: Frames before a chunk's first frame that must be drawn for it to be exact.
        self.preroll_frames = self.period - 1
        w, h = ctx.width, ctx.height
        self.acc = [[effect_texture(device, w, h, f"trails {name}{i}") for i in (0, 1)] for name in "ab"]
        self.views = [[t.create_view() for t in pair] for pair in self.acc]
        module = device.create_shader_module(label="effect_trails.wgsl", code=load_wgsl("effect_trails.wgsl"))
        layout = bind_layout(device, textures=3)
        self.pipeline = fullscreen_pipeline(device, module, "fs_main", layout, targets=3, label="trails")
        self.params = params_buffer(device, TRAILS.size, "trails params")
        sampler = linear_sampler(device)
        # reading slot i, writing slot 1 - i
        self.groups = [PerView(lambda src, i=i: bind_group(device, layout, self.params,
                                                           (src, self.views[0][i], self.views[1][i]), sampler))
                       for i in (0, 1)]
        self._read = 0  # the slot holding the last step's accumulators
        # (frame, sub-frame) that continues the accumulators; None: nothing drawn since reset
        self._next = None

    def _max_decay(self) -> float:
        decay = self.layer.params["decay"]
        if isinstance(decay, Binding):
            series = self.ctx.params.series(decay) if self.ctx.params.n_frames else np.array([decay.offset])
            return float(np.max(series)) if len(series) else float(decay.offset)
        return float(decay)

    def reset(self) -> None:
        self._next = None

    def ages(self, index: int) -> tuple[int, int]:
        """Frames since A's and B's last restarts at frame ``index``."""
        return index % self.period, (index + self.period // 2) % self.period

    def weight_a(self, index: int) -> float:
        return window(self.ages(index)[0], self.m, self.r)

    def params_data(self, frame, restart_all: bool) -> np.ndarray:
        height = self.ctx.height
        dt = frame.dt  # seconds since the previous step: 1 / fps, or less between motion-blur sub-frames
        zoom = max(self.value("zoom", frame), 1e-6) ** dt
        angle = math.radians(self.value("rotate", frame) * dt)
        dx = self.value("offset_x", frame) * height * dt
        dy = -self.value("offset_y", frame) * height * dt  # pixels, y down
        c, s = math.cos(angle), math.sin(angle)
        # Content turns counter-clockwise on screen (y down) and grows by zoom, then drifts; each
        # pixel reads where its content was: the inverse, q = centre + M (p - centre) - M d.
        m = np.array([[c, -s], [s, c]]) / zoom
        shift = -(m @ np.array([dx, dy]))
        identity = angle == 0.0 and zoom == 1.0 and dx == 0.0 and dy == 0.0
        age_a, age_b = self.ages(frame.index)
        first = frame.subframe == 0  # an accumulator restarts at the first step of its frame
        return TRAILS.pack(
            warp=m.reshape(4),
            centre=(self.ctx.width / 2.0, height / 2.0),
            shift=shift,
            keep=min(max(self.value("decay", frame), 0.0), 1.0) ** dt,
            weight_a=window(age_a, self.m, self.r),
            restart_a=1 if restart_all or (age_a == 0 and first) else 0,
            restart_b=1 if restart_all or (age_b == 0 and first) else 0,
            identity=1 if identity else 0,
            mode=MODES[self.layer.params["mode"]],
        )

    def apply(self, command_encoder, frame, source_view, target_view) -> None:
        step = (frame.index, frame.subframe)
        restart_all = self._next != step
        self.ctx.device.queue.write_buffer(self.params, 0, self.params_data(frame, restart_all))
        write = 1 - self._read
        draw_fullscreen(command_encoder, [self.views[0][write], self.views[1][write], target_view],
                        self.pipeline, self.groups[self._read](source_view), "trails")
        self._read = write
        last = frame.subframe + 1 >= frame.subframes
        self._next = (frame.index + 1, 0) if last else (frame.index, frame.subframe + 1)
