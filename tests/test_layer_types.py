"""A layer type is one declaration in the scene stage, naming its renderer, plus one renderer module,
imported only when a layer of the type is drawn."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpurender.errors import RenderError, SceneError
from gpurender.scene import model, scene_from_dict
from gpurender.scene.model import Layer, ParamSpec, layer_types, register_layer_type

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_every_type_names_a_renderer_class():
    from gpurender.render.layers import LayerRenderer, renderer_class

    everything = layer_types(include_code_only=True)
    assert set(layer_types()) < set(everything) and everything["pointseq"].in_scenes is False
    for name, spec in everything.items():
        module, _, cls = spec.renderer.partition(":")
        assert module.startswith(("gpurender.render.layers.", "gpurender.render.effects.")), name
        renderer = renderer_class(name)
        assert issubclass(renderer, LayerRenderer) and renderer.__name__ == cls and renderer.__module__ == module


def test_the_scene_stage_imports_no_renderer_and_no_gpu_library():
    loaded = _run("""
        import sys
        from gpurender.scene import load_scene, layer_types
        from gpurender.scene.reference import markdown
        from gpurender.scene.schema import json_schema
        for name in ("particles", "shader", "torus_spectrum", "galaxy_timecode", "helix_radial"):
            load_scene(f"examples/{name}.toml")
        layer_types(); markdown(); json_schema()
        print(sorted({m for m in sys.modules if m.startswith("gpurender.render") or m.split(".")[0] in
                      ("wgpu", "cupy", "av")}))
    """)
    assert loaded == "[]"


def test_a_render_imports_only_the_renderers_it_uses():
    imported = _run("""
        import sys
        from gpurender.audio import analyze, demo_track
        from gpurender.render.renderer import FrameRenderer
        from gpurender.scene import scene_from_dict
        scene = scene_from_dict({"layers": [{"type": "waveform"}, {"type": "spectrum"}]})
        FrameRenderer(scene, analyze(demo_track(0.5), 30), 64, 48, 30).render_rgba(3)
        print(" ".join(sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("gpurender.render.layers."))))
    """)
    assert imported == "base spectrum waveform"


def test_the_order_of_types_does_not_depend_on_what_was_imported_first():
    code = """
        import {first}
        from gpurender.scene.model import layer_types
        print(",".join(layer_types()))
    """
    orders = {_run(code.format(first=first)) for first in (
        "gpurender.scene", "gpurender.scene.layers_fx", "gpurender.scene.layers_media",
        "gpurender.render.layers.text", "gpurender.render.pointvideo")}
    assert orders == {",".join(model.layer_types())}


def test_code_only_types_are_not_offered_to_scene_files():
    with pytest.raises(SceneError, match="pointseq"):
        scene_from_dict({"layers": [{"type": "pointseq"}]})
    from gpurender.scene.reference import markdown
    from gpurender.scene.schema import json_schema

    assert "pointseq" not in markdown() and "pointseq" not in str(json_schema())


def test_declaring_a_type_checks_its_renderer_path():
    with pytest.raises(ValueError, match="module:Class"):
        register_layer_type("bad", {}, renderer="gpurender.render.layers.points.PointsRenderer")
    with pytest.raises(ValueError, match="object parameter"):
        register_layer_type("bad", {"thing": ParamSpec(None, "object")}, renderer="a.b:C")
    assert "bad" not in layer_types(include_code_only=True)


SOLID = '''
from gpurender.render.layers import LayerRenderer
from gpurender.render.layers.base import clear_pass


class SolidRenderer(LayerRenderer):
    def draw(self, command_encoder, frame, target_view):
        clear_pass(command_encoder, target_view, tuple(self.layer.params["color"])).end()
'''


@pytest.fixture
def registry(monkeypatch):
    """A copy of the layer registry for one test."""
    from gpurender.render.layers import base

    monkeypatch.setattr(model, "_LAYER_TYPES", dict(model.layer_types(include_code_only=True)))
    monkeypatch.setattr(base, "_CLASSES", {})
    return model._LAYER_TYPES


def test_a_new_layer_type_is_one_declaration_and_one_module(registry, tmp_path, monkeypatch, device):
    """The frame loop draws a type it has never heard of, from its declaration and its module alone."""
    (tmp_path / "solid_layer.py").write_text(SOLID)
    monkeypatch.syspath_prepend(str(tmp_path))
    register_layer_type("solid", {"color": ParamSpec("#000000", "color", help="the colour")},
                        help="one colour everywhere", renderer="solid_layer:SolidRenderer")
    assert "solid_layer" not in sys.modules  # not imported by declaring it
    from gpurender.render.renderer import FrameRenderer

    scene = scene_from_dict({"background": "#000000", "layers": [{"type": "solid", "color": "#ff0000"}]})
    rgba = FrameRenderer(scene, None, 16, 8, 30).render_rgba(0)
    assert "solid_layer" in sys.modules
    assert np.array_equal(rgba[4, 4], [255, 0, 0, 255])


def test_a_missing_renderer_is_named(registry, device):
    from gpurender.render.layers import create_renderer, renderer_class

    register_layer_type("ghost", {}, renderer="gpurender.render.layers.ghost:GhostRenderer")
    register_layer_type("wrong", {}, renderer="gpurender.render.layers.points:Nothing")
    with pytest.raises(RenderError, match="'ghost'.*gpurender.render.layers.ghost.*does not exist"):
        renderer_class("ghost")
    with pytest.raises(RenderError, match="'wrong'.*Nothing"):
        renderer_class("wrong")
    with pytest.raises(SceneError, match="no renderer for layer type 'nope'; valid: .*waveform"):
        create_renderer(None, Layer(type="nope"))
