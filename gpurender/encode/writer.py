"""Encodes a stream of frames to a video-only file on a thread of its own.

:class:`VideoWriter` takes frames from the render loop through a bounded queue, so rendering and
encoding overlap and memory stays bounded; a worker thread turns each array into an FFmpeg frame
(tagged BT.709, limited range, ``pts = index`` in a ``1/fps`` time base), encodes and muxes it.
Errors in the thread come back to the caller as :class:`EncodeError`. Output goes to a hidden
temporary name beside the target and is renamed only by a successful :meth:`VideoWriter.close`;
an error or :meth:`VideoWriter.abort` deletes it.

PNG sequences (``settings.format == "png"``) are written one file per frame, numbered from 0:

* a folder (one that exists, a path ending in ``/``, or a name without an extension) receives
  ``frame_000000.png``, ``frame_000001.png``, ...;
* a name with a printf-style number, such as ``shots/take_%04d.png``, is used as given;
* any other name ending in ``.png``, such as ``out.png``, becomes ``out_000000.png``, ...

The frames are written into a hidden temporary folder and moved into place on ``close()``, so an
interrupted render leaves none of them behind (into an existing folder, files of the same names are
replaced and any others are left alone). RGBA is kept when ``settings.alpha`` is set.

Frames the encoder takes in another pixel format are converted on the writer's thread by swscale:
RGBA to VP9's yuva420p or FFV1's bgr0/bgra, 4:2:0 to ProRes 4:2:2, planar 10-bit to NVENC's P010.
For VP9 with alpha that costs 6.5 ms a 1080p frame on one core against about 260 ms of encoding, so
the GPU conversion has no yuva420p output.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import EncodeError, environment_failure, one_line
from .encoders import RGB_PIX_FMTS, EncodeSettings, EncoderChoice, _quiet_env, choose_encoder
from .files import check_output_dir, flush_to_disk, publish, remove_quietly, sync_folder, temp_beside
from .formats import MUXER

INPUT_FORMATS = ("yuv420p", "yuv420p10le", "p010le", "rgba")

# FFmpeg enum values: BT.709 for primaries, transfer and matrix; 1 = limited ("tv") range, 2 = full.
BT709 = 1
SPC_RGB = 0  # the matrix of R'G'B' streams (FFV1, PNG)
RANGE_TV = 1
RANGE_PC = 2

_STOP = object()


def _tag_bt709(obj, color_range: int, matrix: int = BT709) -> None:
    obj.colorspace = matrix
    obj.color_primaries = BT709
    obj.color_trc = BT709
    obj.color_range = color_range


def frame_nbytes(input_format: str, width: int, height: int) -> int:
    """Bytes of one frame of ``input_format`` (tightly packed planes, 2 bytes a 10-bit sample)."""
    if input_format == "rgba":
        return width * height * 4
    per_sample = 1 if input_format == "yuv420p" else 2
    return width * height * 3 // 2 * per_sample


def _yuv16_frame(buf: np.ndarray, width: int, height: int, pix_fmt: str):
    """A yuv420p10le or p010le VideoFrame from flat little-endian 16-bit samples."""
    import av

    samples = buf.view("<u2")
    frame = av.VideoFrame(width, height, pix_fmt)
    if pix_fmt == "p010le":
        shapes = ((height, width), (height // 2, width))  # Y, then interleaved Cb Cr
    else:
        shapes = ((height, width), (height // 2, width // 2), (height // 2, width // 2))
    start = 0
    for plane, (rows, cols) in zip(frame.planes, shapes):
        dst = np.frombuffer(plane, np.uint16).reshape(-1, plane.line_size // 2)
        dst[:rows, :cols] = samples[start : start + rows * cols].reshape(rows, cols)
        start += rows * cols
    return frame


def _i420_frame(buf: np.ndarray, width: int, height: int):
    """Wrap (or copy) a flat I420 buffer as a yuv420p VideoFrame."""
    import av

    if height % 4 == 0:
        # Zero-copy view; PyAV's yuv420p buffer import only infers the height right when 4 | h.
        return av.VideoFrame.from_numpy_buffer(buf.reshape(height * 3 // 2, width), "yuv420p")
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = width * height
    chroma = luma // 4
    planes = (
        buf[:luma].reshape(height, width),
        buf[luma : luma + chroma].reshape(height // 2, width // 2),
        buf[luma + chroma :].reshape(height // 2, width // 2),
    )
    for plane, src in zip(frame.planes, planes):
        dst = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        dst[: src.shape[0], : src.shape[1]] = src
    return frame


class _ContainerSink:
    """One video stream in an mp4/webm/mov/mkv file at a temporary name."""

    def __init__(self, target: Path, settings: EncodeSettings, choice: EncoderChoice):
        self.target = target
        self.settings = settings
        self.choice = choice
        self.temp: Path | None = None
        self.container = None
        self.stream = None

    def open(self) -> None:
        import av

        s, c = self.settings, self.choice
        self.temp = temp_beside(self.target)
        options = {"movflags": "+faststart"} if s.format in ("mp4", "mov") else {}
        try:
            self.container = av.open(str(self.temp), "w", format=MUXER[s.format], options=options)
        except OSError as exc:
            self.discard()
            raise EncodeError(f"cannot write {str(self.target)!r}: {exc.strerror or exc}") from exc
        try:
            _quiet_env(c.name)
            stream = self.container.add_stream(c.name, rate=Fraction(s.fps), options=dict(c.options))
            stream.width = s.width
            stream.height = s.height
            stream.pix_fmt = c.pix_fmt
            ctx = stream.codec_context
            ctx.time_base = 1 / Fraction(s.fps)
            ctx.framerate = Fraction(s.fps)
            if c.pix_fmt in RGB_PIX_FMTS:
                _tag_bt709(ctx, RANGE_PC, SPC_RGB)
            else:
                _tag_bt709(ctx, RANGE_TV)
            ctx.thread_type = "AUTO"  # frame threads where the codec has them, else slices
            ctx.thread_count = s.threads
            if c.codec == "hevc" and s.format in ("mp4", "mov"):
                stream.codec_tag = "hvc1"  # the tag Apple players require for HEVC
            elif c.codec_tag and s.format in ("mov", "mkv"):
                stream.codec_tag = c.codec_tag  # ProRes: the tag of the profile written (ap4h for 4444)
            ctx.open()
        except Exception as exc:
            self.discard()
            raise EncodeError(
                f"encoder {c.name} would not open for {s.width}x{s.height} {c.pix_fmt} at {s.fps} fps: "
                f"{one_line(exc)}; try --encoder cpu or another --codec"
            ) from exc
        self.stream = stream

    def encode(self, frame) -> None:
        self.container.mux(self.stream.encode(frame))

    def finish(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()
        self.container = None

    def publish(self) -> None:
        publish(self.temp, self.target)
        self.temp = None

    def discard(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except Exception:
                pass
            self.container = None
        remove_quietly(self.temp)
        self.temp = None


def png_target(path) -> tuple[Path, str, bool]:
    """Where a PNG sequence goes: ``(folder, file-name pattern, folder is the target)``."""
    text = os.fspath(path)
    p = Path(text)
    if "%" in p.name:
        try:
            p.name % 0
        except (TypeError, ValueError):
            raise EncodeError(
                f"PNG name pattern {p.name!r} is not valid; use one number field such as frame_%06d.png"
            ) from None
        return p.parent, p.name, False
    if text.endswith(("/", os.sep)) or p.is_dir() or not p.suffix:
        return p, "frame_%06d.png", True
    if p.suffix.lower() == ".png":
        return p.parent, p.stem.replace("%", "%%") + "_%06d.png", False
    raise EncodeError(f"a PNG sequence needs a folder or a name ending in .png, not {text!r}")


class _PngSink:
    """Numbered PNG files, written into a hidden folder and moved into place at the end."""

    def __init__(self, target: Path, settings: EncodeSettings, choice: EncoderChoice):
        self.settings = settings
        self.choice = choice
        self.folder, self.pattern, self.folder_is_target = png_target(target)
        self.temp: Path | None = None
        self.ctx = None
        self.names: list[str] = []
        self._next = 0

    def open(self) -> None:
        import av

        s = self.settings
        if self.folder_is_target:
            self.temp = temp_beside(self.folder, suffix="", folder=True)
        else:
            if not self.folder.is_dir():
                check_output_dir(self.folder / "x")
            self.temp = temp_beside(self.folder / "frames", suffix="", folder=True)
        ctx = av.CodecContext.create("png", "w")
        ctx.width, ctx.height = s.width, s.height
        ctx.pix_fmt = self.choice.pix_fmt
        ctx.time_base = 1 / Fraction(s.fps)
        ctx.framerate = Fraction(s.fps)
        ctx.thread_type = "AUTO"
        ctx.thread_count = s.threads
        try:
            ctx.open()
        except Exception as exc:
            self.discard()
            raise EncodeError(f"the PNG encoder would not open: {one_line(exc)}") from exc
        self.ctx = ctx

    def _save(self, packets) -> None:
        for packet in packets:
            index = packet.pts if packet.pts is not None else self._next
            self._next = index + 1
            name = self.pattern % index
            with open(self.temp / name, "wb") as fh:
                fh.write(bytes(packet))
            self.names.append(name)

    def encode(self, frame) -> None:
        self._save(self.ctx.encode(frame))

    def finish(self) -> None:
        self._save(self.ctx.encode(None))

    def publish(self) -> None:
        if self.folder_is_target and not self.folder.exists():
            try:
                publish(self.temp, self.folder)  # the whole folder at once, synced
            finally:
                self.temp = None
            return
        try:
            flush_to_disk(self.temp)
            for name in self.names:
                os.replace(self.temp / name, self.folder / name)
        except OSError as exc:
            self.discard()
            failure = environment_failure(exc, self.folder)
            if failure is not None:
                raise failure from exc
            raise EncodeError(f"could not move PNG frames into {str(self.folder)!r}: {exc.strerror or exc}") from exc
        sync_folder(self.folder)
        remove_quietly(self.temp)
        self.temp = None

    def discard(self) -> None:
        self.ctx = None
        remove_quietly(self.temp)
        self.temp = None


class VideoWriter:
    """Encodes frames on its own thread, fed through a bounded queue; writes a video-only file.

    ``input_format`` ``"yuv420p"``: each frame is a flat ``uint8`` array of ``w*h*3//2`` bytes
    (I420: the Y plane, then U, then V, each tightly packed, chroma ``w/2 x h/2``), BT.709
    limited range, as the GPU converter produces it. ``"yuv420p10le"``: the same planes with
    10-bit codes in little-endian 16-bit samples (``w*h*3`` bytes, ``uint8`` or ``uint16``);
    ``"p010le"``: Y, then one plane of interleaved Cb Cr, codes shifted into the top 10 bits.
    ``"rgba"``: ``uint8 [h, w, 4]``. Frames are converted to the encoder's pixel format on the
    writer's thread where they differ. ``"auto"`` takes what the chosen encoder wants
    (``choice.input_format``: P010 for NVENC at 10 bits, RGBA for alpha, FFV1 and PNG); read it
    back from :attr:`input_format`. The writer owns every array
    passed to :meth:`write`; the caller must not reuse it.

    Use as a context manager: leaving the block normally closes (and publishes) the file, leaving
    it by any exception, KeyboardInterrupt included, aborts and deletes the partial output.
    """

    def __init__(
        self,
        path,
        settings: EncodeSettings,
        input_format: str = "yuv420p",
        queue_size: int = 8,
        choice: EncoderChoice | None = None,
    ):
        if input_format != "auto" and input_format not in INPUT_FORMATS:
            raise EncodeError(f"input format {input_format!r} is not supported; use one of {', '.join(INPUT_FORMATS)}")
        if settings.alpha and input_format not in ("auto", "rgba"):
            raise EncodeError("a transparent background needs RGBA frames; pass input_format='rgba' to keep alpha")
        self.path = Path(path)
        self.settings = settings
        self.choice = choice if choice is not None else choose_encoder(settings)
        if input_format == "auto":
            input_format = self.choice.input_format
        self.input_format = input_format
        self.frames_written = 0
        w, h = settings.width, settings.height
        self._shape = (h, w, 4) if input_format == "rgba" else (frame_nbytes(input_format, w, h),)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(queue_size)))
        self._error: BaseException | None = None
        self._aborted = threading.Event()
        self._closed = False
        self._accepted = 0
        sink_type = _PngSink if settings.format == "png" else _ContainerSink
        self._sink = sink_type(self.path, settings, self.choice)
        self._sink.open()
        # A writer dropped without close() or abort() still must not leave its temp file behind.
        self._finalizer = weakref.finalize(self, remove_quietly, self._sink.temp)
        self._thread = threading.Thread(target=self._run, name=f"gpurender-encode-{self.choice.name}", daemon=True)
        self._thread.start()

    # -- caller side -----------------------------------------------------------------------

    def write(self, frame: np.ndarray) -> None:
        """Queue one frame; blocks while the queue is full. Raises the thread's error, if any."""
        if self._closed:
            raise EncodeError("write() called on a VideoWriter that is already closed or aborted")
        self._raise_if_failed()
        try:
            array = self._check(frame)
        except EncodeError:
            self._fail()
            raise
        self._put(array)
        self._accepted += 1

    def close(self) -> None:
        """Flush the encoder, finish the container and rename it onto the target path."""
        if self._closed:
            return
        try:
            self._put(_STOP)
            self._thread.join()
        except BaseException:
            self.abort()
            raise
        self._raise_if_failed()
        self._closed = True
        try:
            self._sink.publish()
        finally:
            self._finalizer.detach()

    def abort(self) -> None:
        """Stop encoding and delete the partial output. Safe to call more than once."""
        if self._closed and not self._thread.is_alive():
            self._sink.discard()
            return
        self._fail()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def _check(self, frame) -> np.ndarray:
        array = np.asarray(frame)
        if self.input_format in ("yuv420p10le", "p010le") and array.dtype == np.uint16:
            array = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        if array.dtype != np.uint8:
            raise EncodeError(f"frame {self._accepted} has dtype {array.dtype}; the encoder takes uint8 frames")
        if self.input_format != "rgba":
            if array.size != self._shape[0]:
                raise EncodeError(
                    f"frame {self._accepted} has {array.size} bytes; a {self.settings.width}x{self.settings.height} "
                    f"{'I420' if self.input_format == 'yuv420p' else self.input_format} frame has {self._shape[0]}"
                )
            return np.ascontiguousarray(array).reshape(-1)
        if array.shape != self._shape:
            raise EncodeError(
                f"frame {self._accepted} has shape {array.shape}; expected {self._shape} (height, width, RGBA)"
            )
        return np.ascontiguousarray(array)

    def _put(self, item) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                # The queue only stays full if the thread stopped: surface its error instead of hanging.
                if not self._thread.is_alive():
                    self._raise_if_failed()
                    self._fail()
                    raise EncodeError(f"encoder thread for {self.choice.name} stopped unexpectedly") from None

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _fail(self) -> None:
        """Shut down after an error: stop the thread, delete the partial output."""
        self._closed = True
        self._aborted.set()
        self._drain()
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self._thread.join()
        self._sink.discard()
        self._finalizer.detach()

    def _raise_if_failed(self) -> None:
        error = self._error
        if error is None:
            return
        self._fail()
        if isinstance(error, EncodeError):
            raise EncodeError(str(error)) from error
        failure = environment_failure(error)
        if failure is not None:  # the disk, not the encoder: another codec would not help
            raise failure from error
        raise EncodeError(
            f"encoder {self.choice.name} failed at frame {self.frames_written}: {one_line(error)}; "
            f"try another --codec or --encoder cpu"
        ) from error

    # -- encoder thread ---------------------------------------------------------------------

    def _run(self) -> None:
        index = 0
        try:
            while True:
                item = self._queue.get()
                if item is _STOP or self._aborted.is_set():
                    break
                frame = self._to_frame(item, index)
                item = None  # release the array as soon as it is encoded
                self._encode(frame)
                index += 1
                self.frames_written = index
            if not self._aborted.is_set():
                self._sink.finish()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the caller
            self._error = exc

    def _encode(self, frame) -> None:
        self._sink.encode(frame)

    def _to_frame(self, array: np.ndarray, index: int):
        import av

        s, pix = self.settings, self.choice.pix_fmt
        rgb_out = pix in RGB_PIX_FMTS
        if self.input_format == "rgba":
            frame = av.VideoFrame.from_numpy_buffer(array, "rgba")
            if pix != "rgba":
                # R'G'B' targets are a reordering (exact); Y'CbCr ones BT.709 limited range
                frame = frame.reformat(format=pix, dst_colorspace=BT709,
                                       dst_color_range=RANGE_PC if rgb_out else RANGE_TV)
            if pix == "yuva420p":
                # swscale moves some alpha values by one; the alpha plane is the input's, exactly
                plane = frame.planes[3]
                np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: s.height, : s.width] = array[..., 3]
        else:
            if self.input_format == "yuv420p":
                frame = _i420_frame(array, s.width, s.height)
            else:
                frame = _yuv16_frame(array, s.width, s.height, self.input_format)
            _tag_bt709(frame, RANGE_TV)
            if pix != self.input_format:
                frame = frame.reformat(
                    format=pix,
                    src_colorspace=BT709,
                    dst_colorspace=BT709,
                    src_color_range=RANGE_TV,
                    dst_color_range=RANGE_PC if rgb_out else RANGE_TV,
                )
        if not rgb_out:  # R'G'B' frames stay untagged: PNG would write BT.709's gamma into every file
            _tag_bt709(frame, RANGE_TV)
        frame.pts = index
        frame.time_base = 1 / Fraction(s.fps)
        return frame
