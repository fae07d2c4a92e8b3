"""The ``particles`` layer: a particle system simulated on the GPU with a fixed time step.

The state is a pool of ``count`` particles in one storage buffer, used as a ring: each frame's
newborns take the next slots, replacing the oldest. :meth:`ParticlesRenderer.advance` records one
compute pass that moves the pool from the previous frame to this one (``substeps`` steps of
``1 / (fps * substeps)``); the only state on the CPU is the ring's head and the fraction of a
particle still owed by the emission rate, both updated in frame order. Random numbers are a hash
of (seed, slot, frame, draw), so a frame is the same on every run and whether a render starts at
it or passes through it. Emission rate, bursts, emitter position and every force are numbers that
may follow audio features.
"""

from __future__ import annotations

import math

import numpy as np
import wgpu

from ...errors import SceneError
from ..camera import to_wgsl
from ..shaderlib import load_wgsl, params_buffer
from ..structs import PARTICLE, PARTICLES_DRAW, PARTICLES_STEP
from .base import FrameInfo, LayerRenderer, TargetPipelines, clear_pass, color_target
from .points import SPRITE_BLENDS

PARTICLE_BYTES = PARTICLE.size
WORKGROUP = 64


def screen_matrix(aspect: float) -> np.ndarray:
    """Clip transform of screen space: y in -1..1 spans the frame's height, x keeps square units."""
    m = np.eye(4)
    m[0, 0] = 1.0 / aspect
    m[2, 2] = 0.0
    m[2, 3] = 0.5
    return m


def _unit(v, fallback=(0.0, 1.0, 0.0)) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else np.asarray(fallback, dtype=np.float64)


