"""Runs a whole render: analyse the audio, draw and encode every frame, mux the audio, publish.

This module only sequences the stages (audio → render → encode → mux) and reports progress;
each stage does its own work. A render runs in one pass, or, when :class:`~gpurender.farm.JobOptions`
are given, as chunks through the farm stage (in-process or on Ray) whose segments are joined by
stream copy; either way the audio is muxed once, over the whole video. The output appears at its
path only when complete: the video-only intermediate and the muxed file are written under
temporary names beside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import GpurenderError
from .output import RenderResult  # noqa: F401  (the result type callers of render_video import from here)
from .progress import Progress, as_progress, cancellable
from .scene.model import Scene, check_features
from .settings import RenderSettings, fps_label, frame_span


def _encode_settings(settings: RenderSettings, fmt: str, alpha: bool, gop=None, container: str | None = None):
    """Encoder settings for output format ``fmt``, written into ``container`` (default: ``fmt``)."""
    from .encode import EncodeSettings, default_codec

    return EncodeSettings(
        width=settings.width, height=settings.height, fps=settings.fps, format=container or fmt,
        codec=settings.codec or default_codec(fmt), encoder=settings.encoder, quality=settings.quality,
        lossless=settings.lossless, alpha=alpha, gop=gop, bit_depth=settings.bit_depth,
    )


def resolve_format(output, settings: RenderSettings) -> str:
    from .encode import format_from_path

    return settings.format or format_from_path(output)


def _refuse_inputs(output, scene: Scene, audio, fmt: str) -> None:
    """Refuse, before any work, an output that would replace the scene, a file it uses or the audio."""
    from .encode.files import refuse_input_as_output

    inputs = scene.input_files() + [("audio", getattr(audio, "source", None))]
    refuse_input_as_output(output, inputs, png=fmt == "png")


def analyse(audio, settings: RenderSettings, progress: Progress, scene: Scene | None = None):
    """The whole track's features, computed once before the first frame is drawn.

    The scene's bindings are checked against the feature names first, so a typo fails before
    any work. Layers read bands, waveform and scalars, never per-bin spectra, so those are not
    kept (a 10-minute track's spectrum would outgrow a storage buffer binding).
    """
    from .audio import AnalysisSettings, Features, analyze
    from .memory import release_free_memory

    if scene is not None:
        check_features(scene, Features.SCALAR_NAMES)

    progress.phase("analysing", detail=f"{audio.duration:.2f} s of audio at {audio.sample_rate} Hz, "
                                        f"{fps_label(settings.fps)} fps, FFT {settings.fft_size}")
    features = analyze(audio, settings.fps,
                       settings=AnalysisSettings(fft_size=settings.fft_size, keep_spectrum=False))
    release_free_memory()  # the analysis' blocks, before the renderer is built over them
    progress.info(f"analysis on {features.backend}: {features.n_frames} frames")
    return features


@dataclass(frozen=True)
class SceneRecipe:
    """The frame source of a scene over a track's features (see :mod:`gpurender.output`).

    ``features`` is a :class:`gpurender.audio.Features` in this process, or the path of its
    ``.npz`` in a job directory for workers in other processes.
    """

    scene: Scene
    features: object
    width: int
    height: int
    fps: object  # int, or an exact Fraction
    seed: int = 0
    audio_digest: str = ""
    video_frames: int | None = None  # what {frames} shows: the frames of the video being made

    def build(self):
        from .render.renderer import FrameRenderer

        features = self.features
        if isinstance(features, (str, os.PathLike)):
            from .audio import Features

            features = Features.load_npz(features)
        return FrameRenderer(self.scene, features, self.width, self.height, self.fps, seed=self.seed,
                             video_frames=self.video_frames)

    def for_workers(self, job) -> "SceneRecipe":
        from dataclasses import replace

        if not job.features_path.is_file():
            self.features.save_npz(job.features_path)
        return replace(self, scene=_absolute_paths(self.scene), features=str(job.features_path.resolve()))

    def digests(self) -> dict:
        from .farm.identity import scene_digest

        return {"scene": scene_digest(self.scene), "audio": self.audio_digest}


def scene_of(scene) -> Scene:
    """A loaded scene, from a :class:`Scene`, a path to a TOML file or a dict of the same structure."""
    from .scene import load_scene, scene_from_dict

    if isinstance(scene, Scene):
        return scene
    if isinstance(scene, dict):
        return scene_from_dict(scene)
    if isinstance(scene, (str, os.PathLike)):
        return load_scene(scene)
    raise GpurenderError(f"scene must be a Scene, a path to a .toml file or a dict, not {type(scene).__name__}")


def audio_of(audio):
    """Decoded audio, from an :class:`~gpurender.audio.AudioData` or a path to an audio file."""
    if isinstance(audio, (str, os.PathLike)):
        from .audio import load_audio

        return load_audio(audio)
    if not hasattr(audio, "samples"):
        raise GpurenderError(f"audio must be an AudioData or a path to an audio file, not {type(audio).__name__}")
    return audio


@cancellable
def render_video(scene, audio, output, settings: RenderSettings = RenderSettings(),
                 progress=None, *, job=None, audio_codec: str | None = None) -> RenderResult:
    """Render ``scene`` over ``audio`` to ``output``; returns what was written.

    ``scene``: a :class:`Scene`, a path to a scene TOML file or a dict; ``audio``: an
    :class:`gpurender.audio.AudioData` or a path to an audio file. ``progress``: None/False
    (quiet, the default), True (progress on stderr), a callable receiving
    :class:`gpurender.progress.ProgressEvent` on this thread (an exception it raises cancels the
    render: nothing is left at ``output``, a chunked job keeps its folder for ``--resume``, and the
    exception propagates), or a Progress.

    With ``job`` (a :class:`gpurender.farm.JobOptions`) the frames are rendered as chunks through
    a job directory, in this process or on Ray, and can be resumed; Ctrl-C then raises
    :class:`gpurender.farm.JobInterrupted`. ``audio_codec`` overrides the format's default audio
    codec (e.g. ``"pcm_f32le"`` in mkv/mov keeps the source's samples exactly). Either way the
    file goes through :func:`gpurender.output.render_to_file`: encoder fallback, mux,
    verification and an atomic publish.
    """
    from .encode import alpha_plan, default_codec
    from .output import OutputPlan, render_to_file

    from .render.device import prepare_in_background

    progress = as_progress(progress)
    progress.phase("preparing")
    prepare_in_background()  # the device comes up while the audio is decoded and analysed
    scene, audio = scene_of(scene), audio_of(audio)
    fmt = resolve_format(output, settings)  # before Path() drops the trailing slash of "folder/"
    output = Path(output)
    _refuse_inputs(output, scene, audio, fmt)
    first, count = frame_span(settings.start, settings.duration, settings.fps, audio.duration)
    codec = settings.codec or default_codec(fmt)
    # A transparent background survives only where the codec carries alpha; elsewhere one warning line.
    alpha, alpha_warning = alpha_plan(fmt, codec, scene.transparent)
    if alpha_warning:
        progress.info(alpha_warning)
    enc = _encode_settings(settings, fmt, alpha)  # refuses a format/codec pair before any work
    if job is not None:
        from .farm import make_executor, plan_chunks

        make_executor(job)  # says how to install Ray before anything is analysed
        plan_chunks(first, count, job.chunk_frames, job.chunks, fps=settings.fps)
    features = analyse(audio, settings, progress, scene)
    audio_id = ""
    if job is not None:
        from .farm.identity import audio_digest

        audio_id = audio_digest(audio)
    recipe = SceneRecipe(scene, features, settings.width, settings.height, settings.fps, settings.seed, audio_id,
                         video_frames=count)
    plan = OutputPlan(
        path=output, encode=enc, input_format=enc.input_format,
        first=first, count=count, audio=audio, audio_start=Fraction(first) / Fraction(settings.fps), audio_codec=audio_codec,
        ring_depth=settings.ring_depth, queue_size=settings.queue_size,
        settings={"fft_size": settings.fft_size, "seed": settings.seed},
    )
    return render_to_file(recipe, plan, progress, job=job)


def _absolute_paths(scene: Scene) -> Scene:
    """The scene with its layers' file paths made absolute, for workers in other directories."""
    from dataclasses import replace

    layers = []
    for layer in scene.layers:
        params = dict(layer.params)
        for key, value in layer.paths().items():
            if isinstance(value, str) and not os.path.isabs(value):
                params[key] = os.path.abspath(value)
        layers.append(replace(layer, params=params))
    return replace(scene, layers=tuple(layers))


#: Still image formats by extension: Pillow's save options for each.
STILL_FORMATS = {
    ".png": {"format": "PNG"},
    ".jpg": {"format": "JPEG", "quality": 95, "subsampling": 0},
    ".jpeg": {"format": "JPEG", "quality": 95, "subsampling": 0},
    ".webp": {"format": "WEBP", "lossless": True},
}


def still_format(output: Path, transparent: bool) -> dict:
    """Pillow's save options for a still at ``output``, chosen by its extension; GpurenderError
    for an extension it cannot write or a transparent picture in a format without alpha."""
    options = STILL_FORMATS.get(output.suffix.lower())
    if options is None:
        raise GpurenderError(f"cannot tell the image format from {str(output)!r}; name it with one of "
                             f"{', '.join(STILL_FORMATS)}")
    if transparent and options["format"] == "JPEG":
        raise GpurenderError(f"{str(output)!r}: JPEG cannot keep the scene's transparent background; "
                             "write .png or .webp, or make the background opaque")
    return options


def still_picture(scene: Scene, features, duration: float, time_s: float = 0.0,
                  settings: RenderSettings = RenderSettings(), sheet: tuple[int, int] | None = None,
                  progress=None):
    """The RGBA pixels (``[h, w, 4]`` uint8) of the frame at ``time_s``, or of a ``cols x rows``
    contact sheet across the track, drawn from ``features`` of a track ``duration`` seconds long."""
    import numpy as np

    from .render.renderer import FrameRenderer

    progress = as_progress(progress)
    n_track = max(int(features.n_frames), 1)
    track_frames = frame_span(0.0, None, settings.fps, duration)[1]  # a still shows the whole track's count
    if sheet is None:
        if not 0 <= time_s <= duration:
            raise GpurenderError(f"--time {time_s:g}s is outside the audio (0..{duration:.3f}s)")
        indices = [min(round(Fraction(time_s) * Fraction(settings.fps)), n_track - 1)]
    else:
        cols, rows = sheet
        n = cols * rows
        indices = [min(round(k * (n_track - 1) / max(n - 1, 1)), n_track - 1) for k in range(n)]
    renderer = FrameRenderer(scene, features, settings.width, settings.height, settings.fps, seed=settings.seed,
                             video_frames=track_frames)
    progress.phase("rendering", total=len(indices))
    images = []
    for k, index in enumerate(indices):
        images.append(renderer.render_rgba(index))
        progress.update(k + 1)
    if sheet is None:
        return images[0]
    h, w = settings.height, settings.width
    picture = np.zeros((rows * h, cols * w, 4), dtype=np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        picture[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return picture


@cancellable
def render_still(scene, audio, output, time_s: float = 0.0, settings: RenderSettings = RenderSettings(),
                 sheet: tuple[int, int] | None = None, progress=None) -> str:
    """Render the frame at ``time_s`` (or a ``cols x rows`` contact sheet across the track) to an
    image: PNG, JPEG or WebP (lossless) by the output's extension. ``scene``, ``audio`` and
    ``progress`` as for :func:`render_video`."""
    import numpy as np
    from PIL import Image

    from .encode.files import atomic_file, check_output_dir
    from .render.device import prepare_in_background

    progress = as_progress(progress)
    progress.phase("preparing")
    prepare_in_background()
    scene, audio = scene_of(scene), audio_of(audio)
    output = Path(output)
    check_output_dir(output)
    _refuse_inputs(output, scene, audio, "still")  # one file, not a sequence
    save_options = still_format(output, scene.transparent)
    features = analyse(audio, settings, progress, scene)
    picture = still_picture(scene, features, audio.duration, time_s, settings, sheet, progress)
    mode = "RGBA" if scene.transparent else "RGB"
    pil = Image.fromarray(picture if mode == "RGBA" else np.ascontiguousarray(picture[..., :3]), mode)
    with atomic_file(output, what="image") as handle:
        pil.save(handle, **save_options)
    progress.phase("complete")
    return str(output)
