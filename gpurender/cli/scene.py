"""Commands that write scene files and describe them: ``init`` and ``schema``."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import GpurenderError


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
def init(path):
    """Write a commented starting scene to PATH (a new file, e.g. scene.toml)."""
    from ..encode.files import atomic_file
    from ..scene.loader import starter_scene

    target = Path(path)
    if target.exists() or target.is_symlink():
        raise GpurenderError(f"{path!r} already exists; choose another name, or delete it first")
    text = starter_scene(target.name).encode("utf-8")
    with atomic_file(target, what="scene") as handle:
        handle.write(text)
    click.echo(f"wrote {path}; look at it with: gpurender still {path} -o frame.png")


@click.command()
@click.option("--output", "-o", default=None, type=click.Path(dir_okay=False),
              help="write the schema to this file (default: print it)")
def schema(output):
    """Print the JSON Schema of scene files, for TOML editors (Even Better TOML / taplo).

    Save it beside your scenes and name it on a scene's first line: #:schema ./scene.schema.json
    """
    from ..scene.schema import dumps

    text = dumps()
    if output is None:
        click.echo(text, nl=False)
        return
    from ..encode.files import atomic_file

    with atomic_file(output, "w", what="schema") as handle:
        handle.write(text)
    click.echo(f"wrote {output}", err=True)


COMMANDS = (init, schema)