class ParticlesRenderer(LayerRenderer):
    stateful = True

    @property
    def content(self) -> str:
        return "additive" if self.layer.params["draw"] == "additive" else "over"

    def __init__(self, ctx, layer):
        super().__init__(ctx, layer)
        p = layer.params
        device = ctx.device
        self.capacity = int(p["count"])
        self.substeps = int(p["substeps"])
        # count and substeps are range-checked when the scene loads; only the adapter's limit is left
        limit = min(device.limits.get("max-storage-buffer-binding-size", 1 << 27),
                    device.limits.get("max-buffer-size", 1 << 28))
        if self.capacity * PARTICLE_BYTES > limit:
            raise SceneError(f"{layer.where('count')}: {self.capacity} particles need more GPU memory in one buffer than "
                             f"this adapter allows; use at most {limit // PARTICLE_BYTES}")
        self.screen = p["space"] == "screen"

        # COPY_SRC so that the state can be read back (tests, debugging).
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
        self.particles = device.create_buffer(size=self.capacity * PARTICLE_BYTES, usage=usage)
        self.sim_uniforms = params_buffer(device, PARTICLES_STEP.size, "particles sim params")
        self.draw_uniforms = params_buffer(device, PARTICLES_DRAW.size, "particles draw params")

        sim_module = device.create_shader_module(label="particles.wgsl", code=load_wgsl("particles.wgsl"))
        self.sim_pipeline = device.create_compute_pipeline(
            layout="auto", compute={"module": sim_module, "entry_point": "cs_step"})
        self.sim_bind_group = device.create_bind_group(
            layout=self.sim_pipeline.get_bind_group_layout(0),
            entries=[{"binding": 0, "resource": {"buffer": self.sim_uniforms}},
                     {"binding": 1, "resource": {"buffer": self.particles}}])

        draw_module = device.create_shader_module(label="particles_draw.wgsl",
                                                  code=load_wgsl("particles_draw.wgsl"))
        self.draw_pipelines = TargetPipelines(device, lambda format, blend: dict(
            vertex={"module": draw_module, "entry_point": "vs_main"},
            primitive={"topology": "triangle-list"},
            fragment={"module": draw_module, "entry_point": "fs_main", "targets": [color_target(format, blend)]},
        ), own_blend=SPRITE_BLENDS[p["draw"]])
        self.draw_entries = [{"binding": 0, "resource": {"buffer": self.draw_uniforms}},
                             {"binding": 1, "resource": {"buffer": self.particles}}]
        self._start()
        self._clear_pending = False  # a new buffer is already zeroed: no particle alive

    def _start(self) -> None:
        self._next_step = (0, 0)  # (frame, sub-frame) the next advance must be
        self._head = 0
        self._owed = 0.0  # fraction of a particle the rate has emitted but not yet released

    def reset(self) -> None:
        self._start()
        self._clear_pending = True

    def read_state(self) -> np.ndarray:
        """The pool as ``[count, 8]`` float32: x, y, z, age, vx, vy, vz, life (waits for the GPU)."""
        data = self.ctx.device.queue.read_buffer(self.particles)
        state = np.frombuffer(bytes(data), dtype=np.float32).reshape(self.capacity, PARTICLE.size // 4).copy()
        if self._clear_pending:  # reset() but not yet advanced: the buffer is cleared lazily
            state[:] = 0.0
        return state

    def triggered(self, frame: FrameInfo) -> bool:
        """Whether a burst fires at ``frame``: the rising edge of a beat or of an onset over 0.5.
        Under motion blur it fires at the sub-frame whose step reaches the frame's own time (the
        middle one)."""
        trigger = self.layer.params["burst_on"]
        features = self.ctx.features
        n = self.ctx.params.n_frames
        if trigger == "none" or features is None or not 0 <= frame.index < n:
            return False
        if frame.subframe != frame.subframes // 2:
            return False
        series = np.asarray(features.scalar(trigger))
        now = float(series[frame.index])
        before = float(series[frame.index - 1]) if frame.index > 0 else 0.0
        if trigger == "beat":
            return now > before and now > 0.5  # a new beat restarts the decaying pulse at 1
        return now >= 0.5 > before

    def emission(self, frame: FrameInfo) -> int:
        """Particles born during ``frame``'s step (updates the owed fraction; call in frame order)."""
        rate = max(self.value("rate", frame), 0.0)
        owed = self._owed + (rate * frame.dt if frame.subframes > 1 else rate / frame.fps)
        n = math.floor(owed)
        self._owed = owed - n
        if self.triggered(frame):
            n += max(int(round(self.value("burst", frame))), 0)
        return min(n, self.capacity)

    def sim_data(self, frame: FrameInfo, n_emit: int) -> np.ndarray:
        v = lambda key: self.value(key, frame)  # noqa: E731
        emitter = (v("x"), v("y"), 0.0 if self.screen else v("z"))
        direction = self.layer.params["direction"]
        if self.screen:
            direction = (direction[0], direction[1], 0.0)
        spread = min(max(v("spread"), 0.0), 180.0)
        return PARTICLES_STEP.pack(
            emitter=emitter,
            radius=max(v("radius"), 0.0),
            direction=_unit(direction),
            spread_cos=math.cos(math.radians(spread)),
            axis=(0.0, 0.0, 1.0) if self.screen else (0.0, 1.0, 0.0),
            speed=v("speed"),
            seed=self.layer.params["seed"] & 0xFFFFFFFF,
            # the random stream of births: one per step (frame, or sub-frame under motion blur)
            frame=(frame.index * frame.subframes + frame.subframe) & 0xFFFFFFFF,
            head=self._head,
            n_emit=n_emit,
            capacity=self.capacity,
            substeps=self.substeps,
            frame_dt=frame.dt if frame.subframes > 1 else 1.0 / frame.fps,
            time=frame.time - frame.dt if frame.subframes > 1 else (frame.index - 1) / frame.fps,
            life=max(v("life"), 0.0),
            life_jitter=v("life_jitter"),
            speed_jitter=v("speed_jitter"),
            gravity=v("gravity"),
            drag=v("drag"),
            swirl=v("swirl"),
            turbulence=v("turbulence"),
            turbulence_scale=v("turbulence_scale"),
            spread=math.radians(spread),
            screen=1 if self.screen else 0,
        )

    def advance(self, command_encoder, frame: FrameInfo) -> None:
        if (frame.index, frame.subframe) != self._next_step:
            # The frame loop steps every frame (every sub-frame) in order from 0; anything else would
            # break the promise that a frame looks the same however the render reached it.
            raise RuntimeError(f"particles advanced to frame {frame.index}.{frame.subframe}, expected "
                               f"{self._next_step[0]}.{self._next_step[1]}")
        if self._clear_pending:
            command_encoder.clear_buffer(self.particles)
            self._clear_pending = False
        n_emit = self.emission(frame)
        # Written now, used by this frame's submit: the frame loop submits one encoder per frame.
        self.ctx.device.queue.write_buffer(self.sim_uniforms, 0, self.sim_data(frame, n_emit))
        cpass = command_encoder.begin_compute_pass()
        cpass.set_pipeline(self.sim_pipeline)
        cpass.set_bind_group(0, self.sim_bind_group)
        cpass.dispatch_workgroups((self.capacity + WORKGROUP - 1) // WORKGROUP)
        cpass.end()
        self._head = (self._head + n_emit) % self.capacity
        last = frame.subframe + 1 >= frame.subframes
        self._next_step = (frame.index + 1, 0) if last else (frame.index, frame.subframe + 1)

    def draw_data(self, frame: FrameInfo) -> np.ndarray:
        p = self.layer.params
        view_proj = screen_matrix(self.ctx.aspect) if self.screen else self.ctx.view_proj(frame)
        return PARTICLES_DRAW.pack(
            view_proj=to_wgsl(view_proj),
            viewport=(self.ctx.width, self.ctx.height),
            size=max(self.value("size", frame), 0.0),
            size_end=max(self.value("size_end", frame), 0.0),
            color=p["color"],
            color_end=p["color_end"],
            softness=min(max(self.value("softness", frame), 0.0), 1.0),
            brightness=max(self.value("brightness", frame), 0.0),
            antialias=1 if getattr(self.ctx, "antialias", True) else 0,
        )

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        self.ctx.device.queue.write_buffer(self.draw_uniforms, 0, self.draw_data(frame))
        rpass = clear_pass(command_encoder, target)
        rpass.set_pipeline(self.draw_pipelines.get(target))
        rpass.set_bind_group(0, self.draw_pipelines.group(target, self.draw_entries))
        rpass.draw(3 * self.capacity)  # one triangle a particle (particles_draw.wgsl)
        rpass.end()
