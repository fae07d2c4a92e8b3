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


class PointFrameError(SceneError):
    """A frame of a point-cloud sequence is broken (unreadable file, bad shape, colours, too many
    points...); ``frame`` is its 0-based index in the sequence."""

    def __init__(self, message: str, frame: int):
        super().__init__(message)
        self.frame = frame


class RenderError(GpurenderError):
    """The GPU or the software adapter cannot do what was asked."""


class EncodeError(GpurenderError):
    """No encoder opens, or one failed while writing."""


def choices(valid) -> str:
    """Format a list of valid names for an error message."""
    return ", ".join(sorted(valid))


def one_line(exc: BaseException, limit: int = 300, named: bool = False) -> str:
    """``exc``'s message as one line for a person: its first non-blank line (the type's name when
    it says nothing), cut to ``limit`` characters.

    ``named`` puts the type's name in front when ``exc`` is not a :class:`GpurenderError`: a
    library's or a bug's exception, where the type tells what happened (``KeyError: 'x'``).
    """
    text = str(exc).strip()
    text = text.splitlines()[0].strip() if text else ""
    name = type(exc).__name__
    if not text:
        text = name
    elif named and not isinstance(exc, GpurenderError):
        text = f"{name}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def os_reason(exc: BaseException) -> str:
    """The system's words for a failed file operation (``No space left on device``): the
    ``strerror`` of ``exc`` or of the OSError it was raised from, else :func:`one_line`."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__
    return one_line(exc)


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


def environment_failure(exc: BaseException, path=None) -> GpurenderError | None:
    """A one-line error for ``exc`` when it is the machine's failure (disk full, permissions,
    memory), else None. PyAV's and NumPy's own exceptions of these kinds are included. The file
    named is the exception's own, else ``path`` (a write to an open file names none)."""
    import errno as _errno

    if isinstance(exc, MemoryError):
        return EnvironmentFailure("out of memory; render at a smaller size, with fewer points or particles, "
                                  "or on a machine with more memory")
    if isinstance(exc, OSError) and exc.errno is not None:
        name = _errno.errorcode.get(exc.errno)
        if name in _OS_FAILURES:
            what, fix = _OS_FAILURES[name]
            name = getattr(exc, "filename", None) or path
            where = f" writing {_published_name(name)!r}" if name else ""
            return EnvironmentFailure(f"{what}{where}; {fix}")
    return None
