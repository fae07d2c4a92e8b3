"""The frame loop: draws a scene's layers into the composite (straight where their blend allows,
else through the compositor), applies effect layers, averages motion-blur sub-frames, converts the
result for the encoder and streams frames back through the readback ring.

This is the only place that knows the order of the per-frame GPU work; layers, effects,
compositor, converter and ring each own their part. Frames stream through: nothing keeps more than
the ring's ``depth`` frames.

**A frame's passes.** Layers are drawn bottom to top into one of the compositor's two composite
targets (:mod:`gpurender.render.compositor` says which layers may draw straight into it). The first
thing drawn clears the target to the background; nothing is cleared twice. A layer that cannot draw
straight draws into its own slice; in normal, screen, add or multiply it is then blended into the
target by fixed function within the rectangle it drew in (a blit); in the other modes consecutive
such layers form a run that one compositor pass composites over the target into the other one. An
effect layer reads the target and writes its slice, which then composites like a layer. The run
left at the top is composited by the colour conversion itself, while it also filters a supersampled
composite down, exposes and tone maps, and converts to YUV or RGBA: so a frame is clear once,
convert once, read back once, plus a blit per layer kept apart and a pass per run in the middle of
the stack. :attr:`FrameRenderer.last_plan` says how each layer of the last frame was drawn.

**Motion blur** (``scene.motion_blur``): a frame averages ``samples`` sub-frames drawn at
``t = (i + shutter * ((k + 0.5) / samples - 0.5)) / fps``, ``k = 0 .. samples - 1``: spread evenly
over ``shutter`` of the frame interval and centred on the frame's time (a centred shutter: the blur
does not lag the music; one sample is the frame itself). Every layer draws each sub-frame at its own
time, with audio features interpolated to it; stateful layers and effects step at every sub-frame.
Each sub-frame's composite is added, weighted, to a float accumulator on the GPU, which the
conversion reads after the last one: still one conversion and one readback a frame.

**Stateful layers** (particles, trails) are pure functions of the frame (and sub-frame) index: the
frame loop steps them in order from frame 0, fast-forwarding without drawing, and re-renders the
``preroll_frames`` before a render's first frame for stateful effects, so that a frame looks the
same whether a render starts at it or passes through it (chunked == single pass).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import weakref
from typing import Iterator

import numpy as np

from ..errors import RenderError
from ..scene.evaluate import ParamEvaluator
from ..scene.model import Binding, Scene
from .device import get_device, max_texture_size
from .layers import FrameInfo, RenderContext, create_renderer
from .layers.base import DrawTarget, fps_value, frame_time

#: Frame formats :meth:`FrameRenderer.frames` yields: the GPU conversion's layouts, or RGBA.
OUTPUTS = ("yuv420p", "yuv420p10le", "p010le", "rgba")


def check_size(width: int, height: int, supersample: int = 1) -> None:
    """Refuse render sizes the adapter's textures cannot hold, saying what the limit is."""
    limit = max_texture_size()
    if width * supersample > limit or height * supersample > limit:
        if supersample > 1:
            raise RenderError(
                f"resolution {width}x{height} supersampled {supersample}x is {width * supersample}x"
                f"{height * supersample}, beyond this adapter's texture limit of {limit} pixels per side; "
                f"lower supersample or the resolution"
            )
        raise RenderError(
            f"resolution {width}x{height} exceeds this adapter's texture limit of {limit} pixels per side; "
            f"choose a smaller --resolution"
        )


@contextlib.contextmanager
def interrupts_at_frame_boundaries():
    """Hold Ctrl-C until the next frame boundary while frames are being produced.

    wgpu reports a finished buffer map through a cffi callback; a KeyboardInterrupt raised inside
    that callback is printed and swallowed by cffi, the map promise never resolves and the render
    hangs. So SIGINT only sets a flag here, and the caller's ``check()`` raises KeyboardInterrupt
    between frames. Only the main thread with Python's default handler is affected.
    """
    pending = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield lambda: None
        return

    def check():
        if pending:
            pending.clear()
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:  # arrived after the last frame: deliver it now
        raise KeyboardInterrupt


def subframe_position(index: int, k: int, samples: int, shutter: float) -> float:
    """The fractional frame position of sub-frame ``k`` of frame ``index`` (centred shutter)."""
    if samples <= 1:
        return float(index)
    return index + shutter * ((k + 0.5) / samples - 0.5)


