"""The live preview page from the command line: the ``--preview`` options and ``gpurender watch``.

:func:`preview_options` adds ``--preview``, ``--preview-host`` and ``--preview-port`` to a
command that renders; :func:`preview_progress` then gives the command its progress reporter and,
when asked for, serves the page (:mod:`gpurender.preview`) for as long as the work runs, printing
its address on stderr. ``watch`` re-renders a still whenever the scene or a file it reads changes
(:mod:`gpurender.watch`) and shows it, or the error, on the same page.
"""

from __future__ import annotations

import contextlib
import sys

import click

from ..settings import RenderSettings, check_fps, parse_resolution

DEFAULT_HOST = "127.0.0.1"


def preview_options(f):
    """``--preview`` and where the page listens; the command receives ``preview``,
    ``preview_host`` and ``preview_port``."""
    opts = [
        click.option("--preview", is_flag=True,
                     help="serve a live page (latest frame, progress, fps, ETA, chunks) on "
                          "http://127.0.0.1:PORT/ while rendering; the address is printed on stderr"),
        click.option("--preview-host", default=None, metavar="HOST",
                     help=f"where the preview page listens (default {DEFAULT_HOST}, this machine only; "
                          "0.0.0.0 lets other machines see it); implies --preview"),
        click.option("--preview-port", default=None, type=click.IntRange(0, 65535), metavar="PORT",
                     help="the preview page's port (default: a free one); implies --preview"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _announce(url: str) -> None:
    click.echo(f"preview: {url}", err=True)


@contextlib.contextmanager
def preview_progress(quiet: bool, preview: bool, host: str | None, port: int | None, title: str):
    """The :class:`~gpurender.progress.Progress` for a command, with the preview page served for
    the duration of the block when ``preview`` (or a host or port) was given."""
    from ..progress import Progress

    if not (preview or host is not None or port is not None):
        yield Progress(quiet=quiet)
        return
    from ..preview import serving

    with serving(title, host or DEFAULT_HOST, port or 0, announce=_announce) as page:
        yield Progress(quiet=quiet, preview=page)


@click.command()
@click.argument("scene", type=click.Path(dir_okay=False))
@click.option("--audio", "-a", "audio_path", default=None, type=click.Path(dir_okay=False),
              help="the song (default: the built-in demo track)")
@click.option("--time", "-t", "time_s", default=0.0, show_default=True, type=float, help="seconds into the audio")
@click.option("--sheet", default=None, help="COLSxROWS contact sheet of frames across the track")
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="also write each good picture here (.png, .jpg, .webp)")
@click.option("--resolution", "-r", default="720p", show_default=True)
@click.option("--fps", default="30", show_default=True)
@click.option("--poll", default=0.5, show_default=True, type=click.FloatRange(0.05, 60),
              help="seconds between checks of the files for changes")
@click.option("--preview-host", default=DEFAULT_HOST, show_default=True, metavar="HOST",
              help="where the page listens (0.0.0.0 lets other machines see it)")
@click.option("--preview-port", default=0, type=click.IntRange(0, 65535), metavar="PORT",
              help="the page's port (default: a free one)")
def watch(scene, audio_path, time_s, sheet, output, resolution, fps, poll, preview_host, preview_port):
    """Show a still (or contact sheet) of SCENE on a live page, drawn again whenever the scene file
    or a shader, image or other file it reads changes. Scene and WGSL errors appear on the page
    with their file, layer, key and line. Ctrl-C stops.
    """
    from ..audio import demo_track, load_audio
    from ..preview import serving
    from ..watch import watch_scene
    from .render import _parse_sheet

    width, height = parse_resolution(resolution)
    settings = RenderSettings(width=width, height=height, fps=check_fps(fps))
    sheet = _parse_sheet(sheet)
    audio = load_audio(audio_path) if audio_path else demo_track()
    title = f"watch {click.format_filename(scene)}"
    try:
        with serving(title, preview_host, preview_port, announce=_announce) as page:
            click.echo("watching for changes; Ctrl-C stops", err=True)
            watch_scene(scene, audio, page, settings, time_s, sheet, output=output, poll_s=poll,
                        report=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        click.echo("stopped watching", err=True)
        sys.exit(0)


COMMANDS = (watch,)
