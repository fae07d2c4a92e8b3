"""Puts the source audio beside a finished video stream, and joins chunk segments.

:func:`mux_audio` copies the encoded video stream untouched and encodes the source audio, trimmed
to exactly the rendered span by sample index, into the same container (AAC in mp4/mov/mkv, Opus
in webm), interleaved by time, with the MP4 index at the front. :func:`concat_segments` joins
video-only segments that each start on a keyframe into one stream by packet copy, rewriting the
timestamps onto one continuous ``index / fps`` grid. Both write atomically.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import AudioError, EncodeError, choices
from .encoders import PRORES_PROFILES
from .files import publish, remove_quietly, temp_beside
from .formats import MUXER, format_from_path

# User-facing audio codec names and the FFmpeg encoders behind them.
AUDIO_CODECS = {
    "aac": "aac",
    "opus": "libopus",
    "flac": "flac",
    "alac": "alac",
    "pcm_s16le": "pcm_s16le",
    "pcm_s24le": "pcm_s24le",
    "pcm_f32le": "pcm_f32le",
}
DEFAULT_AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "mkv": "aac", "webm": "opus"}
AUDIO_ALLOWED = {
    "mp4": ("aac", "opus", "flac", "alac"),
    "mov": ("aac", "alac", "pcm_s16le", "pcm_s24le", "pcm_f32le"),
    "mkv": tuple(AUDIO_CODECS),
    "webm": ("opus",),
}
_PRORES_TAG = {name: tag for tag, name in PRORES_PROFILES}
_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_BLOCK = 1 << 16  # samples read from the source at a time
_MAX_SHORTFALL_S = 0.05  # audio that ends this close before the span is padded with silence


def _faststart(fmt: str) -> dict[str, str]:
    return {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}


def _container_format(fmt: str | None, out_path: Path) -> str:
    fmt = fmt if fmt is not None else format_from_path(out_path)
    if fmt not in MUXER:
        raise EncodeError(f"format {fmt!r} cannot hold a video stream with sound; use one of {choices(MUXER)}")
    return fmt


@contextlib.contextmanager
def _atomic_container(out_path: Path, fmt: str):
    """An output container written under a temporary name beside ``out_path``: published when
    the block completes, closed and deleted when it raises."""
    import av

    temp = temp_beside(out_path)
    try:
        try:
            out = av.open(str(temp), "w", format=MUXER[fmt], options=_faststart(fmt))
        except OSError as exc:
            raise EncodeError(f"cannot write {str(out_path)!r}: {exc.strerror or exc}") from exc
        try:
            yield out
            out.close()
        except BaseException:
            try:
                out.close()
            except Exception:
                pass
            raise
    except BaseException:
        remove_quietly(temp)
        raise
    publish(temp, out_path)


def _video_stream(container, path: Path):
    if not container.streams.video:
        raise EncodeError(f"{str(path)!r} has no video stream; pass the file VideoWriter wrote")
    return container.streams.video[0]


def _open_input(path):
    import av

    path = Path(path)
    if not path.is_file():
        raise EncodeError(f"video file {str(path)!r} does not exist")
    try:
        return av.open(str(path))
    except Exception as exc:
        raise EncodeError(f"cannot read video file {str(path)!r}: {exc}") from exc


def _copy_stream(out, template, fmt: str):
    try:
        # opaque: reuse the decoder descriptor; a codec like AV1 has no encoder named after its decoder
        stream = out.add_stream_from_template(template, opaque=True)
    except ValueError as exc:
        raise EncodeError(
            f"{fmt} cannot hold the {template.codec_context.name} video stream; write the video in a "
            f"format that takes it"
        ) from exc
    name = template.codec_context.name
    if name == "hevc" and fmt in ("mp4", "mov"):
        stream.codec_tag = "hvc1"
    elif name == "prores" and fmt in ("mov", "mkv"):
        # A copied ProRes stream would be tagged apch (422 HQ) whatever it holds: tag its profile.
        tag = _PRORES_TAG.get(template.codec_context.profile or "")
        if tag:
            stream.codec_tag = tag
    # VP9's alpha travels in each packet's BlockAdditional (copied with the packet), but players
    # only look for it when the track says AlphaMode 1: the Matroska demuxer reports that as the
    # stream tag alpha_mode, and the muxer writes the element back from the same tag. Once copied
    # the tag is also stored as a Matroska tag, which comes back spelt ALPHA_MODE.
    alpha_mode = next((v for k, v in template.metadata.items() if k.lower() == "alpha_mode"), None)
    if alpha_mode and fmt in ("webm", "mkv"):
        stream.metadata["alpha_mode"] = alpha_mode
    return stream


def _packet_time(packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else 0.0


def _video_packets(container, stream):
    for packet in container.demux(stream):
        if packet.size == 0 or (packet.pts is None and packet.dts is None):
            continue  # demuxer's end-of-stream marker
        yield packet


# -- audio sources ------------------------------------------------------------------------------


class _Source:
    """Float32 blocks ``[k, channels]`` of one audio track, read from a span of samples."""

    sample_rate: int
    channels: int

    def blocks(self, first: int, count: int):  # pragma: no cover - interface
        raise NotImplementedError


class _ArraySource(_Source):
    def __init__(self, samples, sample_rate):
        array = np.asarray(samples, dtype=np.float32)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] < 1:
            raise AudioError(f"audio samples have shape {array.shape}; expected [samples, channels]")
        self.samples = array
        self.sample_rate = int(sample_rate)
        self.channels = array.shape[1]

    def blocks(self, first, count):
        end = min(first + count, len(self.samples))
        for i in range(first, end, _BLOCK):
            yield self.samples[i : min(i + _BLOCK, end)]


class _SoundFileSource(_Source):
    def __init__(self, path: Path, info):
        self.path = path
        self.sample_rate = info.samplerate
        self.channels = info.channels
        self.frames = info.frames

    def blocks(self, first, count):
        import soundfile

        if first >= self.frames:
            return
        with soundfile.SoundFile(str(self.path)) as fh:
            fh.seek(first)
            left = count
            while left > 0:
                block = fh.read(min(_BLOCK, left), dtype="float32", always_2d=True)
                if len(block) == 0:
                    return
                left -= len(block)
                yield block


class _PyAVSource(_Source):
    """Anything FFmpeg decodes (mp3, m4a, video files with sound ...), read front to back."""

    def __init__(self, path: Path):
        import av

        self.path = path
        try:
            with av.open(str(path)) as probe:
                if not probe.streams.audio:
                    raise AudioError(f"{str(path)!r} has no audio stream; pass an audio file")
                ctx = probe.streams.audio[0].codec_context
                self.sample_rate = ctx.sample_rate
                self.channels = ctx.layout.nb_channels
                self.layout = ctx.layout.name
        except AudioError:
            raise
        except Exception as exc:
            raise AudioError(f"cannot decode audio file {str(path)!r}: {exc}; convert it to WAV or FLAC") from exc

    def blocks(self, first, count):
        import av

        end = first + count
        pos = 0
        resampler = av.AudioResampler(format="flt", layout=self.layout, rate=self.sample_rate)
        with av.open(str(self.path)) as container:
            stream = container.streams.audio[0]

            def resampled():
                for decoded in container.decode(stream):
                    yield from resampler.resample(decoded)
                yield from resampler.resample(None)  # what the resampler still holds

            for frame in resampled():
                data = frame.to_ndarray().reshape(-1, self.channels)
                lo, hi = max(first - pos, 0), min(end - pos, len(data))
                if hi > lo:
                    yield data[lo:hi]
                pos += len(data)
                if pos >= end:
                    return


def _open_source(audio) -> _Source:
    if hasattr(audio, "samples") and hasattr(audio, "sample_rate"):
        return _ArraySource(audio.samples, audio.sample_rate)
    path = Path(audio)
    if not path.is_file():
        raise AudioError(f"audio file {str(path)!r} does not exist")
    try:
        import soundfile

        return _SoundFileSource(path, soundfile.info(str(path)))
    except Exception:
        # soundfile reads WAV/FLAC/OGG; everything else goes through FFmpeg
        return _PyAVSource(path)


# -- audio encoding -----------------------------------------------------------------------------


def _pick_rate(encoder: str, rate: int, allowed) -> int:
    if encoder == "libopus":
        return 48000  # Opus decoders always run at 48 kHz
    if not allowed or rate in allowed:
        return rate
    higher = [r for r in allowed if r >= rate]
    return min(higher) if higher else max(allowed)


def _pick_sample_format(codec) -> str:
    names = [f.name for f in (codec.audio_formats or [])]
    for preferred in ("flt", "fltp"):
        if preferred in names:
            return preferred
    return names[0] if names else "flt"


def _bit_rate(encoder: str, channels: int) -> int:
    if encoder == "aac":
        return min(96_000 * channels, 512_000)
    if encoder == "libopus":
        return min(64_000 * channels, 510_000)
    return 0


def _opens(encoder: str, rate: int, layout: str, sample_format: str) -> bool:
    import av

    try:
        ctx = av.CodecContext.create(encoder, "w")
        ctx.sample_rate = rate
        ctx.layout = layout
        ctx.format = sample_format
        ctx.bit_rate = _bit_rate(encoder, av.AudioLayout(layout).nb_channels)
        ctx.time_base = Fraction(1, rate)
        ctx.open()
        return True
    except Exception:
        return False


def _to_codec_frame(block: np.ndarray, sample_format: str, layout: str, rate: int, pts: int):
    """Float32 ``[k, ch]`` to an AudioFrame in the encoder's own sample format."""
    import av

    planar = sample_format.endswith("p")
    base = sample_format.rstrip("p")
    if base == "flt":
        data = block.astype(np.float32, copy=False)
    elif base == "s16":
        data = np.round(np.clip(block, -1.0, 1.0) * 32767.0).astype(np.int16)
    elif base == "s32":
        data = np.round(np.clip(block.astype(np.float64), -1.0, 1.0) * 2147483647.0).astype(np.int32)
    else:
        raise EncodeError(f"audio sample format {sample_format} is not supported here")
    if planar:
        # filled plane by plane: PyAV 18 lists one plane too many for 8-channel planar frames
        frame = av.AudioFrame(format=sample_format, layout=layout, samples=len(data))
        for channel in range(data.shape[1]):
            frame.planes[channel].update(np.ascontiguousarray(data[:, channel]))
    else:
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=sample_format, layout=layout)
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


