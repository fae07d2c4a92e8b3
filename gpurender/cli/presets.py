"""The ``presets`` command, and the ``--preset`` option that takes the place of a scene file."""

from __future__ import annotations

import click

from ..errors import GpurenderError


def preset_option(help_text: str = "a built-in preset instead of a SCENE file (gpurender presets lists them)"):
    return click.option("--preset", "-p", "preset", default=None, metavar="NAME", help=help_text)


def scene_from(scene: str | None, preset: str | None):
    """The scene a command draws: the SCENE file or the ``--preset``, exactly one of them."""
    from ..scene import load_scene

    if scene is not None and preset is not None:
        raise GpurenderError(f"give a SCENE file or --preset, not both (got {scene!r} and --preset {preset})")
    if preset is not None:
        from ..presets import load_preset

        return load_preset(preset)
    if scene is None:
        raise GpurenderError("give a SCENE file or --preset NAME (gpurender presets lists the presets)")
    return load_scene(scene)


@click.command()
def presets():
    """List the built-in presets: each one's name and what it shows."""
    from ..presets import description, names

    found = names()
    width = max(len(name) for name in found)
    for name in found:
        click.echo(f"{name.ljust(width)}  {description(name)}")


COMMANDS = (presets,)
