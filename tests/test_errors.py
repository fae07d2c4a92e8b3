"""The one-line error helpers every stage uses: one_line, os_reason, environment_failure."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

import gpurender
from gpurender.errors import EncodeError, EnvironmentFailure, SceneError, environment_failure, one_line, os_reason


@pytest.mark.parametrize("exc, kwargs, expected", [
    (ValueError("bad value\n  at line 2\n"), {}, "bad value"),
    (ValueError("\n\n  first real line  \nsecond"), {}, "first real line"),
    (KeyError(), {}, "KeyError"),
    (RuntimeError("boom"), {"named": True}, "RuntimeError: boom"),
    (RuntimeError(""), {"named": True}, "RuntimeError"),
    (SceneError("scene.toml: layer 1 (points).size: not a number"), {"named": True},
     "scene.toml: layer 1 (points).size: not a number"),  # ours say what and where already
    (ValueError("x" * 500), {"limit": 40}, "x" * 37 + "..."),
])
def test_one_line(exc, kwargs, expected):
    assert one_line(exc, **kwargs) == expected


def test_os_reason_reads_the_system_words_through_a_wrapping_error():
    inner = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/.f.partial-1234abcd")
    try:
        try:
            raise inner
        except OSError as exc:
            raise EnvironmentFailure("no space left on the device writing '/x/f'") from exc
    except EnvironmentFailure as outer:
        assert os_reason(outer) == "No space left on device"
    assert os_reason(EncodeError("no encoder\nmore")) == "no encoder"


def test_environment_failure_names_the_published_file_or_the_path_given():
    temp = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/out/.clip.mp4.partial-1a2b3c4d.mp4")
    assert str(environment_failure(temp)) == ("no space left on the device writing '/out/clip.mp4'; free some space "
                                              "or write the output elsewhere")
    nameless = OSError(errno.EACCES, os.strerror(errno.EACCES))  # a write() to an open file names none
    assert "writing '/out/f.npz'" in str(environment_failure(nameless, Path("/out/f.npz")))
    assert environment_failure(OSError(errno.ENAMETOOLONG, "too long")) is None


def test_no_module_keeps_its_own_one_line_helper():
    """One helper shortens exception text: nothing else in the package takes a message's first line."""
    package = Path(gpurender.__file__).parent
    found = [str(path.relative_to(package)) for path in package.rglob("*.py")
             if path.name != "errors.py" and re.search(r"splitlines\(\)\[0\]|def _short\b|def _one_line\b",
                                                       path.read_text(encoding="utf-8"))]
    assert found == []