class _AudioEncoder:
    """Trimmed source samples -> resampled, chunked frames -> encoded packets."""

    def __init__(self, out, source: _Source, first: int, count: int, fmt: str, audio_codec: str | None):
        import av

        name = audio_codec or DEFAULT_AUDIO_CODEC[fmt]
        if name not in AUDIO_CODECS:
            raise EncodeError(f"audio codec {name!r} is not known; use one of {choices(AUDIO_CODECS)}")
        if name not in AUDIO_ALLOWED[fmt]:
            raise EncodeError(f"{fmt} cannot hold {name} audio; use one of {', '.join(AUDIO_ALLOWED[fmt])}")
        encoder = AUDIO_CODECS[name]
        codec = av.codec.Codec(encoder, "w")
        self.source, self.first, self.count = source, first, count
        self.in_rate, self.in_channels = source.sample_rate, source.channels
        self.rate = _pick_rate(encoder, self.in_rate, codec.audio_rates)
        self.sample_format = _pick_sample_format(codec)
        layout = _LAYOUTS.get(self.in_channels)
        if layout is None or not _opens(encoder, self.rate, layout, self.sample_format):
            # the codec cannot carry this channel layout: keep the sound, as stereo
            layout = "stereo" if self.in_channels > 1 else "mono"
        self.layout = layout
        self.channels = av.AudioLayout(layout).nb_channels
        try:
            stream = out.add_stream(encoder, rate=self.rate)
        except ValueError as exc:
            raise EncodeError(f"{fmt} cannot hold {name} audio: {exc}") from exc
        ctx = stream.codec_context
        ctx.layout = layout
        ctx.format = self.sample_format
        ctx.time_base = Fraction(1, self.rate)
        ctx.bit_rate = _bit_rate(encoder, self.channels)
        try:
            ctx.open()
        except Exception as exc:
            raise EncodeError(
                f"audio encoder {encoder} would not open for {self.channels} channels at {self.rate} Hz: {exc}"
            ) from exc
        self.stream = stream
        self.frame_size = ctx.frame_size or 4096
        # count None: a streamed source read to its end, whatever its length turns out to be
        if count is None:
            self.total = None
        else:
            self.total = count if self.rate == self.in_rate else round(count * self.rate / self.in_rate)
        needs_resample = self.rate != self.in_rate or self.channels != self.in_channels
        self.in_layout = _LAYOUTS.get(self.in_channels)
        if needs_resample and self.in_layout is None:
            raise EncodeError(f"cannot convert {self.in_channels}-channel audio; give mono, stereo or up to 7.1")
        self.resampler = av.AudioResampler(format="flt", layout=layout, rate=self.rate) if needs_resample else None

    def _converted(self):
        """Float32 blocks at the output rate and layout, exactly ``self.total`` samples long."""
        import av

        produced = 0
        read = 0
        total = self.total if self.total is not None else 1 << 62

        def resample(frame):
            for out in self.resampler.resample(frame):
                yield out.to_ndarray().reshape(-1, self.channels)

        for block in self.source.blocks(self.first, self.count if self.count is not None else 1 << 62):
            read += len(block)
            if self.resampler is None:
                parts = [block]
            else:
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1), format="flt", layout=self.in_layout
                )
                frame.sample_rate = self.in_rate
                frame.pts = read - len(block)
                frame.time_base = Fraction(1, self.in_rate)
                parts = resample(frame)
            for part in parts:
                part = part[: total - produced]
                produced += len(part)
                if len(part):
                    yield part
        shortfall = self.count - read if self.count is not None else 0
        if shortfall > _MAX_SHORTFALL_S * self.in_rate:
            raise EncodeError(
                f"the audio ends {shortfall / self.in_rate:.3f}s before the rendered span does; "
                f"shorten --duration or --start"
            )
        if self.resampler is not None:
            for part in resample(None):
                part = part[: total - produced]
                produced += len(part)
                if len(part):
                    yield part
        if self.total is not None and produced < self.total:
            # a few samples short at the very end (rounding, a source a hair too short): silence
            yield np.zeros((self.total - produced, self.channels), np.float32)

    def packets(self):
        pending = np.zeros((0, self.channels), np.float32)
        pts = 0
        for block in self._converted():
            pending = np.concatenate([pending, block]) if len(pending) else block
            while len(pending) >= self.frame_size:
                chunk, pending = pending[: self.frame_size], pending[self.frame_size :]
                yield from self._encode(chunk, pts)
                pts += len(chunk)
        if len(pending):
            yield from self._encode(pending, pts)
        yield from self.stream.encode(None)

    def _encode(self, chunk, pts):
        frame = _to_codec_frame(chunk, self.sample_format, self.layout, self.rate, pts)
        yield from self.stream.encode(frame)


