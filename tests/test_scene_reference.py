"""The scene reference (docs/scenes.md), the JSON Schema of scene files and ``gpurender init``/``schema``:
all derived from the declarations the loader validates with, and kept true here."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from gpurender.cli import main
from gpurender.errors import SceneError
from gpurender.scene import load_scene, scene_from_dict
from gpurender.scene.loader import default_scene_path
from gpurender.scene.model import (BINDING_PARAMS, CAMERA_PARAMS, LAYER_PARAMS, MAX_LAYERS, SCENE_PARAMS,
                                   feature_names, layer_types)

jsonschema = pytest.importorskip("jsonschema", reason="the schema tests need jsonschema (the test extra has it)")

ROOT = Path(__file__).resolve().parents[1]
SCENES = sorted((ROOT / "examples").glob("*.toml")) + [Path(default_scene_path())]


@pytest.fixture(scope="module")
def validator():
    from gpurender.scene.schema import json_schema

    schema = json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


# ---- the reference ------------------------------------------------------------------------------


def test_committed_reference_is_the_generated_one():
    from gpurender.scene.reference import REGENERATE, markdown

    committed = (ROOT / "docs" / "scenes.md").read_text(encoding="utf-8")
    assert committed == markdown(), f"docs/scenes.md is out of date with the layer registry; regenerate it: {REGENERATE}"


def test_every_key_is_documented_with_a_meaning():
    from gpurender.scene.reference import markdown

    text = markdown()
    tables = {"top": SCENE_PARAMS, "camera": CAMERA_PARAMS, "layer": LAYER_PARAMS, "binding": BINDING_PARAMS}
    tables.update({name: spec.params for name, spec in layer_types().items()})
    for table, params in tables.items():
        for key, p in params.items():
            assert p.help, f"{table}.{key} has no help"
            assert f"| `{key}` |" in text
    for name, spec in layer_types().items():
        assert spec.help and f"### `{name}`" in text
    for feature in feature_names():
        assert f"`{feature}`" in text
    assert "#:schema ./scene.schema.json" in text


def test_readme_links_the_reference_and_keeps_its_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/scenes.md" in readme
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme


# ---- the schema ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCENES, ids=[p.stem for p in SCENES])
def test_every_example_scene_validates(validator, path):
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, errors


BROKEN_FOR_BOTH = [
    {"colour": "#fff"},                                                   # unknown top-level key
    {"background": "cyan"},                                               # not a colour
    {"background": [1, 0, 0, 2]},
    {"title": 3},
    {"camera": {"zoom": 2}},                                              # unknown camera key
    {"camera": {"fov": 200}},                                             # out of range
    {"camera": {"target": [0, 1]}},
    {"layers": [{"shape": "torus"}]},                                     # no type
    {"layers": [{"type": "cubes"}]},                                      # unknown type
    {"layers": [{"type": "points", "colour": "#fff"}]},                   # unknown key
    {"layers": [{"type": "points", "blend": "burn"}]},                    # bad enum
    {"layers": [{"type": "points", "shape": "blob"}]},
    {"layers": [{"type": "points", "count": 0}]},                         # out of range
    {"layers": [{"type": "points", "count": 2.5}]},
    {"layers": [{"type": "points", "opacity": 2}]},
    {"layers": [{"type": "points", "loop": 1}]},
    {"layers": [{"type": "points", "color_feature": "bogus"}]},
    {"layers": [{"type": "points", "size": {"feature": "bas"}}]},         # unknown feature in a binding
    {"layers": [{"type": "points", "size": {"scale": 2}}]},               # binding without a feature
    {"layers": [{"type": "points", "size": {"feature": "bass", "gain": 2}}]},
    {"layers": [{"type": "points", "size": {"feature": "bass", "smoothing": -1}}]},
    {"layers": [{"type": "points", "count": {"feature": "bass"}}]},       # a binding where none is allowed
    {"layers": [{"type": "spectrum", "shape": "torus"}]},                 # another type's key
    {"layers": [{"type": "particles", "substeps": 100}]},
    {"layers": [{"type": "particles", "direction": [0, "up", 0]}]},
    {"layers": [{"type": "text", "align": "justify"}]},
    {"layers": [{"type": "waveform", "style": "dots"}]},
    {"layers": [{"type": "image", "fit": "fill"}]},
    {"layers": [{"type": "points"}] * (MAX_LAYERS + 1)},
]


@pytest.mark.parametrize("data", BROKEN_FOR_BOTH, ids=[json.dumps(d)[:60] for d in BROKEN_FOR_BOTH])
def test_broken_scenes_fail_the_schema_and_the_loader(validator, data):
    assert not validator.is_valid(data)
    with pytest.raises(SceneError):
        scene_from_dict(copy.deepcopy(data), source="s.toml")


def test_the_schema_and_the_loader_accept_the_same_forms(validator):
    good = {
        "title": "t", "background": "transparent",
        "camera": {"distance": {"feature": "rms", "scale": -1, "offset": 3, "min": 2}, "fov": 170, "target": [0, 1, 0]},
        "layers": [
            {"type": "points", "color": "#ABCD", "count": 3.0, "size": {"feature": "bass", "attack": 0.1}},
            {"type": "spectrum", "color": [1, 0.5, 0], "color_top": [0, 0, 0, 0.5], "bars": 1, "gap": 0.95,
             "blend": "color-dodge", "opacity": 0, "name": "bars"},
            {"type": "particles", "direction": [1, 0, 0], "seed": 4294967295, "space": "screen"},
            {"type": "text", "text": "{time:.1f}", "size": {"feature": "beat", "scale": 8, "offset": 20}},
        ],
    }
    assert validator.is_valid(good), [e.message for e in validator.iter_errors(good)]
    scene_from_dict(good)


def test_bindings_are_allowed_exactly_where_a_parameter_is_bindable(validator):
    binding = {"feature": "bass"}
    for name, spec in layer_types().items():
        extra = {"code": "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> { return vec4<f32>(1.0); }"} \
            if name == "shader" else {}
        for key, p in spec.params.items():
            layer = {"type": name, **extra, key: binding}
            assert validator.is_valid({"layers": [layer]}) == (p.kind == "number"), (name, key)


def test_load_scene_ignores_a_schema_comment(tmp_path):
    path = tmp_path / "scene.toml"
    path.write_text("#:schema ./scene.schema.json\n" + Path(default_scene_path()).read_text())
    plain, commented = load_scene(default_scene_path()), load_scene(path)
    assert dataclasses.replace(commented, source=plain.source) == plain


def test_schema_command_prints_the_schema_and_writes_it(tmp_path):
    from gpurender.scene.schema import json_schema

    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == json.loads(json.dumps(json_schema()))
    assert printed["$schema"] == "http://json-schema.org/draft-07/schema#"
    out = tmp_path / "scene.schema.json"
    result = CliRunner().invoke(main, ["schema", "-o", str(out)])
    assert result.exit_code == 0 and json.loads(out.read_text()) == printed


def test_max_layers_is_the_compositors_and_the_shaders():
    from gpurender.render import compositor, structs

    wgsl = (ROOT / "shaders" / "stack.wgsl").read_text()  # the stack the compositor and the conversion read
    assert compositor.MAX_LAYERS == MAX_LAYERS
    assert structs.STACK.field("layers").type.wgsl == f"array<StackLayer, {MAX_LAYERS}>"
    assert '//#include "struct Stack"' in wgsl


# ---- gpurender init -----------------------------------------------------------------------------


def test_init_writes_a_commented_scene_that_loads_validates_and_renders(tmp_path, validator):
    from gpurender.audio import demo_track
    from gpurender.pipeline import render_still
    from gpurender.settings import RenderSettings

    path = tmp_path / "mine.toml"
    result = CliRunner().invoke(main, ["init", str(path)])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text.startswith("# mine.toml: ") and text.count("\n#") > 10  # commented
    assert validator.is_valid(tomllib.loads(text))
    scene = load_scene(path)
    assert [layer.type for layer in scene.layers] == ["spectrum", "points", "text"]
    still = render_still(scene, demo_track(duration=1.0), tmp_path / "still.png", 0.5,
                         RenderSettings(width=64, height=48, fps=12))
    from PIL import Image

    with Image.open(still) as picture:
        assert picture.size == (64, 48)
        assert max(picture.convert("L").getextrema()) > 40  # something was drawn


def test_init_refuses_an_existing_file_in_one_line(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("# mine\n")
    result = CliRunner().invoke(main, ["init", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "already exists" in result.output
    assert path.read_text() == "# mine\n"
    missing = tmp_path / "no" / "scene.toml"
    result = CliRunner().invoke(main, ["init", str(missing)])
    assert result.exit_code == 2 and "does not exist" in result.output and not missing.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml"]  # no temporary file left