class FrameRenderer:
    """Renders frames of one scene at one size and frame rate.

    ``direct=False`` draws every layer through the compositor (a reference for tests: the picture
    is the same within 1/255).
    """

    def __init__(self, scene: Scene, features, width: int, height: int, fps, seed: int = 0,
                 video_frames: int | None = None, direct: bool = True):
        k = int(getattr(scene, "supersample", 1) or 1)
        check_size(width, height, k)
        self.device = device = get_device()
        self.scene = scene
        self.width, self.height, self.fps = width, height, fps  # exact: an int or a Fraction
        self.supersample = k
        self.render_width, self.render_height = width * k, height * k
        # {frames} in text: the frames of the video being made (the track's video frames by default)
        self.video_frames = video_frames
        self.ctx = RenderContext(
            device=device, width=self.render_width, height=self.render_height, fps=float(fps), features=features,
            params=ParamEvaluator(features, fps), camera=scene.camera, seed=seed,
            antialias=bool(getattr(scene, "antialias", True)), pixel_scale=k,
        )
        # Through a weak reference: a bound method would make renderer -> context -> renderer a
        # cycle, which only Python's cyclic collector frees, rarely for objects this long-lived; until
        # then each finished renderer kept its textures and compiled pipelines (1-3 MB at 160x90).
        this = weakref.ref(self)
        self.ctx.describe = lambda frame: this().describe(frame)
        self.layers = [create_renderer(self.ctx, layer) for layer in scene.layers]
        from .compositor import LEVELS_8BIT, Compositor, check_blend_mode

        self._modes = [check_blend_mode(layer.layer.blend, layer.layer.where("blend")) for layer in self.layers]
        self.direct = bool(direct)
        self._opaque = float(scene.background[3] if len(scene.background) > 3 else 1.0) >= 1.0
        self._slots = self._assign_slots()
        self._levels = LEVELS_8BIT
        self._converters: dict[str, object] = {}
        self._accumulator = None
        motion = getattr(scene, "motion_blur", None)
        self.samples = int(motion.samples) if motion is not None and motion.on else 1
        self.shutter = float(motion.shutter) if motion is not None else 0.0
        exposure = getattr(scene, "exposure", 0.0)
        self._linear = isinstance(exposure, Binding) or float(exposure) != 0.0
        self.compositor = Compositor(device, self.render_width, self.render_height,
                                     max(self._slots.values(), default=-1) + 1, format=self.composite_format())
        self._next_state_frame = 0  # the track frame stateful layers will be stepped to next
        self._final = (None, None)  # what the conversion reads for the frame just recorded
        self.last_plan: list[str] = []  # how each layer of the last (sub-)frame was drawn (tests, benchmarks)

    # ---- which layers draw where --------------------------------------------------------------

    def composite_format(self) -> str:
        """The composite targets' format: 8-bit (``SDR_COMPOSITE_FORMAT``) for a scene of one layer
        over an opaque background that cannot take the composite out of 0..1, rendered for 8-bit
        output; else half floats (``COMPOSITE_FORMAT``).

        One layer of one fragment per pixel (``single`` content; or one that never draws straight):
        its blend onto the background is then rounded once (once per sample or sub-frame under
        supersampling or motion blur, which average them) to the steps the 8-bit output rounds to
        anyway (RGBA output within 1/255, a YUV code within one). An opaque background: the composite
        is premultiplied, and a nearly transparent pixel keeps too few colour steps in 8 bits to be
        un-premultiplied for RGBA output (measured: 127/255 off). Each further layer, or sprite
        overlapping another, drawn onto an 8-bit composite would round again (measured: 2/255 off
        the float composite with two layers, 3/255 with overlapping sprites). Out of 0..1: ``add``
        (plus-lighter sums past 1), an effect (every effect reads the composite as HDR), exposure or
        tone mapping. 10-bit output (``self._levels``, set by :meth:`frames`) keeps half floats.
        """
        from .compositor import COMPOSITE_FORMAT, LEVELS_8BIT, SDR_COMPOSITE_FORMAT

        hdr = (self._linear or getattr(self.scene, "tonemap", "none") != "none"
               or any(layer.effect or layer.layer.blend == "add" for layer in self.layers))
        once = all(layer.content in ("single", None) for layer in self.layers)
        simple = len(self.layers) <= 1 and once and self._opaque and not hdr and self._levels == LEVELS_8BIT
        return SDR_COMPOSITE_FORMAT if simple else COMPOSITE_FORMAT

    def _opaque_beneath(self, i: int) -> bool:
        """Whether the backdrop beneath layer ``i`` is opaque everywhere (an opaque background and no
        effect beneath, whose output's alpha is its own)."""
        return self._opaque and not any(layer.effect for layer in self.layers[:i])

    def _sensitive_cover(self) -> set[int]:
        """Layers beneath a layer whose mode divides by the backdrop (and above the last effect
        below it): they are composited with it in one float32 run, never drawn straight."""
        from .compositor import BACKDROP_SENSITIVE

        covered: set[int] = set()
        for j, layer in enumerate(self.layers):
            if layer.layer.blend in BACKDROP_SENSITIVE:
                i = j - 1
                while i >= 0 and not self.layers[i].effect:
                    covered.add(i)
                    i -= 1
        return covered

    def _direct_blend(self, i: int, opacity: float):
        from .compositor import direct_blend

        layer = self.layers[i]
        if not self.direct or layer.effect or i in self._covered:
            return None
        return direct_blend(layer.layer.blend, layer.content, opacity, self._opaque_beneath(i),
                            scales_opacity=layer.scales_opacity)

    def _blit_blend(self, i: int):
        """The fixed-function blend that composites layer ``i`` from its own texture, or None (a
        compositor pass composites it)."""
        from .compositor import blit_blend

        layer = self.layers[i]
        if not self.direct or layer.effect or i in self._covered:
            return None
        return blit_blend(layer.layer.blend, self._opaque_beneath(i))

    def _assign_slots(self) -> dict[int, int]:
        """A slice for every layer that may need its own texture (effects, and layers that cannot
        always draw straight into the composite), numbered bottom to top."""
        self._covered = self._sensitive_cover()
        slots = {}
        for i, layer in enumerate(self.layers):
            opacity = layer.layer.opacity
            always = (not isinstance(opacity, Binding)
                      and self._direct_blend(i, min(max(float(opacity), 0.0), 1.0)) is not None)
            if isinstance(opacity, Binding):
                # add, and layers that scale their own output, draw straight at any opacity
                always = self._direct_blend(i, 0.5) is not None
            if not always:
                slots[i] = len(slots)
        return slots

    # ---- frames and sub-frames ------------------------------------------------------------------

    @property
    def stateful(self) -> bool:
        return any(layer.stateful for layer in self.layers)

    def frame_info(self, index: int, render_index: int = 0, render_frames: int = 1) -> FrameInfo:
        return FrameInfo(index=index, time=frame_time(index, self.fps), fps=float(self.fps),
                         render_index=render_index, render_frames=render_frames)

    def subframes(self, frame: FrameInfo) -> list[FrameInfo]:
        """The sub-frames of ``frame`` under motion blur (``[frame]`` without it)."""
        n = self.samples
        if n <= 1:
            return [frame]
        fps = float(self.fps)
        out = []
        for k in range(n):
            position = subframe_position(frame.index, k, n, self.shutter)
            previous = (subframe_position(frame.index, k - 1, n, self.shutter) if k else
                        subframe_position(frame.index - 1, n - 1, n, self.shutter))
            out.append(FrameInfo(index=frame.index, time=frame.time + (position - frame.index) / fps, fps=frame.fps,
                                 render_index=frame.render_index, render_frames=frame.render_frames,
                                 subframe=k, subframes=n, position=position, dt=(position - previous) / fps))
        return out

    def seek(self, index: int) -> None:
        """Bring stateful layers to the state just before drawing track frame ``index``.

        Stateful layers only run forward from frame 0 (fast-forwarding without drawing); stateful
        effects re-render their ``preroll_frames`` before ``index`` (everything beneath them is
        drawn), so a frame looks the same whether a render starts at it or passes through it.
        """
        if not self.stateful:
            self._next_state_frame = index
            return
        if index < self._next_state_frame:
            for layer in self.layers:
                if layer.stateful:
                    layer.reset()
            self._next_state_frame = 0
        effects = [layer for layer in self.layers if layer.stateful and layer.effect]
        # Stacked effects pre-roll one after another: the upper one needs a correct picture beneath
        # it over its whole horizon, which the lower one gives only after its own pre-roll.
        preroll = sum(int(layer.preroll_frames) for layer in effects)
        start = max(self._next_state_frame, index - preroll) if effects else index
        if start > self._next_state_frame:
            while self._next_state_frame < start:
                # one submit per (sub-)frame: each step's parameters go through the queue
                for sub in self.subframes(self.frame_info(self._next_state_frame)):
                    encoder = self.device.create_command_encoder()
                    self._advance(encoder, sub, effects=False)
                    self.device.queue.submit([encoder.finish()])
                self._next_state_frame += 1
            for layer in effects:
                layer.reset()  # they saw none of the frames just skipped
        while self._next_state_frame < index:  # effects' pre-roll: whole frames, nothing read back
            encoder = self.device.create_command_encoder()
            self._record_frame(encoder, self.frame_info(self._next_state_frame))
            self.device.queue.submit([encoder.finish()])
            self._next_state_frame += 1

    def _advance(self, encoder, frame: FrameInfo, effects: bool = True) -> None:
        for layer in self.layers:
            if layer.stateful and (effects or not layer.effect):
                layer.advance(encoder, frame)

    def encode_frame(self, encoder, frame: FrameInfo) -> None:
        """Record all passes that produce ``frame`` up to the colour conversion (:meth:`convert`).

        Under motion blur the sub-frames before the last are submitted here (each sub-frame's
        parameters go through the queue); the last is recorded in ``encoder``.
        """
        if self._next_state_frame != frame.index:
            self.seek(frame.index)
        self._record_frame(encoder, frame)
        self._next_state_frame = frame.index + 1

    def _record_frame(self, encoder, frame: FrameInfo) -> None:
        subs = self.subframes(frame)
        if len(subs) == 1:
            self._advance(encoder, frame)
            self._final = self._record(encoder, frame)
            return
        acc_view, acc_format = self._accumulator_view()
        for k, sub in enumerate(subs):
            enc = encoder if k == len(subs) - 1 else self.device.create_command_encoder()
            self._advance(enc, sub)
            view, run = self._record(enc, sub)
            self.compositor.accumulate(enc, run, view, acc_view, acc_format, 1.0 / len(subs), first=k == 0,
                                       levels=self._levels)
            if enc is not encoder:
                self.device.queue.submit([enc.finish()])
        from .compositor import Run

        self._final = (acc_view, Run())

    def _accumulator_view(self):
        """The motion-blur accumulator: float32 where the adapter can blend into it, else half floats
        (each sub-frame is added already weighted, so the sum stays within 0..1 of a picture)."""
        if self._accumulator is None:
            import wgpu

            features = getattr(self.device, "features", set())
            fmt = "rgba32float" if "float32-blendable" in features else "rgba16float"
            tex = self.device.create_texture(
                label="gpurender motion blur", size=(self.render_width, self.render_height, 1), format=fmt,
                usage=wgpu.TextureUsage.RENDER_ATTACHMENT | wgpu.TextureUsage.TEXTURE_BINDING)
            self._accumulator = (tex, tex.create_view(), fmt)
        return self._accumulator[1], self._accumulator[2]

    def _record(self, encoder, frame: FrameInfo):
        """Record one (sub-)frame's layer passes. Returns the composite view (None: nothing drawn,
        the background alone) and the run of layers at the top, left for the reader to composite."""
        from .compositor import REPLACE, Run, premultiplied

        comp = self.compositor
        background = self.scene.background
        views = comp.target_views
        current, drawn = 0, False
        first, modes = 0, []
        stack: dict[int, tuple[int, float]] = {}
        plan = []  # how each layer was drawn: "direct", "layer" (its own slice) or "effect"

        def flush():
            nonlocal current, drawn, modes
            if modes:
                run = Run(first, tuple(modes), from_background=not drawn)
                comp.composite(encoder, run, views[current] if drawn else None, views[1 - current], self._levels)
                current, drawn, modes = 1 - current, True, []

        for i, layer in enumerate(self.layers):
            opacity = min(max(self.ctx.params.value(layer.layer.opacity, frame.position), 0.0), 1.0)
            blend = self._direct_blend(i, opacity)
            if blend is not None:
                flush()
                add = layer.layer.blend == "add"  # its opacity is the blend constant
                target = DrawTarget(view=views[current], format=comp.format, blend=blend,
                                    constant=(opacity,) * 4 if add else None,
                                    clear=None if drawn else premultiplied(background),
                                    opacity=1.0 if add or not layer.scales_opacity else opacity)
                layer.draw(encoder, frame, target)
                drawn = True
                plan.append("direct")
                continue
            slot = self._slots[i]
            blit = self._blit_blend(i)
            if blit is not None:
                # Its own texture, handed to fixed-function blending within the rectangle it drew in.
                flush()
                target = DrawTarget(view=comp.slice_view(slot))
                layer.draw(encoder, frame, target if layer.content is not None else target.view)
                stack[slot] = (self._modes[i], opacity, None)
                comp.blit(encoder, slot, blit, views[current], layer.bounds(frame),
                          clear=None if drawn else background, levels=self._levels)
                drawn = True
                plan.append("blit")
                continue
            if layer.effect:
                flush()
                if not drawn:
                    comp.clear(encoder, views[current], background)
                    drawn = True
                layer.apply(encoder, frame, views[current], comp.slice_view(slot))
                mode = REPLACE if layer.layer.blend == "normal" else self._modes[i]
            else:
                if modes and slot != first + len(modes):
                    flush()
                target = DrawTarget(view=comp.slice_view(slot))
                layer.draw(encoder, frame, target if layer.content is not None else target.view)
                mode = self._modes[i]
            if not modes:
                first = slot
            modes.append(mode)
            stack[slot] = (mode, opacity, None if layer.effect else layer.bounds(frame))
            plan.append("effect" if layer.effect else "layer")
        comp.write_stack(background, stack)
        self.last_plan = plan
        return (views[current] if drawn else None), Run(first, tuple(modes), from_background=not drawn)

    # ---- conversion and readback ----------------------------------------------------------------

    def _converter_for(self, layout: str = "yuv420p"):
        if layout not in self._converters:
            from .convert import YuvConverter

            self._converters[layout] = YuvConverter(
                self.device, self.width, self.height, layout=layout, premultiplied=True,
                supersample=self.supersample, tonemap=getattr(self.scene, "tonemap", "none"), linear=self._linear)
        return self._converters[layout]

    def gain(self, frame: FrameInfo) -> float:
        """2^exposure at ``frame`` (linear light)."""
        exposure = self.ctx.params.value(getattr(self.scene, "exposure", 0.0), frame.position)
        return float(2.0 ** exposure)

    def convert(self, encoder, converter, frame: FrameInfo) -> None:
        """Record the conversion of the frame :meth:`encode_frame` just recorded."""
        view, run = self._final
        converter.encode(encoder, stack_group=self.compositor.stack_group(view), run=run, gain=self.gain(frame))

    def frames(self, first: int, count: int, output: str = "yuv420p", ring_depth: int = 3
               ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(track frame index, data)`` for frames ``first .. first+count-1`` in order.

        ``yuv420p`` gives flat I420 bytes converted on the GPU; ``yuv420p10le`` and ``p010le``
        10-bit 4:2:0, as flat bytes of 16-bit little-endian samples (see
        :mod:`gpurender.render.convert`); ``rgba`` gives ``[h, w, 4]`` uint8 with straight alpha.
        """
        from .compositor import LEVELS_8BIT, LEVELS_10BIT
        from .readback import ReadbackRing

        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}")
        # 10-bit output reads each layer at 10-bit steps (see compositor.py), and composites in
        # half floats.
        self._levels = LEVELS_8BIT if output in ("yuv420p", "rgba") else LEVELS_10BIT
        wanted = self.composite_format()
        if wanted != self.compositor.format:
            from .compositor import Compositor

            self.compositor = Compositor(self.device, self.render_width, self.render_height,
                                         self.compositor.n_slices, format=wanted)
        conv = self._converter_for(output)
        postprocess = None
        if output == "rgba":
            w, h = self.width, self.height
            postprocess = lambda arr: np.asarray(arr, np.uint8).reshape(h, w, 4)  # noqa: E731
        ring = ReadbackRing(self.device, conv.nbytes, depth=ring_depth, postprocess=postprocess)
        with interrupts_at_frame_boundaries() as check_interrupt:
            try:
                yield from self._produce(first, count, conv, ring, check_interrupt)
            finally:
                ring.close()

    def _produce(self, first, count, conv, ring, check_interrupt):
        self.seek(first)
        for j in range(count):
            check_interrupt()
            index = first + j
            frame = self.frame_info(index, j, count)
            encoder = self.device.create_command_encoder()
            self.encode_frame(encoder, frame)
            self.convert(encoder, conv, frame)
            yield from ring.submit(encoder, conv.record_copy, index)
        yield from ring.flush()

    def finish(self) -> None:
        """A scene has every frame a span asks for: nothing to learn at the end (frame-source protocol)."""
        return None

    def render_rgba(self, index: int) -> np.ndarray:
        """One frame as ``[h, w, 4]`` uint8 straight-alpha RGBA (for stills)."""
        [(_, rgba)] = list(self.frames(index, 1, output="rgba", ring_depth=1))
        return rgba

    def _video_frames(self, frame: FrameInfo) -> int:
        if self.video_frames is not None:
            return self.video_frames
        return self.ctx.params.n_frames or frame.render_frames

    def describe(self, frame: FrameInfo) -> dict:
        """Placeholder values for text at ``frame`` (``{frame}``, ``{frames}``, ``{time}``, ``{points}`` ...)."""
        info = {"frame": frame.index, "frames": self._video_frames(frame),
                "time": frame.time, "fps": fps_value(self.fps)}
        for layer in self.layers:
            info.update(layer.describe(frame))
        return info