def _span(start_time: float, duration: float | None, rate: int, available: int | None) -> tuple[int, int | None]:
    """``(first sample, sample count)``; the count is None for "to the end" of a streamed source."""
    if start_time is None or not np.isfinite(start_time) or start_time < 0:
        raise EncodeError(f"audio start {start_time!r} is not valid; give a time in seconds >= 0")
    first = round(start_time * rate)
    if duration is None:
        if available is None:
            return first, None
        end = available
    else:
        if not np.isfinite(duration) or duration <= 0:
            raise EncodeError(f"audio duration {duration!r} is not valid; give a positive number of seconds")
        end = round((start_time + duration) * rate)
    if available is not None and first >= available > 0:
        raise EncodeError(f"audio start {start_time:g}s is past the end of the audio ({available / rate:.3f}s)")
    return first, max(end - first, 0)


def _available(source: _Source) -> int | None:
    if isinstance(source, _ArraySource):
        return len(source.samples)
    if isinstance(source, _SoundFileSource):
        return source.frames
    return None  # streamed sources are measured as they are read


def mux_audio(
    video_path,
    audio,
    out_path,
    *,
    start_time: float = 0.0,
    duration: float | None = None,
    format: str | None = None,
    audio_codec: str | None = None,
) -> None:
    """Write ``out_path``: the video stream of ``video_path`` copied, plus the trimmed source audio.

    ``audio`` is a path (decoded with soundfile, or PyAV for what soundfile cannot read), any object
    with ``.samples`` (float32 ``[n, channels]``) and ``.sample_rate`` such as
    ``gpurender.audio.AudioData``, or None to only remux. The audio is samples
    ``[round(start_time*sr), round((start_time+duration)*sr))`` of the source, encoded as AAC
    (mp4/mov/mkv) or Opus (webm) unless ``audio_codec`` says otherwise, keeping the source's
    channels and sample rate where the codec allows (Opus is resampled to 48 kHz). ``duration``
    None means to the end of the audio. MP4/MOV get their index at the front (faststart).
    """

    out_path = Path(out_path)
    fmt = _container_format(format, out_path)
    source = _open_source(audio) if audio is not None else None
    src = _open_input(video_path)
    try:
        vin = _video_stream(src, Path(video_path))
        with _atomic_container(out_path, fmt) as out:
            vout = _copy_stream(out, vin, fmt)
            audio_packets = iter(())
            if source is not None:
                first, count = _span(start_time, duration, source.sample_rate, _available(source))
                if count is None or count > 0:
                    audio_packets = _AudioEncoder(out, source, first, count, fmt, audio_codec).packets()
            _interleave(out, _video_packets(src, vin), vout, audio_packets)
    finally:
        src.close()


