"""The preset library: finished scenes that look good on any song, shipped inside the package.

Each preset is a scene file ``<name>.toml`` in this folder with a one-line top-level
``description``. ``gpurender presets`` lists them; ``--preset NAME`` on ``render``, ``still`` and
``demo`` takes the place of a scene file; :mod:`.gallery` draws one labelled tile per preset.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GpurenderError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PRESET_DIR = Path(__file__).resolve().parent

#: The preset the demo renders (chosen by eye from the gallery).
DEMO = "synthwave"


def names() -> list[str]:
    """Every preset's name, sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    """The scene file of preset ``name``; an unknown name is one error line listing the valid ones."""
    path = PRESET_DIR / f"{name}.toml"
    if name not in names():
        raise GpurenderError(f"unknown preset {name!r}; valid: {', '.join(names())} (gpurender presets lists them)")
    return path


def description(name: str) -> str:
    """The preset's one-line ``description`` (read without validating the whole scene)."""
    with open(preset_path(name), "rb") as handle:
        return str(tomllib.load(handle).get("description", ""))


def load_preset(name: str):
    """The validated :class:`~gpurender.scene.Scene` of preset ``name``."""
    from ..scene import load_scene

    return load_scene(preset_path(name))
