"""Colour values as users write them (``"#ff8800"``, ``"#ff880080"``, ``[1, 0.5, 0]``) and colormaps.

Colormaps come from matplotlib (imported on first use) and are sampled into 256-entry tables.
"""

from __future__ import annotations

import functools
import numbers
import re

import numpy as np

from ..errors import SceneError, choices

COLORMAPS = ("viridis", "magma", "inferno", "plasma", "turbo", "cividis", "twilight", "gray")


#: The colour strings :func:`parse_color` reads, as a regular expression (the JSON Schema uses it too):
#: ``#rgb``, ``#rgba``, ``#rrggbb``, ``#rrggbbaa`` (the ``#`` may be left out) or ``transparent``.
COLOR_PATTERN = (r"^\s*#*([0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})\s*$"
                 r"|^\s*[tT][rR][aA][nN][sS][pP][aA][rR][eE][nN][tT]\s*$")
_COLOR = re.compile(COLOR_PATTERN)


def parse_color(value, where: str = "color") -> tuple[float, float, float, float]:
    """A colour as straight RGBA floats in 0..1."""
    if isinstance(value, str):
        if not _COLOR.match(value):
            raise SceneError(f"{where}: colour {value!r} is not understood; use '#rrggbb', '#rrggbbaa' or "
                             "[r, g, b(, a)] in 0..1")
        text = value.strip().lstrip("#")
        if text.lower() == "transparent":
            return (0.0, 0.0, 0.0, 0.0)
        if len(text) in (3, 4):
            text = "".join(c * 2 for c in text)
        parts = [int(text[i:i + 2], 16) / 255.0 for i in range(0, len(text), 2)]
        if len(parts) == 3:
            parts.append(1.0)
        return tuple(parts)
    try:
        if isinstance(value, (bytes, dict)) or not all(
                isinstance(x, numbers.Real) and not isinstance(x, bool) for x in value):
            raise TypeError
        parts = [float(x) for x in value]
    except TypeError:
        raise SceneError(f"{where}: colour {value!r} is not understood; use '#rrggbb' or [r, g, b(, a)] in 0..1") from None
    if len(parts) == 3:
        parts.append(1.0)
    if len(parts) != 4 or not all(0.0 <= p <= 1.0 for p in parts):
        raise SceneError(f"{where}: colour {value!r} needs 3 or 4 numbers in 0..1")
    return tuple(parts)


def check_colormap(name: str, where: str = "colormap") -> str:
    if name not in COLORMAPS:
        raise SceneError(f"{where}: unknown colormap {name!r}; valid: {choices(COLORMAPS)}")
    return name


@functools.lru_cache(maxsize=None)
def colormap_table(name: str) -> np.ndarray:
    """A ``[256, 4]`` float32 RGBA table for a colormap name."""
    check_colormap(name)
    from matplotlib import colormaps

    return colormaps[name](np.linspace(0.0, 1.0, 256)).astype(np.float32)


def apply_colormap(values: np.ndarray, name: str) -> np.ndarray:
    """Map values (normalised over their own range) through a colormap to ``[n, 4]`` float32."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    t = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    idx = np.clip(np.rint(t * 255), 0, 255).astype(np.intp)
    return colormap_table(name)[idx]
