"""Sequences one point-cloud export: check frames, frame the camera, draw, encode, mux, verify, publish.

This module only orders the stages for a point-cloud sequence, as :mod:`gpurender.pipeline` does
for audio scenes: frames are checked (:mod:`.frames`), drawn straight to I420 by
:class:`PointVideoRenderer` (depth-tested splat, title and colour conversion in two compute passes;
every even size; sprite drawing goes through the ``pointseq`` layer and :class:`FrameRenderer`
instead), read back through the ring, encoded by
:class:`VideoWriter` with a fallback through the other encoders that open, joined with an optional
audio track, then reopened to check the frame count and duration. Everything is written under
temporary names and renamed onto the target only once verified.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import EncodeError, SceneError, choices
from ..output import OutputPlan, RenderResult, render_to_file
from ..progress import as_progress, cancellable
from ..settings import fps_label
from .frames import UP_AXES, ColorMapper, Normalizer, check_bounds, check_frame, iter_frames, scan

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
    fps: object = 0  # int, or an exact Fraction
    min_points: int = 0
    max_points: int = 0
    encoder_notice: str = ""

    def summary(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        points = (f"{self.max_points}" if self.min_points == self.max_points
                  else f"{self.min_points}-{self.max_points}")
        return (f"wrote {self.path}: {self.frames} frames, {self.width}x{self.height} at {fps_label(self.fps)} fps, "
                f"{self.duration:.3f} s, {self.size_bytes / 1e6:.2f} MB, {points} points per frame, "
                f"encoder {self.encoder}, adapter {self.adapter}{self.chunk_note()}, {self.seconds:.1f} s "
                f"({rate:.1f} frames/s)")


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


def _title_layer(title: str, size: float, color):
    """A validated ``text`` layer for the title in the top-left corner."""
    from ..render.layers.text import placeholder_names
    from ..scene import scene_from_dict

    unknown = [name for name in placeholder_names(title, "title") if name not in TITLE_PLACEHOLDERS]
    if unknown:
        raise SceneError(f"title: unknown placeholder {{{unknown[0]}}}; valid: {choices(TITLE_PLACEHOLDERS)}")
    layer = {"type": "text", "text": title, "size": size, "color": color, "x": 0.02, "y": 0.975, "anchor": "top-left"}
    return scene_from_dict({"layers": [layer]}, source="title", placeholders=TITLE_PLACEHOLDERS).layers[0]


def _load_audio(audio):
    if audio is None or hasattr(audio, "samples"):
        return audio
    from ..audio import load_audio

    return load_audio(audio)


@cancellable
def export_point_cloud_video(
    frames,
    path,
    fps=30,
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
    antialias: bool = True,
    audio=None,
    title: str | None = DEFAULT_TITLE,
    title_size: float | None = None,
    title_color="#ffffff",
    n_frames: int | None = None,
    progress=None,
    ring_depth: int = 3,
    queue_size: int = 8,
    job=None,
) -> PointCloudResult:
    """Render a sequence of point clouds to a video file at ``path``; returns what was written.

    ``frames``: a list/sequence (or any re-iterable) of frames, or a one-shot iterator producing
    them lazily. A frame is a dict with ``points`` (``N x 3``) and optional ``colors`` (``N x 3``
    or ``N x 4``: floats in 0..1, or an integer type such as uint8 holding bytes 0..255, as in a
    points layer's file), or a bare ``N x 3`` array; N may change between frames.
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
    ``antialias`` (default True) gives depth-drawn points and hard sprite edges partial coverage at
    their rims; False draws today's hard edges.

    ``title``: a template over ``{i}`` (1-based frame), ``{n}`` (frames), ``{points}``, ``{frame}``
    and ``{time}``, drawn top left at ``title_size`` pixels (default 4% of the height) in
    ``title_color``; None for no title. ``audio``: a file path or :class:`AudioData`, trimmed to the
    video. ``format``/``codec``/``encoder``/``quality``/``lossless`` as for ``gpurender render``;
    when the chosen encoder will not open, the others that do are tried in turn and the one used
    is named. The file is reopened to verify its frame count and duration before it is moved onto
    ``path``; on any error nothing is left at ``path``.

    ``job``: a :class:`gpurender.farm.JobOptions` renders the frames as chunks through a
    resumable job directory, in this process or on a Ray cluster, as ``gpurender render`` does
    (a re-iterable sequence only: a chunk reads its frames by index).

    ``progress``: None/False (quiet, the default), True (phases, frame counts and the final
    summary on stderr), a callable receiving :class:`gpurender.progress.ProgressEvent` on this
    thread (an exception it raises cancels the export: nothing is left at ``path``, and the
    exception propagates), or a :class:`gpurender.progress.Progress` (the caller prints the
    summary, as the CLI does).
    """
    from ..encode import EncodeSettings, format_from_path
    from ..encode.files import check_output_dir, refuse_input_as_output
    from ..render.device import get_device
    from ..render.layers import pointseq  # registers the layer renderer
    from ..scene.colors import check_colormap, parse_color
    from ..settings import check_fps, parse_resolution

    from ..render.device import prepare_in_background

    print_summary = progress is True
    report = as_progress(progress)
    prepare_in_background()  # the device comes up while settings, audio and frames are checked
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
    duration = float(total / Fraction(fps)) if total else None
    cam, norm = resolve_camera(camera, lo_hi, width / height, up, duration)
    height_range = None
    if lo_hi is not None:
        axis = 2 if up == "z" else 1
        height_range = (float(lo_hi[0][axis]), float(lo_hi[1][axis]))
    title_spec = None
    if title_layer is not None:
        title_spec = {k: title_layer.params[k] for k in ("text", "size", "color", "x", "y", "anchor")}
    recipe = PointRecipe(frames=frames, normalizer=norm, colors=ColorMapper(colormap, height_range), total=total,
                         limit=limit, camera=cam, background=bg, width=width, height=height, fps=fps,
                         point_size=float(point_size), softness=float(softness), draw=draw, title=title_spec,
                         antialias=bool(antialias))
    plan = OutputPlan(path=output, encode=enc, input_format="yuv420p", first=0, count=total, audio=sound,
                      audio_start=0.0, ring_depth=ring_depth, queue_size=queue_size,
                      settings={"draw": draw, "point_size": float(point_size)})
    result = render_to_file(recipe, plan, report, job=job)
    result = PointCloudResult(
        **{f: getattr(result, f) for f in RenderResult.__dataclass_fields__},
        width=width, height=height, fps=fps, min_points=recipe.stats.get("min_points") or 0,
        max_points=recipe.stats.get("max_points", 0),
    )
    if print_summary:
        report.info(result.summary())
    return result


class _PointSource:
    """A point renderer as a frame source: stops at the end of a sequence of unknown length."""

    def __init__(self, renderer, feed, direct: bool, stats: dict):
        self.renderer, self.feed, self.direct, self.stats = renderer, feed, direct, stats
        self.width, self.height, self.fps = renderer.width, renderer.height, renderer.fps

    def frames(self, first: int, count: int, output: str = "yuv420p", ring_depth: int = 3):
        if output != "yuv420p":
            raise ValueError("point-cloud frames are drawn as yuv420p")
        if self.direct:
            inner = self.renderer.frames(first, count, ring_depth=ring_depth)
        else:
            inner = self.renderer.frames(first, count, output=output, ring_depth=ring_depth)
        try:
            for index, data in inner:
                if self.feed.end is not None and index >= self.feed.end:
                    break  # frames drawn past the end of an iterator of unknown length
                yield index, data
        finally:
            inner.close()
            self.stats["max_points"] = max(self.stats.get("max_points", 0), self.feed.max_points)
            if self.feed.min_points is not None:
                low = self.stats.get("min_points")
                self.stats["min_points"] = self.feed.min_points if low is None else min(low, self.feed.min_points)

    def finish(self) -> int:
        return self.feed.finish()


@dataclass(frozen=True)
class PointRecipe:
    """The frame source of a point-cloud sequence (see :mod:`gpurender.output`).

    Depth drawing splats straight to I420 (:class:`PointVideoRenderer`, every even size); sprites go
    through the ``pointseq`` layer and :class:`FrameRenderer`. ``stats`` collects the points per
    frame seen in this process.
    """

    frames: object
    normalizer: object
    colors: object
    total: int | None
    limit: object
    camera: object
    background: tuple
    width: int
    height: int
    fps: object  # int, or an exact Fraction
    point_size: float
    softness: float
    draw: str
    title: dict | None
    antialias: bool = True
    stats: dict = field(default_factory=dict, compare=False)

    def build(self) -> _PointSource:
        from ..render.pointvideo import PointVideoRenderer
        from ..render.renderer import FrameRenderer
        from ..scene import scene_from_dict
        from ..scene.model import Layer, Scene
        from .frames import FrameFeed

        feed = FrameFeed(self.frames, self.normalizer, self.colors, self.total, self.limit)
        if self.draw == "depth" and PointVideoRenderer.supports(self.width, self.height):
            # the common case: splat and resolve straight into I420, no layer textures or compositing
            renderer = PointVideoRenderer(feed, self.camera, self.background, self.width, self.height, self.fps,
                                          size=self.point_size, title=self.title, antialias=self.antialias)
            return _PointSource(renderer, feed, True, self.stats)
        layers = [Layer(type="pointseq", name="points", params={
            "feed": feed, "size": self.point_size, "softness": self.softness, "brightness": 1.0,
            "draw": self.draw})]
        if self.title is not None:
            layers.append(scene_from_dict({"layers": [{"type": "text", **self.title}]}, source="title",
                                          placeholders=TITLE_PLACEHOLDERS).layers[0])
        scene = Scene(background=self.background, camera=self.camera, layers=tuple(layers),
                      source="point-cloud sequence")
        renderer = FrameRenderer(scene, None, self.width, self.height, self.fps)
        renderer.ctx.antialias = self.antialias  # what a scene's top-level antialias sets
        return _PointSource(renderer, feed, False, self.stats)

    def for_workers(self, job) -> "PointRecipe":
        return self  # frames are files or arrays, shipped as they are

    def digests(self) -> dict:
        import hashlib

        from ..farm.identity import file_digest

        h = hashlib.sha256()
        drawing = (self.normalizer, self.colors.height_range, self.colors.table.tobytes(), self.total,
                   self.camera, tuple(self.background), self.width, self.height, self.fps, self.point_size,
                   self.softness, self.draw, self.title, self.antialias)
        h.update(repr(drawing).encode())
        files = self.frames.input_files() if hasattr(self.frames, "input_files") else None
        if files:
            for _, path in files:
                h.update(path.encode() + b"\0" + file_digest(path).encode())
        else:
            for item in iter_frames(self.frames):
                frame = check_frame(item, 0)
                h.update(np.ascontiguousarray(frame.points).tobytes())
                if frame.colors is not None:
                    h.update(np.ascontiguousarray(frame.colors).tobytes())
        return {"scene": h.hexdigest(), "audio": ""}


__all__ = ["DEFAULT_TITLE", "PointCloudResult", "PointRecipe", "export_point_cloud_video", "fit_distance",
           "resolve_camera"]