def _interleave(out, video_packets, vout, audio_packets) -> None:
    """Mux two packet streams in time order so players never wait on a far-ahead stream."""
    video = next(video_packets, None)
    sound = next(audio_packets, None)
    while video is not None or sound is not None:
        if sound is None or (video is not None and _packet_time(video) <= _packet_time(sound)):
            video.stream = vout
            out.mux_one(video)
            video = next(video_packets, None)
        else:
            out.mux_one(sound)
            sound = next(audio_packets, None)


def concat_segments(segment_paths, out_path, fps: int | Fraction | None = None) -> None:
    """Join video-only segments into ``out_path`` by stream copy, with continuous timestamps.

    The segments must share codec, size, pixel format and codec headers (encode them with the same
    :class:`EncodeSettings`, with ``gop`` set) and each must start on a keyframe. Frame ``k`` of the
    joined stream is shown at ``k / fps`` (``fps`` defaults to the first segment's frame rate).
    Only the first video stream of each segment is used. The output is written atomically.
    """

    paths = [Path(p) for p in segment_paths]
    if not paths:
        raise EncodeError("no segments to join; render at least one chunk first")
    out_path = Path(out_path)
    fmt = _container_format(None, out_path)
    # First pass (demux only, nothing decoded): check every segment and measure its reordering.
    plans = []
    reference = rate = None
    for path in paths:
        with _open_input(path) as container:
            stream = _video_stream(container, path)
            if reference is None:
                reference = _signature(stream)
                rate = Fraction(fps) if fps is not None else _frame_rate(stream, path)
            elif _signature(stream) != reference:
                raise EncodeError(
                    f"segment {str(path)!r} does not match {str(paths[0])!r} (codec, size, pixel format "
                    f"or codec headers differ); render every chunk with the same settings"
                )
            plans.append(_plan_segment(container, stream, rate, path))
    # Decode order must run ahead of display order by the deepest reordering of any segment, so
    # that dts stays below pts everywhere and rises by one frame per packet across every join.
    delay = max(plan.delay for plan in plans)
    with _atomic_container(out_path, fmt) as out:
        vout = None
        frames_before = 0
        for path, plan in zip(paths, plans):
            with _open_input(path) as container:
                stream = _video_stream(container, path)
                if vout is None:
                    vout = _copy_stream(out, stream, fmt)
                    vout.time_base = 1 / rate  # a hint; Matroska keeps its 1/1000
                _copy_segment(container, stream, vout, out, rate, plan, frames_before - delay, frames_before)
            frames_before += plan.frames


