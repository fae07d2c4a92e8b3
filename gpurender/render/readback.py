"""Brings finished frames from the GPU to the CPU through a ring of staging buffers, without stalls.

:class:`ReadbackRing` owns K MAP_READ staging buffers. Frame ``i`` is copied into slot ``i mod K``
and mapped asynchronously while the next frames render; the CPU waits only when the ring is full,
and then only for the oldest frame. Frames come out once each, in order, as NumPy arrays that own
their memory (mapped memory never leaves this module). The helpers at the bottom read back an
RGBA texture, whose rows WebGPU pads to 256 bytes.

How waiting works in wgpu-py 0.32 (wgpu-native backend): ``buffer.map_async`` returns a
``GPUPromise`` and takes a token on the device's poll thread, which polls the device (blocking,
GIL released) until the map callback fires and sets the promise's ``threading.Event``.
``sync_wait()`` then just waits on that event and runs the handler that marks the buffer mapped.
Waits go through :func:`gpurender.render.waits.wait_promise` instead: the same event, polled in
slices with a deadline, so an interrupt swallowed by the map callback or a lost device ends the
render with an error instead of a wait without end.
No asyncio loop is needed, so this works from any ordinary thread. Checking whether a promise has
settled without waiting needs its private ``_state`` (there is no public getter); if a future
wgpu-py drops it, :func:`_settled` answers "not yet" and frames are delivered when the ring fills
or on :meth:`ReadbackRing.flush` instead, which is later but still correct.

On the lavapipe software adapter ``queue.submit`` blocks until the previous submission has
finished, so at most one frame is queued ahead of the GPU no matter the depth; the ring still
lets the consumer (e.g. an encoder thread; the blocked submit releases the GIL) work on earlier
frames meanwhile. That is also why mapping avoids wgpu-py's extra empty submit (see
:func:`_map_read`).
"""

from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np

from ..errors import RenderError
from .waits import settled as _settled, wait_promise

#: Seconds :meth:`ReadbackRing.close` waits for each map still in flight.
CLOSE_WAIT_S = 2.0
#: WebGPU requires bytes_per_row of texture<->buffer copies to be a multiple of this.
COPY_ROW_ALIGNMENT = 256


def _map_read(buffer, size: int):
    """Start mapping ``buffer`` for reading; returns the map promise.

    wgpu-py's plain "READ" mode first submits an empty command buffer, a workaround for buffers
    written through ``mapped_at_creation`` (wgpu-native issue 305, wgpu issue 5173). Our staging
    buffers are only ever filled by copies we submitted, so the workaround is not needed, and it
    costs dearly: on lavapipe a submit blocks until the previous submission has finished, so that
    extra submit would make every frame synchronous. "READ_NOSYNC" is wgpu-py's internal name for
    the mode without it; versions that lack it get the plain mode.
    """
    try:
        return buffer.map_async("READ_NOSYNC", 0, size)
    except (KeyError, ValueError, TypeError, AttributeError):
        return buffer.map_async("READ", 0, size)


class _Slot:
    __slots__ = ("buffer", "promise", "frame_index")

    def __init__(self, buffer):
        self.buffer = buffer
        self.promise = None
        self.frame_index = None


