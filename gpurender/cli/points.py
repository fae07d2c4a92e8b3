"""Commands for point-cloud sequences: ``points`` renders one to video, ``points-example`` writes one."""

from __future__ import annotations

import click

from ..encode.encoders import ENCODER_MODES
from ..encode.formats import CODECS, MUXER, QUALITIES
from ..errors import GpurenderError
from ..scene.colors import COLORMAPS
from .preview import preview_options, preview_progress
from .render import _job_options, farm_options, interrupted_job_exits


def _floats(text, count: int, option: str):
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise GpurenderError(f"{option} {text!r} is not understood; give {count} comma-separated numbers")
    return values


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="the video (.mp4, .webm, .mov, .mkv)")
@click.option("--fps", default="30", show_default=True, help="frames per second (one point cloud per frame): a whole number, 30000/1001 or 29.97 ...")
@click.option("--resolution", "-r", default="1280x720", show_default=True, help="720p, 1080p, 4k or WxH (even numbers)")
@click.option("--quality", "-q", type=click.Choice(QUALITIES), default="high", show_default=True)
@click.option("--format", "fmt", type=click.Choice(list(MUXER)), default=None,
              help="container (default: from the output's extension)")
@click.option("--codec", type=click.Choice(CODECS), default=None,
              help="video codec (default: the format's own)")
@click.option("--encoder", type=click.Choice(ENCODER_MODES), default="auto", show_default=True,
              help="auto probes NVENC, then CPU encoders; if one will not open the next is tried")
@click.option("--lossless", is_flag=True, help="lossless video stream")
@click.option("--point-size", default=3.0, show_default=True, type=float, help="point diameter in pixels")
@click.option("--colormap", type=click.Choice(COLORMAPS), default="viridis", show_default=True,
              help="colours by height for frames without their own")
@click.option("--background", default="#000000", show_default=True, help="'#rrggbb'")
@click.option("--camera", type=click.Choice(["auto", "orbit"]), default="auto", show_default=True,
              help="auto: fitted to the whole sequence, still; orbit: fitted, one turn over the video")
@click.option("--elevation", type=float, default=None, help="camera height angle, degrees (default 20)")
@click.option("--azimuth", type=float, default=None, help="camera angle around the vertical, degrees (default 30)")
@click.option("--distance", type=float, default=None, help="camera distance in data units (default: fitted)")
@click.option("--target", default=None, help="point looked at, 'x,y,z' in data units (default: the centre)")
@click.option("--fov", type=float, default=None, help="vertical field of view, degrees (default 45)")
@click.option("--orbit-speed", type=float, default=None, help="degrees per second around the vertical")
@click.option("--up", type=click.Choice(["y", "z"]), default="y", show_default=True, help="the data's up axis")
@click.option("--draw", type=click.Choice(["depth", "blend", "additive"]), default="depth", show_default=True,
              help="depth: nearest point wins; blend/additive: soft sprites")
@click.option("--bounds", default=None, help="'xmin,ymin,zmin,xmax,ymax,zmax' to frame instead of the data's own")
@click.option("--audio", "-a", "audio_path", default=None, type=click.Path(dir_okay=False),
              help="a sound track, trimmed to the video")
@click.option("--title", default=None, help="overlay template over {i} {n} {points} {frame} {time} "
                                            "(default 'Frame {i}/{n} | {points} points')")
@click.option("--no-title", is_flag=True, help="no overlay")
@click.option("--title-size", type=float, default=None, help="title height in pixels (default 4 percent of the height)")
@click.option("--quiet", is_flag=True, help="no progress output")
@farm_options
@preview_options
def points(inputs, output, fps, resolution, quality, fmt, codec, encoder, lossless, point_size, colormap, background,
           camera, elevation, azimuth, distance, target, fov, orbit_speed, up, draw, bounds, audio_path, title,
           no_title, title_size, quiet, chunk_frames, chunks, job_dir, resume, farm, address, retries, keep_job,
           preview, preview_host, preview_port):
    """Render a point-cloud sequence to a video.

    INPUTS is an .npz (points_0000, colors_0000, ... or one stacked [frames, N, 3] array), a
    folder of per-frame .ply/.npy/.csv files (natural name order), a quoted glob such as
    'scans/*.ply', or the files themselves. Every frame is checked before anything is written.

    With --chunk-frames, --chunks, --farm, --job-dir or --resume the export runs as chunks kept in
    a job directory, as for ``gpurender render``: Ctrl-C or a crash loses at most the chunks in
    flight, and --resume continues.
    """
    from ..pointcloud import DEFAULT_TITLE, export_point_cloud_video, open_sequence

    box = _floats(bounds, 6, "--bounds")
    cam = {"mode": camera, "elevation": elevation, "azimuth": azimuth, "distance": distance,
           "target": _floats(target, 3, "--target"), "fov": fov, "orbit_speed": orbit_speed}
    job = _job_options(chunk_frames, chunks, job_dir, resume, farm, address, retries, keep_job)
    frames = open_sequence(list(inputs))
    with preview_progress(quiet, preview, preview_host, preview_port, f"points {output}") as progress, \
            interrupted_job_exits(progress):
        result = export_point_cloud_video(
            frames, output, fps, resolution=resolution, quality=quality, format=fmt, codec=codec, encoder=encoder,
            lossless=lossless, point_size=point_size, colormap=colormap, background=background, camera=cam,
            bounds=(box[:3], box[3:]) if box else None, up=up, draw=draw, audio=audio_path,
            title=None if no_title else (title if title is not None else DEFAULT_TITLE), title_size=title_size,
            progress=progress, job=job,
        )
    click.echo(result.summary())


@click.command("points-example")
@click.argument("shape", type=click.Choice(["sphere", "torus", "helix"]))
@click.option("--output", "-o", required=True, type=click.Path(),
              help="an .npz, or a folder for per-frame files (with --format ply/npy/csv)")
@click.option("--frames", default=24, show_default=True, type=click.IntRange(1, 100000))
@click.option("--points", "n_points", default=10000, show_default=True, type=click.IntRange(1, 50_000_000),
              help="points per frame (the helix grows from half of this)")
@click.option("--colors", type=click.Choice(["none", "float", "uint8"]), default="none", show_default=True,
              help="per-point colours stored with the frames (none: coloured by height when rendered)")
@click.option("--format", "fmt", type=click.Choice(["npz", "ply", "npy", "csv"]), default=None,
              help="default: npz for a .npz output, else ply files in the folder")
@click.option("--seed", default=0, show_default=True, type=int)
def points_example(shape, output, frames, n_points, colors, fmt, seed):
    """Write an animated example sequence of a built-in SHAPE (sphere, torus, helix)."""
    from ..pointcloud import example_sequence, write_sequence

    written = write_sequence(example_sequence(shape, frames, n_points, seed=seed, colors=colors), output, fmt)
    where = written[0] if len(written) == 1 else f"{len(written)} files in {output}"
    click.echo(f"wrote {where}: {frames} frames of a {shape}; render it with: gpurender points {output} -o {shape}.mp4")


COMMANDS = (points, points_example)