def _signature(stream) -> tuple:
    ctx = stream.codec_context
    return (ctx.name, ctx.width, ctx.height, ctx.format.name if ctx.format else None, bytes(ctx.extradata or b""))


def _frame_rate(stream, path: Path) -> Fraction:
    for rate in (stream.codec_context.framerate, stream.base_rate, stream.average_rate, stream.guessed_rate):
        if rate:
            return Fraction(rate)
    raise EncodeError(f"cannot tell the frame rate of {str(path)!r}; pass fps to concat_segments")


class _SegmentPlan:
    def __init__(self, start: int, frames: int, delay: int):
        self.start, self.frames, self.delay = start, frames, delay


def _frame_index(packet, start: int, tb: Fraction, rate: Fraction) -> int:
    return round((packet.pts - start) * tb * rate)


def _plan_segment(container, stream, rate: Fraction, path: Path) -> _SegmentPlan:
    tb = stream.time_base
    start = None
    count = 0
    delay = 0
    last = -1
    for packet in _video_packets(container, stream):
        if packet.pts is None:
            raise EncodeError(f"segment {str(path)!r} has a frame without a timestamp; re-encode it with VideoWriter")
        if start is None:
            if not packet.is_keyframe:
                raise EncodeError(
                    f"segment {str(path)!r} does not start on a keyframe; encode chunks with a keyframe interval (gop)"
                )
            start = stream.start_time if stream.start_time is not None else packet.pts
        index = _frame_index(packet, start, tb, rate)
        delay = max(delay, count - index)
        last = max(last, index)
        count += 1
    if count == 0:
        raise EncodeError(f"segment {str(path)!r} holds no frames")
    if last + 1 != count:
        raise EncodeError(
            f"segment {str(path)!r} has {count} frames spread over {last + 1} frame times at {rate} fps; "
            f"segments must be constant frame rate"
        )
    return _SegmentPlan(start, count, delay)


def _copy_segment(container, stream, vout, out, rate, plan: _SegmentPlan, first_dts: int, frames_before: int) -> None:
    """Copy one segment's packets, renumbered onto the joined stream's frame grid."""
    tb = stream.time_base
    # Timestamps are written as frame numbers in a 1/fps time base; the muxer rescales them to its
    # own, so ms-rounded (Matroska) segments still land on exact frame times in an MP4.
    frame_tb = 1 / rate
    for k, packet in enumerate(_video_packets(container, stream)):
        pts = frames_before + _frame_index(packet, plan.start, tb, rate)
        packet.time_base = frame_tb
        packet.pts, packet.dts, packet.duration = pts, first_dts + k, 1
        packet.stream = vout
        out.mux_one(packet)


__all__ = ["AUDIO_CODECS", "concat_segments", "mux_audio"]
