"""Commands that render scenes and analyse audio: ``demo``, ``render``, ``still``, ``analyze``, ``doctor``."""

from __future__ import annotations

import contextlib
import sys

import click

from ..encode.encoders import ENCODER_MODES
from ..encode.formats import BIT_DEPTHS, CODECS, FORMATS, QUALITIES
from ..errors import GpurenderError
from ..settings import RESOLUTIONS, RenderSettings, check_fps, parse_resolution
from .presets import preset_option, scene_from
from .preview import preview_options, preview_progress


def _progress(quiet: bool):
    from ..progress import Progress

    return Progress(quiet=quiet)


def _settings(resolution, fps, quality, fmt, codec, encoder, lossless, start, duration, fft_size,
              ring_depth=3, bit_depth="8") -> RenderSettings:
    width, height = parse_resolution(resolution)
    return RenderSettings(width=width, height=height, fps=check_fps(fps), quality=quality, format=fmt,
                          codec=codec, encoder=encoder, lossless=lossless, start=start, duration=duration,
                          fft_size=fft_size, ring_depth=ring_depth, bit_depth=int(bit_depth))


MOTION_BLUR_OPTION = click.option(
    "--motion-blur", "motion_blur", type=click.IntRange(1, 64), default=None, metavar="N",
    help="average N sub-frames a frame over the scene's shutter (its [motion_blur] shutter, default 0.5); "
         "overrides the scene's samples")


