"""The ``batch`` command: one scene over many songs, in one process, each to OUTDIR/<song name>.<ext>."""

from __future__ import annotations

import sys

import click

from ..batch import DEFAULT_PARALLEL, JOB_KEYS
from .preview import preview_options, preview_progress
from .render import _settings, render_options

_KEYS = "\n".join(f"  {key:<11} {text}" for key, text in JOB_KEYS.items())

HELP = f"""Render SCENE over every SONG (and every song of --jobs) into the folder OUTDIR.

\b
Each song becomes OUTDIR/<song name>.<ext> (mp4 unless --format or the job list says
otherwise); songs of the same name get <name>-2, <name>-3 ... in the order given. All songs
share one process, one GPU device and the shaders compiled for it, so a batch is faster than a
'gpurender render' per song. --parallel N renders N songs at a time in N worker processes
(each with its own device; the same files as one at a time): faster where one render leaves
cores idle. Progress shows one song at a time, in order.

\b
A song that fails is named on one line (failed: SONG: why) and the batch goes on; a summary
ends the run. Exit status: 0 when every song was rendered or skipped, 1 when one or more
failed, 2 for a bad scene, job list or option (before any song), 130 on Ctrl-C (finished songs
are kept, the song in progress leaves nothing).

\b
Beside each output a small record (OUTDIR/.<output>.gpurender.json) keeps a digest of the
scene, the song and the settings; a rerun skips songs whose output is up to date (and says
so), so an interrupted batch resumes. Changing the scene, a song or a setting renders that
song again; --force renders every song.

\b
--jobs FILE gives per-song settings, as TOML:
  [[songs]]
  audio = "album/01 intro.flac"
  output = "intro-short"
  start = 30
  duration = 15
  resolution = "1080p"
\b
or as CSV with a header row (an empty cell keeps the command's setting; # starts a comment):
  audio,output,start,duration,resolution,fps,quality,format
  album/01 intro.flac,intro-short,30,15,1080p,,,
\b
Keys (columns):
{_KEYS}
Options given on the command line apply to every song unless its entry says otherwise."""


@click.command(help=HELP)
@click.argument("scene", type=click.Path(dir_okay=False))
@click.argument("songs", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--output", "-o", "outdir", required=True, type=click.Path(file_okay=False),
              help="the folder for the videos (created if missing)")
@click.option("--jobs", "-j", "jobs", default=None, type=click.Path(dir_okay=False),
              help="a job list (.toml or .csv) of songs with their own settings")
@click.option("--start", default=0.0, show_default=True, type=float, help="seconds into each song")
@click.option("--duration", default=None, type=float, help="seconds to render of each song (default: to the end)")
@click.option("--force", is_flag=True, help="render every song, even those whose output is up to date")
@click.option("--parallel", "-p", type=click.IntRange(min=1), default=DEFAULT_PARALLEL, show_default=True,
              help="songs rendered at the same time, each in a worker process of its own (1: one after "
                   "another in this process)")
@render_options
@preview_options
def batch(scene, songs, outdir, jobs, start, duration, force, parallel, resolution, fps, quality, fmt, codec,
          encoder, lossless, bit_depth, ring_depth, fft_size, quiet, preview, preview_host, preview_port):
    from pathlib import Path

    from ..batch import BatchError, BatchSong, read_job_list, render_batch
    from ..scene import load_scene

    entries = [BatchSong(audio=Path(s)) for s in songs]
    if jobs is not None:
        entries += read_job_list(jobs)
    if not entries:
        raise BatchError("no songs to render; give song files after the scene, or a job list with --jobs")
    settings = _settings(resolution, fps, quality, fmt, codec, encoder, lossless, start, duration, fft_size,
                         ring_depth, bit_depth)
    loaded = load_scene(scene)
    # The preview page (--preview) is served until the command ends, whichever way it ends.
    progress = click.get_current_context().with_resource(
        preview_progress(quiet, preview, preview_host, preview_port, f"batch {outdir}"))
    finished = []

    def report(outcome):
        progress.close()
        finished.append(outcome)
        click.echo(outcome.line(), err=outcome.state == "failed")

    try:
        result = render_batch(loaded, entries, outdir, settings, progress, on_outcome=report, force=force,
                              parallel=parallel)
    except KeyboardInterrupt:
        progress.close()
        kept = sum(1 for o in finished if o.state != "failed")
        click.echo(f"interrupted: {kept} finished song(s) kept in {outdir}; songs in progress left nothing. "
                   "Run the same command again to go on (finished songs are skipped).", err=True)
        sys.exit(130)
    click.echo(result.summary())
    if result.failed:
        sys.exit(1)


COMMANDS = (batch,)
