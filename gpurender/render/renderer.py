"""The frame loop: draws every layer of a scene into its own texture, composites them, converts
the result for the encoder and streams frames back through the readback ring.

This is the only place that knows the order of the per-frame GPU work; layers, compositor,
converter and ring each own their part. Frames stream through: nothing keeps more than the ring's
``depth`` frames.
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
from ..scene.model import Scene
from .device import get_device, max_texture_size
from .layers import FrameInfo, RenderContext, create_renderer
from .layers.base import fps_value, frame_time

#: Frame formats :meth:`FrameRenderer.frames` yields: the GPU conversion's layouts, or RGBA.
OUTPUTS = ("yuv420p", "yuv420p10le", "p010le", "rgba")


def check_size(width: int, height: int) -> None:
    """Refuse output sizes the adapter's textures cannot hold, saying what the limit is."""
    limit = max_texture_size()
    if width > limit or height > limit:
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


class FrameRenderer:
    """Renders frames of one scene at one size and frame rate."""

    def __init__(self, scene: Scene, features, width: int, height: int, fps, seed: int = 0,
                 video_frames: int | None = None):
        check_size(width, height)
        self.device = device = get_device()
        self.scene = scene
        self.width, self.height, self.fps = width, height, fps  # exact: an int or a Fraction
        # {frames} in text: the frames of the video being made (the track's video frames by default)
        self.video_frames = video_frames
        self.ctx = RenderContext(
            device=device, width=width, height=height, fps=float(fps), features=features,
            params=ParamEvaluator(features, fps), camera=scene.camera, seed=seed,
        )
        # Through a weak reference: a bound method would make renderer -> context -> renderer a
        # cycle, which only Python's cyclic collector frees, rarely for objects this long-lived; until
        # then each finished renderer kept its textures and compiled pipelines (1-3 MB at 160x90).
        this = weakref.ref(self)
        self.ctx.describe = lambda frame: this().describe(frame)
        self.layers = [create_renderer(self.ctx, layer) for layer in scene.layers]
        from .compositor import Compositor

        self.compositor = Compositor(device, width, height, len(self.layers))
        self.layer_views = [self.compositor.layer_view(i) for i in range(len(self.layers))]
        self._converters: dict[str, object] = {}
        self._next_state_frame = 0  # the track frame stateful layers will be advanced to next

    @property
    def stateful(self) -> bool:
        return any(layer.stateful for layer in self.layers)

    def frame_info(self, index: int, render_index: int = 0, render_frames: int = 1) -> FrameInfo:
        return FrameInfo(index=index, time=frame_time(index, self.fps), fps=float(self.fps),
                         render_index=render_index, render_frames=render_frames)

    def seek(self, index: int) -> None:
        """Bring stateful layers to the state just before drawing track frame ``index``.

        The simulation only runs forward from frame 0 (fast-forwarding without drawing), so a
        frame looks the same whether a render starts at it or passes through it.
        """
        if not self.stateful:
            self._next_state_frame = index
            return
        if index < self._next_state_frame:
            for layer in self.layers:
                if layer.stateful:
                    layer.reset()
            self._next_state_frame = 0
        while self._next_state_frame < index:
            encoder = self.device.create_command_encoder()
            self._advance(encoder, self.frame_info(self._next_state_frame))
            self.device.queue.submit([encoder.finish()])
            self._next_state_frame += 1

    def _advance(self, encoder, frame: FrameInfo) -> None:
        for layer in self.layers:
            if layer.stateful:
                layer.advance(encoder, frame)

    def encode_frame(self, encoder, frame: FrameInfo) -> None:
        """Record all passes that produce ``frame`` in the compositor's output texture."""
        if self._next_state_frame != frame.index:
            self.seek(frame.index)
        self._advance(encoder, frame)
        self._next_state_frame = frame.index + 1
        stack = []
        for layer, view in zip(self.layers, self.layer_views):
            layer.draw(encoder, frame, view)
            opacity = self.ctx.params.value(layer.layer.opacity, frame.index)
            stack.append((view, layer.layer.blend, min(max(opacity, 0.0), 1.0)))
        self.compositor.encode(encoder, self.scene.background, stack)

    def _converter_for(self, layout: str = "yuv420p"):
        if layout not in self._converters:
            from .convert import YuvConverter

            self._converters[layout] = YuvConverter(self.device, self.width, self.height, layout=layout)
        return self._converters[layout]

    def _composite_for(self, output: str) -> None:
        """Composite in float for 10-bit output, in 8 bits otherwise (swapping the compositor once).

        Layers draw into the compositor's textures afresh every frame and keep their state in
        their own buffers, so a new compositor changes nothing else.
        """
        from .compositor import FLOAT_OUTPUT_FORMAT, Compositor
        from .device import OUTPUT_FORMAT

        want = OUTPUT_FORMAT if output in ("yuv420p", "rgba") else FLOAT_OUTPUT_FORMAT
        if self.compositor.output_format != want:
            self.compositor = Compositor(self.device, self.width, self.height, len(self.layers), output_format=want)
            self.layer_views = [self.compositor.layer_view(i) for i in range(len(self.layers))]

    def frames(self, first: int, count: int, output: str = "yuv420p", ring_depth: int = 3
               ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(track frame index, data)`` for frames ``first .. first+count-1`` in order.

        ``yuv420p`` gives flat I420 bytes converted on the GPU; ``yuv420p10le`` and ``p010le``
        10-bit 4:2:0 from a float composite, as flat bytes of 16-bit little-endian samples (see
        :mod:`gpurender.render.convert`); ``rgba`` gives ``[h, w, 4]`` uint8 with straight alpha.
        """
        from .readback import ReadbackRing, record_texture_copy, strip_row_padding, texture_copy_layout

        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}")
        self._composite_for(output)
        if output != "rgba":
            conv = self._converter_for(output)
            record = conv.record_copy
            ring = ReadbackRing(self.device, conv.nbytes, depth=ring_depth)
        else:
            _, nbytes = texture_copy_layout(self.width, self.height)
            record = record_texture_copy(self.compositor.output_texture, self.width, self.height)
            w, h = self.width, self.height
            ring = ReadbackRing(self.device, nbytes, depth=ring_depth,
                                postprocess=lambda arr: strip_row_padding(arr, w, h))
            conv = None
        with interrupts_at_frame_boundaries() as check_interrupt:
            try:
                yield from self._produce(first, count, conv, ring, record, check_interrupt)
            finally:
                ring.close()

    def _produce(self, first, count, conv, ring, record, check_interrupt):
        self.seek(first)
        for j in range(count):
            check_interrupt()
            index = first + j
            encoder = self.device.create_command_encoder()
            self.encode_frame(encoder, self.frame_info(index, j, count))
            if conv is not None:
                conv.encode(encoder, self.compositor.output_view)
            yield from ring.submit(encoder, record, index)
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