def render_options(f):
    """Options shared by every command that writes a video."""
    opts = [
        click.option("--resolution", "-r", default="720p", show_default=True,
                     help=f"{', '.join(k for k in RESOLUTIONS if k != '2160p')} or WxH (even numbers)"),
        click.option("--fps", default="30", show_default=True,
                     help="frames per second: a whole number, a ratio such as 30000/1001, or 23.976/29.97/59.94"),
        click.option("--quality", "-q", type=click.Choice(QUALITIES), default="high", show_default=True),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                     help="container (default: from the output's extension)"),
        click.option("--codec", type=click.Choice(CODECS), default=None,
                     help="video codec (default: the format's own; ffv1 in .mkv keeps the rendered RGB exactly)"),
        click.option("--encoder", type=click.Choice(ENCODER_MODES), default="auto", show_default=True,
                     help="auto probes NVENC and falls back to CPU encoders"),
        click.option("--lossless", is_flag=True, help="lossless video stream (archiving, exact comparisons)"),
        click.option("--bit-depth", type=click.Choice([str(b) for b in BIT_DEPTHS]), default="8", show_default=True,
                     help="10: 10-bit 4:2:0 from a float composite (hevc Main 10, av1; prores is 10-bit always)"),
        click.option("--ring", "ring_depth", default=3, show_default=True, type=click.IntRange(1, 16),
                     help="staging buffers in the readback ring"),
        click.option("--fft-size", default=2048, show_default=True, type=int, help="analysis window, a power of two"),
        click.option("--quiet", is_flag=True, help="no progress output"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.command()
@click.option("--output", "-o", default="demo.mp4", show_default=True, type=click.Path(),
              help="a video file, or a folder/ for PNG frames")
@click.option("--duration", default=10.0, show_default=True, type=float, help="seconds of the built-in track")
@preset_option("the preset to render (default: the demo's own; gpurender presets lists them)")
@render_options
@MOTION_BLUR_OPTION
@preview_options
def demo(output, duration, preset, resolution, fps, quality, fmt, codec, encoder, lossless, bit_depth, ring_depth,
         fft_size, quiet, motion_blur, preview, preview_host, preview_port):
    """Render the demo preset (or --preset NAME) over a built-in synthesized track (no files needed)."""
    from ..audio import demo_track
    from ..pipeline import render_video
    from ..presets import DEMO, load_preset

    if not duration > 0:
        raise GpurenderError(f"--duration {duration} is not valid; give a positive number of seconds")
    settings = _settings(resolution, fps, quality, fmt, codec, encoder, lossless, 0.0, None, fft_size, ring_depth,
                         bit_depth)
    audio = demo_track(duration=duration)
    with preview_progress(quiet, preview, preview_host, preview_port, f"demo {output}") as progress:
        result = render_video(load_preset(preset or DEMO).with_motion_blur(motion_blur), audio, output, settings,
                              progress)
    click.echo(result.summary())


def farm_options(f):
    """Options that render in chunks through a resumable job, in-process or on a Ray cluster."""
    opts = [
        click.option("--chunk-frames", type=click.IntRange(min=1), default=None,
                     help="render in chunks of this many frames (each its own segment, resumable)"),
        click.option("--chunks", type=click.IntRange(min=1), default=None, help="render in this many chunks"),
        click.option("--job-dir", type=click.Path(file_okay=False), default=None,
                     help="where chunks and the manifest are kept (default: OUTPUT.job beside the output)"),
        click.option("--resume", is_flag=True, help="continue the job in the job directory: render only missing, "
                                                    "failed or damaged chunks"),
        click.option("--farm", type=click.Choice(["local", "ray"]), default=None,
                     help="where chunks run: this process, or a Ray cluster (pip install 'gpurender[farm]')"),
        click.option("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, or a local cluster)"),
        click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
                     help="attempts per failed chunk after the first"),
        click.option("--keep-job", is_flag=True, help="keep the job directory after a successful render"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _job_options(chunk_frames, chunks, job_dir, resume, farm, address, retries, keep_job):
    """JobOptions when any chunk or farm option was given, else None (a single pass)."""
    from ..farm import JobOptions

    if chunk_frames is not None and chunks is not None:
        raise GpurenderError("give --chunk-frames or --chunks, not both")
    if address is not None and farm != "ray":
        raise GpurenderError("--address names a Ray cluster; use it with --farm ray")
    if not (chunk_frames or chunks or job_dir or resume or farm or keep_job):
        return None
    return JobOptions(chunk_frames=chunk_frames, chunks=chunks, job_dir=job_dir, resume=resume,
                      farm=farm or "local", address=address, retries=retries, keep_job=keep_job)


def _resume_hint() -> str:
    import os
    import shlex
    import sys

    argv = list(sys.argv)
    if argv and os.path.basename(argv[0]) in ("gpurender", "__main__.py"):
        args = argv[1:] + ([] if "--resume" in argv else ["--resume"])
        return "resume with: " + shlex.join(["gpurender", *args])
    return "resume by running the same command with --resume"


@contextlib.contextmanager
def interrupted_job_exits(progress):
    """Ctrl-C in a chunked job: say what is kept and how to resume, exit 130."""
    from ..farm import JobInterrupted

    try:
        yield
    except JobInterrupted as stop:
        progress.close()
        click.echo(stop.message(), err=True)
        click.echo(f"{_resume_hint()}  (see what is done: gpurender status {stop.job_dir})", err=True)
        sys.exit(130)


@click.command()
@click.argument("scene", type=click.Path(dir_okay=False), required=False)
@preset_option()
@click.option("--audio", "-a", "audio_path", required=True, type=click.Path(dir_okay=False), help="the song")
@click.option("--output", "-o", required=True, type=click.Path(),
              help="a video file (.mp4 .webm .mov .mkv), a folder/ or name_%06d.png for PNG frames")
@click.option("--start", default=0.0, show_default=True, type=float, help="seconds into the audio")
@click.option("--duration", default=None, type=float, help="seconds to render (default: to the end)")
@render_options
@MOTION_BLUR_OPTION
@farm_options
@preview_options
def render(scene, preset, audio_path, output, start, duration, resolution, fps, quality, fmt, codec, encoder, lossless,
           bit_depth, ring_depth, fft_size, quiet, motion_blur, chunk_frames, chunks, job_dir, resume, farm, address,
           retries, keep_job, preview, preview_host, preview_port):
    """Render SCENE (a TOML file, or --preset NAME) over a song to a video with sound.

    With --chunk-frames, --chunks, --farm, --job-dir or --resume the render runs as chunks kept in
    a job directory: Ctrl-C or a crash loses at most the chunks in flight, and --resume continues.
    """
    from ..audio import load_audio
    from ..pipeline import render_video

    settings = _settings(resolution, fps, quality, fmt, codec, encoder, lossless, start, duration, fft_size, ring_depth,
                         bit_depth)
    job = _job_options(chunk_frames, chunks, job_dir, resume, farm, address, retries, keep_job)
    loaded = scene_from(scene, preset).with_motion_blur(motion_blur)
    audio = load_audio(audio_path)
    with preview_progress(quiet, preview, preview_host, preview_port, f"render {output}") as progress, \
            interrupted_job_exits(progress):
        result = render_video(loaded, audio, output, settings, progress, job=job)
    click.echo(result.summary())


def _parse_sheet(text):
    if text is None:
        return None
    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise GpurenderError(f"--sheet {text!r} is not understood; use COLSxROWS such as 4x4") from None
    if cols < 1 or rows < 1 or cols * rows > 256:
        raise GpurenderError(f"--sheet {text!r} is not valid; use between 1x1 and 16x16 frames")
    return cols, rows


@click.command()
@click.argument("scene", type=click.Path(dir_okay=False), required=False)
@preset_option()
@click.option("--audio", "-a", "audio_path", default=None, type=click.Path(dir_okay=False),
              help="the song (default: the built-in demo track)")
@click.option("--time", "-t", "time_s", default=0.0, show_default=True, type=float, help="seconds into the audio")
@click.option("--sheet", default=None, help="COLSxROWS contact sheet of frames across the track")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False))
@click.option("--resolution", "-r", default="720p", show_default=True)
@click.option("--fps", default="30", show_default=True)
@click.option("--quiet", is_flag=True)
@MOTION_BLUR_OPTION
def still(scene, preset, audio_path, time_s, sheet, output, resolution, fps, quiet, motion_blur):
    """Render one frame (or a contact sheet) of SCENE (or --preset NAME) exactly as the video would show it."""
    from ..audio import demo_track, load_audio
    from ..pipeline import render_still

    width, height = parse_resolution(resolution)
    settings = RenderSettings(width=width, height=height, fps=check_fps(fps))
    loaded = scene_from(scene, preset).with_motion_blur(motion_blur)
    audio = load_audio(audio_path) if audio_path else demo_track()
    path = render_still(loaded, audio, output, time_s, settings, sheet=_parse_sheet(sheet), progress=_progress(quiet))
    click.echo(f"wrote {path}")


