"""Every scene in examples/ loads and renders a short clip on the software adapter."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from gpurender.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCENES = sorted(EXAMPLES.glob("*.toml"))


def test_there_are_examples():
    assert SCENES, "examples/ holds no scene"


@pytest.mark.parametrize("scene", SCENES, ids=[p.stem for p in SCENES])
def test_example_scene_renders(tmp_path, song, scene):
    out = tmp_path / f"{scene.stem}.mp4"
    result = CliRunner().invoke(main, ["render", str(scene), "--audio", str(song), "-o", str(out),
                                       "--resolution", "128x72", "--fps", "12", "--duration", "0.5", "--quiet"])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_builtin_demo_scene_is_a_preset():
    from gpurender.presets import DEMO, preset_path
    from gpurender.scene.loader import default_scene_path

    assert Path(default_scene_path()) == preset_path(DEMO)
