"""The preset gallery: one labelled still of every preset, in a grid, to one PNG.

Deterministic: every tile is the frame at a fixed time of the built-in demo track, so the image
changes only when a preset (or the renderer) does. Each frame is drawn at 720p and filtered down to
its tile, so a tile shows what a 720p video looks like (sizes in pixels, such as point sizes and
text, would otherwise be out of proportion in a small tile). Regenerate the README's gallery with::

    python -m gpurender.presets.gallery -o docs/gallery.png
"""

from __future__ import annotations

import argparse
import sys

#: Seconds into the demo track each tile shows, and the tile size the README's gallery uses.
TIME = 3.0
TILE = (480, 270)
RENDER = (1280, 720)
COLUMNS = 4


def gallery(output, tile: tuple[int, int] = TILE, columns: int = COLUMNS, time_s: float = TIME,
            presets: list[str] | None = None, progress=None, render: tuple[int, int] = RENDER) -> str:
    """Render every preset (or ``presets``) at ``time_s`` at the ``render`` size, filter each frame
    down to a ``tile``, label it with the preset's name, and save the grid, ``columns`` to a row, to
    ``output`` (a PNG)."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from ..audio import demo_track
    from ..encode.files import atomic_file, check_output_dir
    from ..pipeline import analyse, as_progress, still_picture
    from ..settings import RenderSettings
    from . import load_preset, names

    output = Path(output)
    check_output_dir(output)
    chosen = list(presets) if presets is not None else names()
    width, height = tile
    rows = -(-len(chosen) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), (12, 12, 16))
    settings = RenderSettings(width=render[0], height=render[1], fps=30)
    audio = demo_track()
    font = _font(max(10, height // 14))
    for i, name in enumerate(chosen):
        if progress:
            progress(name)
        scene = load_preset(name)
        features = analyse(audio, settings, as_progress(None), scene)
        picture = still_picture(scene, features, audio.duration, time_s, settings)
        image = Image.fromarray(np.ascontiguousarray(picture[..., :3]))
        if image.size != (width, height):
            image = image.resize((width, height), Image.LANCZOS)
        _label(image, name, font)
        sheet.paste(image, ((i % columns) * width, (i // columns) * height))
    with atomic_file(output, what="image") as handle:
        sheet.save(handle, format="PNG", optimize=True)
    return str(output)


def _font(size: int):
    from PIL import ImageFont

    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans:bold"), size)
    except Exception:  # noqa: BLE001 - any font will do for a label
        return ImageFont.load_default()


def _label(image, text: str, font) -> None:
    """The name in the top-left corner, white on a translucent dark band, readable on any tile."""
    from PIL import Image, ImageDraw

    pad = max(3, image.height // 45)
    box = ImageDraw.Draw(image).textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    band = Image.new("RGBA", (w + 2 * pad, h + 2 * pad), (0, 0, 0, 150))
    ImageDraw.Draw(band).text((pad - box[0], pad - box[1]), text, font=font, fill=(255, 255, 255, 255))
    image.paste(band, (pad, pad), band)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpurender.presets.gallery", description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", default="docs/gallery.png", help="the PNG to write (default: %(default)s)")
    parser.add_argument("--tile", default=f"{TILE[0]}x{TILE[1]}", help="tile size WxH (default: %(default)s)")
    parser.add_argument("--columns", type=int, default=COLUMNS, help="tiles per row (default: %(default)s)")
    parser.add_argument("--render-size", default=f"{RENDER[0]}x{RENDER[1]}",
                        help="size each frame is drawn at before it is filtered down (default: %(default)s)")
    args = parser.parse_args(argv)
    from ..errors import GpurenderError
    from ..settings import parse_resolution

    try:
        tile, render = parse_resolution(args.tile), parse_resolution(args.render_size)
        path = gallery(args.output, tile, args.columns, progress=lambda name: print(f"  {name}", file=sys.stderr),
                       render=render)
    except GpurenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