@click.command()
@click.argument("song", type=click.Path(dir_okay=False))
@click.option("--fps", default="60", show_default=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="features .npz")
@click.option("--plot", default=None, type=click.Path(dir_okay=False), help="also draw the features to a PNG")
@click.option("--fft-size", default=2048, show_default=True, type=int)
@click.option("--bands", default=64, show_default=True, type=int)
@click.option("--mode", type=click.Choice(["default", "webaudio"]), default="default", show_default=True)
@click.option("--smoothing", default=0.8, show_default=True, type=float, help="webaudio smoothingTimeConstant")
@click.option("--backend", type=click.Choice(["auto", "numpy", "cupy"]), default="auto", show_default=True)
def analyze(song, fps, output, plot, fft_size, bands, mode, smoothing, backend):
    """Analyse SONG once per video frame and write every feature to an .npz."""
    from ..audio import AnalysisSettings, analyze_file, plot_features
    from ..encode.files import check_output_dir, refuse_input_as_output
    from pathlib import Path

    for path in (output, plot) if plot else (output,):
        check_output_dir(Path(path))
        refuse_input_as_output(path, [("audio", song)])
    if plot and Path(plot).resolve() == Path(output).resolve():
        raise GpurenderError("--plot and --output name the same file; give the plot its own name")
    settings = AnalysisSettings(fft_size=fft_size, n_bands=bands, mode=mode, smoothing=smoothing, backend=backend)
    features = analyze_file(song, check_fps(fps), settings=settings)
    features.save_npz(output)
    if plot:
        plot_features(features, plot)
    click.echo(f"wrote {output}: {features.n_frames} frames at {features.fps} fps, {features.sample_rate} Hz, "
               f"backend {features.backend}" + (f"; plot {plot}" if plot else ""))


@click.command()
def doctor():
    """Show the adapter, CUDA, the encoders that open, and the fallbacks in force."""
    from ..doctor import report

    click.echo(report())




COMMANDS = (demo, render, still, analyze, doctor)
