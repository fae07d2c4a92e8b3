"""User-facing errors: one line that says what is wrong, where, and how to fix it.

Every stage raises :class:`GpurenderError` (or a subclass) for bad input; the CLI prints its
message on one line and exits non-zero. Anything else is a bug and keeps its traceback.
"""


class GpurenderError(Exception):
    """Bad input or an unusable environment, explained for a person."""

    exit_code = 2


class AudioError(GpurenderError):
    """The audio file is missing, unreadable, corrupt or empty."""


class SceneError(GpurenderError):
    """The scene file does not parse or names something that does not exist."""


class RenderError(GpurenderError):
    """The GPU or the software adapter cannot do what was asked."""


class EncodeError(GpurenderError):
    """No encoder opens, or one failed while writing."""


def choices(valid) -> str:
    """Format a list of valid names for an error message."""
    return ", ".join(sorted(valid))