class ReadbackRing:
    """A ring of ``depth`` MAP_READ | COPY_DST staging buffers of ``nbytes`` each.

    Use from one thread. ``postprocess``, if given, is applied to each frame's bytes (a read-only
    flat uint8 array, valid only during the call) and its result is what :meth:`submit` and
    :meth:`flush` return; if that result still shares memory with the mapped buffer it is
    copied, so the returned arrays never point into mapped memory. ``depth=1`` is fully
    synchronous readback: every frame is waited for in the :meth:`submit` that sent it.
    """

    def __init__(
        self,
        device,
        nbytes: int,
        depth: int = 3,
        postprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        import wgpu

        if int(depth) < 1:
            raise ValueError(f"readback ring depth must be at least 1, got {depth}")
        if int(nbytes) < 1:
            raise ValueError(f"readback ring buffers need a positive size, got {nbytes}")
        self.device = device
        self.nbytes = int(nbytes)
        self.depth = int(depth)
        self.postprocess = postprocess
        # Mapping and buffer copies work in multiples of 4 bytes.
        self.buffer_size = (self.nbytes + 3) & ~3
        self._slots = [
            _Slot(
                device.create_buffer(
                    label=f"gpurender readback {i}",
                    size=self.buffer_size,
                    usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST,
                )
            )
            for i in range(self.depth)
        ]
        self._next = 0  # slot that the next frame goes into
        self._in_flight: deque[_Slot] = deque()  # oldest first

    @property
    def in_flight(self) -> int:
        """Frames submitted and not yet delivered."""
        return len(self._in_flight)

    def submit(self, command_encoder, record_copy, frame_index: int) -> list[tuple[int, np.ndarray]]:
        """Copy this frame into the next slot, submit ``command_encoder`` and start mapping.

        ``record_copy(encoder, slot_buffer)`` records the copy of the frame into the slot's
        buffer. Returns ``(frame_index, array)`` for every frame that completed, oldest first:
        the frames whose maps have already finished (no waiting), the oldest frame if its slot
        is needed again (the ring is full), and with ``depth=1`` this frame itself.
        """
        done = self._harvest()
        slot = self._slots[self._next]
        if slot.promise is not None:
            # Ring full: the slot still holds the oldest frame. The K-1 newer frames keep the GPU
            # busy meanwhile. (Submitting this frame's rendering before the wait would overlap a
            # little more on a GPU, but costs a second submit per frame, and on lavapipe a
            # submit blocks until the previous one has finished.)
            done.append(self._deliver_oldest())
        record_copy(command_encoder, slot.buffer)
        self.device.queue.submit([command_encoder.finish()])

        slot.frame_index = frame_index
        slot.promise = _map_read(slot.buffer, self.buffer_size)
        self._in_flight.append(slot)
        self._next = (self._next + 1) % self.depth

        if self.depth == 1:
            done.append(self._deliver_oldest())
        else:
            done.extend(self._harvest())
        return done

    def poll(self) -> list[tuple[int, np.ndarray]]:
        """The frames that have finished since the last call, without waiting."""
        return self._harvest()

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Wait for every frame still in flight and return them, oldest first."""
        done = []
        while self._in_flight:
            done.append(self._deliver_oldest())
        return done

    def close(self) -> None:
        """Drop frames still in flight and free the staging buffers.

        Waits for a pending map only briefly: one that never settles (its callback lost to an
        interrupt, a lost device) must not hang the shutdown of a render that is already failing.
        A buffer whose map is still pending is destroyed as it is, which WebGPU allows (the map
        is aborted).
        """
        while self._in_flight:
            slot = self._in_flight.popleft()
            try:
                wait_promise(slot.promise, "a frame in flight at shutdown", timeout=CLOSE_WAIT_S)
                slot.buffer.unmap()
            except Exception:
                pass  # already failing or shutting down; the buffers go anyway
            slot.promise = None
        for slot in self._slots:
            slot.buffer.destroy()
        self._slots = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _harvest(self) -> list[tuple[int, np.ndarray]]:
        done = []
        while self._in_flight and _settled(self._in_flight[0].promise):
            done.append(self._deliver_oldest())
        return done

    def _deliver_oldest(self) -> tuple[int, np.ndarray]:
        slot = self._in_flight.popleft()
        promise, slot.promise = slot.promise, None
        try:
            wait_promise(promise, f"reading frame {slot.frame_index} back from the GPU")
        except RenderError:
            raise
        except Exception as exc:
            raise RenderError(
                f"reading frame {slot.frame_index} back from the GPU failed ({exc}); "
                "the device may have been lost - rerun, or use the software adapter"
            ) from exc
        try:
            view = slot.buffer.read_mapped(0, self.buffer_size, copy=False)
            raw = np.frombuffer(view, np.uint8, count=self.nbytes)
            if self.postprocess is None:
                out = raw.copy()
            else:
                out = self.postprocess(raw)
                if isinstance(out, np.ndarray) and np.may_share_memory(out, raw):
                    out = out.copy()
            # Drop every reference into the mapping before unmapping, so wgpu-py can release
            # its memoryview (a live numpy export would make that release fail silently).
            del raw, view
        finally:
            slot.buffer.unmap()
        return slot.frame_index, out


def texture_copy_layout(width: int, height: int, bytes_per_pixel: int = 4) -> tuple[int, int]:
    """``(bytes_per_row, nbytes)`` of a buffer receiving a ``width`` x ``height`` texture copy.

    Rows are padded to WebGPU's 256-byte alignment.
    """
    row = width * bytes_per_pixel
    padded = (row + COPY_ROW_ALIGNMENT - 1) // COPY_ROW_ALIGNMENT * COPY_ROW_ALIGNMENT
    return padded, padded * height


def record_texture_copy(texture, width: int, height: int, bytes_per_pixel: int = 4):
    """A ``record_copy(encoder, buffer)`` for :meth:`ReadbackRing.submit` that copies ``texture``.

    Size the ring with ``texture_copy_layout(width, height)[1]`` and strip the row padding with
    :func:`strip_row_padding` as the ring's postprocess.
    """
    bytes_per_row, _ = texture_copy_layout(width, height, bytes_per_pixel)

    def record_copy(command_encoder, buffer) -> None:
        command_encoder.copy_texture_to_buffer(
            {"texture": texture, "mip_level": 0, "origin": (0, 0, 0)},
            {"buffer": buffer, "offset": 0, "bytes_per_row": bytes_per_row, "rows_per_image": height},
            (width, height, 1),
        )

    return record_copy


def strip_row_padding(arr: np.ndarray, width: int, height: int, bpp: int = 4) -> np.ndarray:
    """The ``[height, width, bpp]`` pixels of a buffer laid out by :func:`texture_copy_layout`.

    Returns a view when the rows carry padding (the ring copies it out of mapped memory, once)
    and a reshape otherwise.
    """
    bytes_per_row, nbytes = texture_copy_layout(width, height, bpp)
    flat = np.asarray(arr, dtype=np.uint8).reshape(-1)[:nbytes]
    return flat.reshape(height, bytes_per_row)[:, : width * bpp].reshape(height, width, bpp)
