"""The preset library: every preset loads, passes the JSON Schema and renders; ``gpurender presets``;
``--preset`` on render, still and demo; the gallery command."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gpurender.cli import main
from gpurender.presets import DEMO, PRESET_DIR, description, load_preset, names, preset_path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PRESETS = names()


def test_there_are_at_least_eight_presets_each_described_on_one_line():
    assert len(PRESETS) >= 8
    assert DEMO in PRESETS
    for name in PRESETS:
        text = description(name)
        assert text and "\n" not in text and len(text) <= 100, name
    assert len({description(name) for name in PRESETS}) == len(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_loads_and_passes_the_schema(name):
    jsonschema = pytest.importorskip("jsonschema")
    from gpurender.scene.schema import json_schema

    data = tomllib.loads(preset_path(name).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(json_schema()).validate(data)
    scene = load_preset(name)
    assert scene.description == description(name) and scene.layers
    assert scene.bindings(), f"{name}: nothing follows the music"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_renders_a_small_still(tmp_path, name):
    out = tmp_path / f"{name}.png"
    result = CliRunner().invoke(main, ["still", "--preset", name, "-o", str(out), "-r", "96x54", "--time", "1",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    pixels = np.asarray(Image.open(out))
    assert pixels.shape[:2] == (54, 96)
    assert pixels[..., :3].std() > 3, f"{name}: a flat frame"


def test_presets_command_lists_name_and_description():
    result = CliRunner().invoke(main, ["presets"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == PRESETS
    for line, name in zip(lines, PRESETS):
        assert re.fullmatch(rf"{re.escape(name)}\s+{re.escape(description(name))}", line)


def test_unknown_preset_is_one_line_listing_the_valid_names(tmp_path):
    for args in (["still", "--preset", "nope", "-o", str(tmp_path / "x.png")],
                 ["render", "--preset", "nope", "-a", "x.wav", "-o", str(tmp_path / "x.mp4")],
                 ["demo", "--preset", "nope", "-o", str(tmp_path / "x.mp4")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        [line] = result.output.strip().splitlines()
        assert line.startswith("error: unknown preset 'nope'; valid: ") and all(n in line for n in PRESETS)
    assert not list(tmp_path.iterdir())


def test_scene_and_preset_exactly_one(tmp_path):
    scene = Path(__file__).resolve().parents[1] / "examples" / "shader.toml"
    both = CliRunner().invoke(main, ["still", str(scene), "--preset", DEMO, "-o", str(tmp_path / "x.png")])
    assert both.exit_code == 2 and "not both" in both.output
    neither = CliRunner().invoke(main, ["still", "-o", str(tmp_path / "x.png")])
    assert neither.exit_code == 2 and "give a SCENE file or --preset NAME" in neither.output


def test_render_with_a_preset(tmp_path, song):
    out = tmp_path / "p.mp4"
    result = CliRunner().invoke(main, ["render", "--preset", "tunnel", "--audio", str(song), "-o", str(out),
                                       "--resolution", "96x54", "--fps", "12", "--duration", "0.5", "--quiet"])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_demo_with_a_preset(tmp_path):
    out = tmp_path / "d.mp4"
    result = CliRunner().invoke(main, ["demo", "--preset", "helix_lab", "-o", str(out), "--resolution", "96x54",
                                       "--fps", "12", "--duration", "0.5", "--quiet"])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_gallery_is_a_labelled_grid_of_every_preset(tmp_path):
    from gpurender.presets.gallery import main as gallery_main

    out = tmp_path / "gallery.png"
    assert gallery_main(["-o", str(out), "--tile", "64x36", "--columns", "3", "--render-size", "128x72"]) == 0
    image = Image.open(out)
    rows = -(-len(PRESETS) // 3)
    assert image.size == (3 * 64, rows * 36)


def test_presets_are_the_files_in_the_package():
    assert PRESETS == sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
