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


class EnvironmentFailure(GpurenderError):
    """The machine, not the input, failed: a full disk, a denied permission, memory ran out."""


#: errno -> (what happened, how to fix it) for the failures of the machine a person can act on.
_OS_FAILURES = {
    "ENOSPC": ("no space left on the device", "free some space or write the output elsewhere"),
    "EDQUOT": ("the disk quota is used up", "free some space or write the output elsewhere"),
    "EACCES": ("permission denied", "choose a path you may write, or fix its permissions"),
    "EPERM": ("operation not permitted", "choose a path you may write, or fix its permissions"),
    "EROFS": ("the file system is read-only", "write the output elsewhere"),
    "EIO": ("an input/output error from the device", "check the disk, then rerun"),
    "EMFILE": ("too many open files", "raise the limit (ulimit -n) or rerun with fewer chunks"),
    "ENFILE": ("too many open files on this machine", "close other programs, then rerun"),
}


def _published_name(path) -> str:
    """The output a temporary file stands for: ``dir/.clip.mp4.partial-1a2b3c4d.mp4`` -> ``dir/clip.mp4``."""
    import os
    import re

    path = os.fspath(path)
    folder, name = os.path.split(path)
    match = re.match(r"\.+(.+?)\.partial-[0-9a-f]{8}", name)
    return os.path.join(folder, match.group(1)) if match else path


def environment_failure(exc: BaseException) -> GpurenderError | None:
    """A one-line error for ``exc`` when it is the machine's failure (disk full, permissions,
    memory), else None. PyAV's and NumPy's own exceptions of these kinds are included."""
    import errno as _errno

    if isinstance(exc, MemoryError):
        return EnvironmentFailure("out of memory; render at a smaller size, with fewer points or particles, "
                                  "or on a machine with more memory")
    if isinstance(exc, OSError) and exc.errno is not None:
        name = _errno.errorcode.get(exc.errno)
        if name in _OS_FAILURES:
            what, fix = _OS_FAILURES[name]
            where = f" writing {_published_name(exc.filename)!r}" if getattr(exc, "filename", None) else ""
            return EnvironmentFailure(f"{what}{where}; {fix}")
    return None
