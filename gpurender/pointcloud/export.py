"""Sequences one point-cloud export: check frames, frame the camera, draw, encode, mux, verify, publish.

This module only orders the stages for a point-cloud sequence, as :mod:`gpurender.pipeline` does
for audio scenes: frames are checked (:mod:`.frames`), drawn straight to I420 by
:class:`PointVideoRenderer` (depth-tested splat, title and colour conversion in two compute passes;
sprite drawing and widths that are not a multiple of 8 go through the ``pointseq`` layer and
:class:`FrameRenderer` instead), read back through the ring, encoded by
:class:`VideoWriter` with a fallback through the other encoders that open, joined with an optional
audio track, then reopened to check the frame count and duration. Everything is written under
temporary names and renamed onto the target only once verified.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import EncodeError, SceneError, choices
from ..pipeline import RenderResult
from ..progress import Progress
from .frames import (UP_AXES, ColorMapper, FrameFeed, Normalizer, check_bounds, scan)

DEFAULT_TITLE = "Frame {i}/{n} | {points} points"
TITLE_PLACEHOLDERS = ("i", "n", "points", "frame", "frames", "time", "fps")
CAMERA_MODES = ("auto", "orbit")
CAMERA_KEYS = ("distance", "elevation", "azimuth", "orbit_speed", "fov", "target")
DRAW_MODES = ("depth", "blend", "additive")
VIDEO_FORMATS = ("mp4", "webm", "mov", "mkv")
_FIT_MARGIN = 1.06  # room left around the fitted bounds, as a factor on the camera distance
_DEFAULT_VIEW = {"elevation": 20.0, "azimuth": 30.0, "fov": 45.0}
_UNKNOWN_ORBIT_SPEED = 30.0  # degrees per second when the video's length is not known beforehand


@dataclass(frozen=True)
class PointCloudResult(RenderResult):
    """What was written, as verified by reopening the file."""

    width: int = 0
    height: int = 0
    fps: int = 0
    min_points: int = 0
    max_points: int = 0
    encoder_notice: str = ""

    def summary(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        points = (f"{self.max_points}" if self.min_points == self.max_points
                  else f"{self.min_points}-{self.max_points}")
        return (f"wrote {self.path}: {self.frames} frames, {self.width}x{self.height} at {self.fps} fps, "
                f"{self.duration:.3f} s, {self.size_bytes / 1e6:.2f} MB, {points} points per frame, "
                f"encoder {self.encoder}, adapter {self.adapter}, {self.seconds:.1f} s ({rate:.1f} frames/s)")


# -- camera ---------------------------------------------------------------------------------------


def fit_distance(corners: np.ndarray, fov: float, aspect: float, elevation: float, azimuths) -> float:
    """Smallest camera distance from the origin at which every corner is inside the view.

    ``corners`` are points in drawing space (the bounding box's eight corners); the camera looks
    at the origin from ``elevation`` and each of ``azimuths`` (degrees), as the orbit camera does.
    A corner at depth ``z`` toward the camera and offsets ``x``, ``y`` across the view is inside
    when ``|x| <= tan(half_h) * (d - z)`` and ``|y| <= tan(half_v) * (d - z)``.
    """
    from ..render.camera import look_at

    tan_v = math.tan(math.radians(fov) / 2.0)
    tan_h = tan_v * aspect
    el = math.radians(elevation)
    need = 0.0
    for az in np.radians(np.asarray(azimuths, np.float64)):
        eye = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
        rot = look_at(eye, (0.0, 0.0, 0.0))[:3, :3]  # rows: side, up, -forward
        x, y, back = (corners @ rot.T).T
        need = max(need, float(np.max(np.maximum(np.abs(x) / tan_h, np.abs(y) / tan_v) + back)))
    return _FIT_MARGIN * max(need, 1e-6)


def resolve_camera(camera, bounds, aspect: float, up: str, duration: float | None):
    """The scene camera in drawing space and the :class:`Normalizer` that maps data into it.

    ``camera`` is ``"auto"`` (fitted to ``bounds``, still), ``"orbit"`` (fitted, one turn over the
    video), or a dict with an optional ``mode`` (``auto``/``orbit``) and any of ``distance``,
    ``elevation``, ``azimuth``, ``orbit_speed`` (degrees/s), ``fov``, ``target`` in data units
    (None means unset); a missing ``distance`` or ``target`` is fitted from ``bounds``, which must
    then be known.
    """
    from ..scene.model import Camera

    if isinstance(camera, Camera):
        camera = {k: getattr(camera, k) for k in CAMERA_KEYS}
    if isinstance(camera, str):
        camera = {"mode": camera}
    if not isinstance(camera, dict):
        raise SceneError(f"camera {camera!r} is not understood; use 'auto', 'orbit' or a dict of "
                         f"{', '.join(CAMERA_KEYS)}")
    camera = dict(camera)
    mode = camera.pop("mode", "auto")
    if mode not in CAMERA_MODES:
        raise SceneError(f"camera {mode!r} is not valid; use {' or '.join(CAMERA_MODES)}, or a dict of "
                         f"{', '.join(CAMERA_KEYS)}")
    unknown = [k for k in camera if k not in CAMERA_KEYS]
    if unknown:
        raise SceneError(f"camera: unknown key {unknown[0]!r}; valid: {choices(CAMERA_KEYS + ('mode',))}")
    speed = 0.0
    if mode == "orbit":
        speed = 360.0 / duration if duration else _UNKNOWN_ORBIT_SPEED
    given = {"orbit_speed": speed, **{k: v for k, v in camera.items() if v is not None}}
    values = {**_DEFAULT_VIEW, **given}
    for key in ("distance", "elevation", "azimuth", "orbit_speed", "fov"):
        value = values.get(key)
        if key in values and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                              or not math.isfinite(value)):
            raise SceneError(f"camera {key} {value!r} is not a number")
    if not 1.0 <= values["fov"] <= 170.0:
        raise SceneError(f"camera fov {values['fov']} is not valid; give degrees between 1 and 170")
    target = values.get("target")
    if target is not None:
        try:
            target = np.asarray(target, np.float64).reshape(3)
        except (TypeError, ValueError):
            raise SceneError(f"camera target {values['target']!r} is not valid; give (x, y, z)") from None
        if not np.isfinite(target).all():
            raise SceneError(f"camera target {values['target']!r} is not valid; give finite (x, y, z)")
    distance = values.get("distance")
    if distance is not None and distance <= 0:
        raise SceneError(f"camera distance {distance} is not valid; give a positive number")

    if bounds is None:
        if distance is None or target is None:
            raise SceneError(
                "the camera is fitted to the bounds of the whole sequence, which a one-shot iterator cannot "
                "give; pass bounds=((xmin, ymin, zmin), (xmax, ymax, zmax)), a list or re-iterable sequence, "
                "or a fixed camera with both distance and target"
            )
        # keep the camera's own distance at 3 drawing units, where the fixed near/far planes sit well
        norm = Normalizer(tuple(target), distance / 3.0, up)
    else:
        lo, hi = bounds
        radius = float(np.linalg.norm(hi - lo)) / 2.0
        center = (lo + hi) / 2.0
        if not radius > 1e-9 * max(1.0, float(np.abs(center).max())):
            radius = 1.0  # every point in one place: any scale frames it
        norm = Normalizer(tuple(center), radius, up)
    eye_target = (0.0, 0.0, 0.0)
    if target is not None:
        eye_target = tuple(float(v) for v in norm.apply(target[None, :])[0])
    if distance is None:
        lo_n, hi_n = norm.apply(np.stack([lo, hi]))  # axis-aligned stays axis-aligned under the mapping
        corners = np.array([[x, y, z] for x in (lo_n[0], hi_n[0]) for y in (lo_n[1], hi_n[1])
                            for z in (lo_n[2], hi_n[2])]) - np.asarray(eye_target)
        turning = values["orbit_speed"] != 0.0
        azimuths = np.arange(0.0, 360.0, 5.0) if turning else [values["azimuth"]]
        eye_distance = fit_distance(corners, values["fov"], aspect, values["elevation"], azimuths)
    else:
        eye_distance = distance / norm.scale
    cam = Camera(distance=float(eye_distance), elevation=float(values["elevation"]),
                 azimuth=float(values["azimuth"]), orbit_speed=float(values["orbit_speed"]),
                 fov=float(values["fov"]), target=eye_target)
    return cam, norm


# -- encoder with fallback ----------------------------------------------------------------------


def _encoder_candidates(enc):
    """Encoder choices to try, best first: the usual choice, then every other one that opens here."""
    from ..encode import choose_encoder, probe_encoder
    from ..encode.encoders import CPU_ENCODER, NVENC
    from ..encode.formats import COMPATIBLE

    yield choose_encoder(enc)  # raises for --encoder gpu without NVENC: that request is kept strict
    codecs = [enc.resolved_codec] + [c for c in COMPATIBLE[enc.format] if c != enc.resolved_codec]
    modes = ("cpu",) if enc.encoder == "cpu" else ("gpu", "cpu")
    for codec in codecs:
        for mode in modes:
            name = (NVENC if mode == "gpu" else CPU_ENCODER).get(codec)
            if name is None or not probe_encoder(name)[0]:
                continue
            try:
                yield choose_encoder(replace(enc, codec=codec, encoder=mode))
            except EncodeError:
                continue  # this codec cannot take these settings (e.g. lossless ProRes)


def open_writer(path, enc, queue_size: int = 8):
    """A :class:`VideoWriter` on the first encoder that opens, and a notice saying which and why."""
    from ..encode import VideoWriter

    failed: list[str] = []
    tried: set[str] = set()
    for choice in _encoder_candidates(enc):
        if choice.name in tried:
            continue
        tried.add(choice.name)
        try:
            writer = VideoWriter(path, enc, input_format="yuv420p", queue_size=queue_size, choice=choice)
        except EncodeError as exc:
            failed.append(f"{choice.name} ({exc})")
            continue
        notice = choice.notice or f"encoder: {choice.name}"
        if failed:
            notice = f"encoder: {choice.name} ({choice.codec}), after falling back from " + "; ".join(failed)
        return writer, notice
    raise EncodeError(f"no video encoder would open for {enc.width}x{enc.height} {enc.format}: "
                      + "; ".join(failed) + "; try another --format or a smaller --resolution")


# -- verification ---------------------------------------------------------------------------------


def verify_video(path, frames: int, fps: int, width: int, height: int, audio: bool) -> float:
    """Reopen ``path``: exactly ``frames`` video frames of ``width`` x ``height`` spanning
    ``frames / fps`` seconds (and a sound track when ``audio``); returns the file's duration."""
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        raise EncodeError(f"the finished video does not reopen ({exc}); nothing was written") from exc
    with container:
        if not container.streams.video:
            raise EncodeError("the finished video has no video stream; nothing was written")
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        if audio and not container.streams.audio:
            raise EncodeError("the finished video lost its sound track; nothing was written")
        count, first, last = 0, None, None
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            count += 1
            first = packet.pts if first is None else min(first, packet.pts)
            last = packet.pts if last is None else max(last, packet.pts)
        span = 0.0 if count == 0 else float((last - first) * stream.time_base) + 1.0 / fps
        duration = float(container.duration / av.time_base) if container.duration else span
    if size != (width, height):
        raise EncodeError(f"the finished video is {size[0]}x{size[1]}, not {width}x{height}; nothing was written")
    if count != frames:
        raise EncodeError(f"the finished video has {count} frames, not {frames}; nothing was written")
    if abs(span - frames / fps) > 0.5 / fps:
        raise EncodeError(f"the finished video spans {span:.3f} s, not {frames / fps:.3f} s; nothing was written")
    return duration


# -- the export ---------------------------------------------------------------------------------




def encoder_threads_beside_software() -> int:
    """Encoder threads when a software adapter renders on the same cores: one per usable core.

    x264 left to itself starts 1.5 threads per core, which oversubscribes the cores lavapipe's
    threads render on. Measured on 2 cores, 10,000 points, alternating runs (median frames/s, one
    thread per core vs automatic): 640x480 115 vs 102, 1280x720 62 vs 61, 1920x1080 34 vs 34.
    (One thread in all, tried first, helped at 640x480 but cost 15-20% from 720p up.)
    """
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _title_layer(title: str, size: float, color):
    """A validated ``text`` layer for the title in the top-left corner."""
    from ..render.layers.text import placeholder_names
    from ..scene import scene_from_dict

    unknown = [name for name in placeholder_names(title, "title") if name not in TITLE_PLACEHOLDERS]
    if unknown:
        raise SceneError(f"title: unknown placeholder {{{unknown[0]}}}; valid: {choices(TITLE_PLACEHOLDERS)}")
    layer = {"type": "text", "text": title, "size": size, "color": color, "x": 0.02, "y": 0.975, "anchor": "top-left"}
    return scene_from_dict({"layers": [layer]}, source="title").layers[0]


def _load_audio(audio):
    if audio is None or hasattr(audio, "samples"):
        return audio
    from ..audio import load_audio

    return load_audio(audio)


def export_point_cloud_video(
    frames,
    path,
    fps: int = 30,
    *,
    resolution="1280x720",
    quality: str = "high",
    format: str | None = None,
    codec: str | None = None,
    encoder: str = "auto",
    lossless: bool = False,
    point_size: float = 3.0,
    colormap: str = "viridis",
    background="#000000",
    camera="auto",
    bounds=None,
    up: str = "y",
    draw: str = "depth",
    softness: float = 0.35,
    audio=None,
    title: str | None = DEFAULT_TITLE,
    title_size: float | None = None,
    title_color="#ffffff",
    n_frames: int | None = None,
    progress=True,
    ring_depth: int = 3,
    queue_size: int = 8,
) -> PointCloudResult:
    """Render a sequence of point clouds to a video file at ``path``; returns what was written.

    ``frames``: a list/sequence (or any re-iterable) of frames, or a one-shot iterator producing
    them lazily. A frame is a dict with ``points`` (``N x 3``) and optional ``colors`` (``N x 3``
    or ``N x 4``, floats in 0..1 or uint8), or a bare ``N x 3`` array; N may change between frames.
    Frames without colours are coloured by height (the ``up`` axis, ``"y"`` or ``"z"``) through
    ``colormap`` over the height range of the whole sequence.

    Re-iterable input is checked completely before anything is written (one frame in memory at a
    time), then read again to render. A one-shot iterator is checked frame by frame as it renders
    and the export stops on the first bad frame, leaving no file; ``n_frames`` announces its
    length for the title and progress (the title shows ``?`` otherwise).

    ``camera``: ``"auto"`` fits the bounds of the whole sequence (so the framing never jumps),
    ``"orbit"`` fits them and turns once around the cloud over the video; a dict sets any of
    ``distance``, ``elevation``, ``azimuth``, ``orbit_speed`` (degrees/s), ``fov`` and ``target``
    in data units, plus ``mode`` (auto/orbit) for the rest; a missing distance or target is fitted.
    Fitting needs the bounds: a one-shot iterator must then be given ``bounds=(lo, hi)``.

    ``point_size`` is the points' diameter in pixels; ``draw`` is ``"depth"`` (nearest point wins,
    splatted in compute), ``"blend"`` or ``"additive"`` (soft sprites, ``softness`` their faded edge).

    ``title``: a template over ``{i}`` (1-based frame), ``{n}`` (frames), ``{points}``, ``{frame}``
    and ``{time}``, drawn top left at ``title_size`` pixels (default 4% of the height) in
    ``title_color``; None for no title. ``audio``: a file path or :class:`AudioData`, trimmed to the
    video. ``format``/``codec``/``encoder``/``quality``/``lossless`` as for ``gpurender render``;
    when the chosen encoder will not open, the others that do are tried in turn and the one used
    is named. The file is reopened to verify its frame count and duration before it is moved onto
    ``path``; on any error nothing is left at ``path``.

    ``progress``: True reports phases, frame counts and the final summary on stderr, False nothing;
    a :class:`gpurender.progress.Progress` gets the phases and frame counts (the caller prints the
    summary, as the CLI does).
    """
    from ..encode import EncodeSettings, format_from_path, mux_audio
    from ..encode.files import check_output_dir, publish, refuse_input_as_output, remove_quietly, temp_beside
    from ..render.device import adapter_info, get_device
    from ..render.layers import pointseq  # registers the layer renderer
    from ..render.pointvideo import PointVideoRenderer
    from ..render.renderer import FrameRenderer
    from ..scene.colors import check_colormap, parse_color
    from ..scene.model import Layer, Scene
    from ..settings import check_fps, parse_resolution

    own_report = not isinstance(progress, Progress)
    report = Progress(quiet=not progress) if own_report else progress
    started = time.monotonic()
    output = Path(path)
    report.phase("preparing")

    # Everything about the settings is checked before the frames are looked at.
    width, height = parse_resolution(resolution)
    fps = check_fps(fps)
    fmt = format or format_from_path(output)
    if fmt not in VIDEO_FORMATS:
        raise EncodeError(f"point-cloud export writes a video file; use one of {', '.join(VIDEO_FORMATS)}, not {fmt!r}")
    enc = EncodeSettings(width=width, height=height, fps=fps, format=fmt, codec=codec, encoder=encoder,
                         quality=quality, lossless=lossless)
    check_output_dir(output)
    inputs = list(frames.input_files()) if hasattr(frames, "input_files") else []
    inputs.append(("audio", getattr(audio, "source", None) if hasattr(audio, "samples") else audio))
    refuse_input_as_output(output, inputs)
    check_colormap(colormap)
    bg = parse_color(background, "background")
    if bg[3] < 1.0:
        raise SceneError("background must be opaque for a video; give '#rrggbb'")
    if draw not in DRAW_MODES:
        raise SceneError(f"draw mode {draw!r} is not valid; use one of {choices(DRAW_MODES)}")
    if up not in UP_AXES:
        raise SceneError(f"up axis {up!r} is not valid; use {' or '.join(UP_AXES)}")
    if not (isinstance(point_size, (int, float)) and 0 < point_size <= 256):
        raise SceneError(f"point size {point_size!r} is not valid; give pixels between 0 and 256")
    if n_frames is not None and (not isinstance(n_frames, int) or n_frames < 1):
        raise SceneError(f"n_frames {n_frames!r} is not valid; give the number of frames (>= 1) or None")
    title_layer = None
    if title:
        px = title_size if title_size is not None else max(8.0, round(0.04 * height))
        title_layer = _title_layer(title, px, title_color)
    sound = _load_audio(audio)

    # what one frame can hold on this adapter: a frame over it is refused as it is read, before drawing
    limit = pointseq.frame_point_limit(get_device(), draw)
    one_shot = iter(frames) is frames
    if one_shot:
        total = n_frames
        info = None
    else:
        info = scan(frames, report, limit)
        if n_frames is not None and n_frames != info.frames:
            raise SceneError(f"the sequence has {info.frames} frames but n_frames={n_frames}")
        total = info.frames
    if bounds is not None:
        lo_hi = check_bounds(bounds)
    else:
        lo_hi = (info.lo, info.hi) if info is not None else None
    duration = total / fps if total else None
    cam, norm = resolve_camera(camera, lo_hi, width / height, up, duration)
    height_range = None
    if lo_hi is not None:
        axis = 2 if up == "z" else 1
        height_range = (float(lo_hi[0][axis]), float(lo_hi[1][axis]))
    feed = FrameFeed(frames, norm, ColorMapper(colormap, height_range), total, limit)

    if draw == "depth" and PointVideoRenderer.supports(width, height):
        # the common case: splat and resolve straight into I420, no layer textures or compositing
        title_spec = None
        if title_layer is not None:
            title_spec = {k: title_layer.params[k] for k in ("text", "size", "color", "x", "y", "anchor")}
        direct = PointVideoRenderer(feed, cam, bg, width, height, fps, size=float(point_size), title=title_spec)

        def render_frames(count):
            return direct.frames(0, count, ring_depth=ring_depth)
    else:
        layers = [Layer(type="pointseq", name="points", params={
            "feed": feed, "size": float(point_size), "softness": float(softness), "brightness": 1.0, "draw": draw})]
        if title_layer is not None:
            layers.append(title_layer)
        scene = Scene(background=bg, camera=cam, layers=tuple(layers), source="point-cloud sequence")
        renderer = FrameRenderer(scene, None, width, height, fps)

        def render_frames(count):
            return renderer.frames(0, count, output="yuv420p", ring_depth=ring_depth)
    info = adapter_info()
    adapter = info.summary()
    if info.is_software and enc.threads == 0:
        enc = replace(enc, threads=encoder_threads_beside_software())
    report.info(f"adapter: {adapter}")

    video_tmp = temp_beside(output)
    final_tmp = temp_beside(output) if sound is not None else video_tmp
    try:
        writer, notice = open_writer(video_tmp, enc, queue_size)
        report.info(notice)
        with writer:
            count = total if total is not None else sys.maxsize
            report.phase("rendering", total=total or 0,
                         detail=f"{total or 'an unknown number of'} frames at {width}x{height}, {fps} fps")
            done, last_note = 0, time.monotonic()
            stream = render_frames(count)
            try:
                for index, data in stream:
                    if feed.end is not None and index >= feed.end:
                        break  # the frames drawn past the end of an iterator of unknown length
                    writer.write(data)
                    done += 1
                    if total:
                        report.update(done)
                    elif time.monotonic() - last_note >= 2.0:
                        last_note = time.monotonic()
                        report.info(f"rendering: {done} frames")
            finally:
                stream.close()
            frames_done = feed.finish()
            if frames_done == 0:
                raise SceneError("the point-cloud sequence has no frames; give at least one frame")
            report.phase("encoding", detail="flushing the encoder")
        video_seconds = frames_done / fps
        if sound is not None:
            report.phase("muxing", detail=f"audio trimmed to {video_seconds:.3f} s")
            mux_audio(video_tmp, sound, final_tmp, start_time=0.0,
                      duration=video_seconds if sound.duration >= video_seconds else None, format=fmt)
        report.phase("verifying", detail="reopening the file")
        file_duration = verify_video(final_tmp, frames_done, fps, width, height, sound is not None)
        size = final_tmp.stat().st_size
        publish(final_tmp, output)
    finally:
        remove_quietly(video_tmp)
        remove_quietly(final_tmp)
    result = PointCloudResult(
        path=str(output), frames=frames_done, first_frame=0, duration=file_duration, size_bytes=size,
        encoder=writer.choice.name, adapter=adapter, seconds=time.monotonic() - started,
        width=width, height=height, fps=fps, min_points=feed.min_points or 0, max_points=feed.max_points,
        encoder_notice=notice,
    )
    report.phase("complete")
    if own_report:
        report.info(result.summary())
    return result


__all__ = ["DEFAULT_TITLE", "PointCloudResult", "export_point_cloud_video", "fit_distance", "open_writer",
           "resolve_camera", "verify_video"]
