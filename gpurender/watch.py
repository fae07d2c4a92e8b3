"""Re-renders a still (or a contact sheet) of a scene whenever the scene or a file it reads changes.

:func:`watch_scene` is the loop behind ``gpurender watch``: it analyses the track once, then polls
the modification times of the scene file and of every file the scene reads (shaders, images,
fonts, point files) and draws the picture again when one changes, showing it on a
:class:`gpurender.preview.Preview`. A scene that does not load or a shader that does not compile
is shown on the page as its one-line error (which names the file, layer, key and line) while the
last good picture stays below it; the next edit that fixes it brings the picture back. Polling
needs no extra dependency and works on every file system.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from .errors import GpurenderError


def _signature(paths) -> tuple:
    """What changes when one of ``paths`` is edited, replaced or removed."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((path, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append((path, None, None, None))
    return tuple(out)


def _files_of(scene, scene_path: str) -> list[str]:
    files = [scene_path]
    for _what, path in scene.input_files():
        path = os.path.abspath(path)
        if path not in files:
            files.append(path)
    return files


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, GpurenderError):
        return str(exc)
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def watch_scene(scene_path, audio, preview, settings=None, time_s: float = 0.0, sheet=None, *,
                output=None, poll_s: float = 0.5, stop: threading.Event | None = None,
                max_renders: int | None = None, report=None) -> int:
    """Render ``scene_path`` over ``audio`` (an AudioData or a path) to ``preview`` now and after
    every change, until ``stop`` is set, ``max_renders`` renders (good or failed) are done, or
    Ctrl-C. ``output``: also write each good picture there (PNG, JPEG or WebP). ``report(line)``
    receives one line per render (the CLI prints them). Returns the number of renders."""
    from .pipeline import analyse, audio_of, still_format, still_picture
    from .progress import Progress
    from .scene import load_scene
    from .settings import RenderSettings

    settings = settings or RenderSettings()
    stop = stop or threading.Event()
    report = report or (lambda line: None)
    scene_path = os.path.abspath(scene_path)
    progress = Progress(quiet=True, preview=preview)
    audio = audio_of(audio)
    features = analyse(audio, settings, progress)
    files = [scene_path]
    seen = None
    renders = 0
    while not stop.is_set() and (max_renders is None or renders < max_renders):
        now = _signature(files)
        if now == seen:
            stop.wait(poll_s)
            continue
        seen = now
        renders += 1
        started = time.monotonic()
        preview.set_fields(renders=renders)
        try:
            scene = load_scene(scene_path)
            files = _files_of(scene, scene_path)
            seen = _signature(files)  # the files this scene reads, as they are now
            picture = still_picture(scene, features, audio.duration, time_s, settings, sheet, progress)
            if output is not None:
                _save(picture, Path(output), scene, audio, still_format)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad edit is shown, and the watch goes on
            message = _error_text(exc)
            preview.set_error(message)
            preview.set_fields(phase="watching", fps=None, eta_s=None,
                               message=f"render {renders} failed; waiting for the next edit")
            report(f"error: {message}")
            continue
        took = time.monotonic() - started
        preview.set_error(None)
        preview.show_image(picture)
        when = time.strftime("%H:%M:%S")
        preview.set_fields(phase="watching", fps=None, eta_s=None,
                           message=f"render {renders} at {when} took {took:.2f} s; watching {len(files)} file(s)")
        report(f"rendered {Path(scene_path).name} in {took:.2f} s" + (f"; wrote {output}" if output else ""))
    return renders


def _save(picture, output: Path, scene, audio, still_format) -> None:
    import numpy as np
    from PIL import Image

    from .encode.files import atomic_file, refuse_input_as_output

    refuse_input_as_output(output, scene.input_files() + [("audio", getattr(audio, "source", None))])
    options = still_format(output, scene.transparent)
    mode = "RGBA" if scene.transparent else "RGB"
    pil = Image.fromarray(picture if scene.transparent else np.ascontiguousarray(picture[..., :3]), mode)
    with atomic_file(output, what="image") as handle:
        pil.save(handle, **options)
