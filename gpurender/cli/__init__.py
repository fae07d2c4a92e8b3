"""The ``gpurender`` command line: click commands, progress on stderr and exit codes.

Bad input ends with one line on stderr (``error: ...``) and exit status 2; Ctrl-C with status 130
and no file at the output path. Each module of this package holds a group of commands and
registers them here; the work itself is done by the stages they call.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import GpurenderError, environment_failure


class _Group(click.Group):
    """Turns GpurenderError, a failure of the machine (disk full, permissions, memory) and Ctrl-C
    into one line and an exit code instead of a traceback. The stages have already removed their
    temporary files on the way up, so nothing half-written is left."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GpurenderError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (OSError, MemoryError) as exc:
            failure = environment_failure(exc)
            if failure is None:
                raise
            click.echo(f"error: {failure}", err=True)
            sys.exit(failure.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: no output was written", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpurender")
def main():
    """Render audio and point clouds to video, frame by frame, on the GPU."""


# Each module lists its click commands in COMMANDS; a missing module is simply not offered.
_MODULES = ("render", "points", "farm", "scene", "batch", "preview", "presets")
for _name in _MODULES:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_name}":
            raise
        continue
    for _command in _module.COMMANDS:
        main.add_command(_command)
