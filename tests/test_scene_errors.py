"""Every scene mistake fails when the scene loads, on one line naming its place:
``<file>: layer N (type).key: ...`` (or ``<file>: camera.key``, ``<file>: key`` at the top)."""

from __future__ import annotations

import numpy as np
import pytest

from gpurender.errors import SceneError
from gpurender.scene import Binding, Camera, Layer, Scene, check_features, load_scene, scene_from_dict

SHADE = "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> { return vec4<f32>(1.0); }"


def _files(folder):
    """Files some broken scenes point at."""
    (folder / "notes.txt").write_text("not points")
    (folder / "empty").mkdir()
    (folder / "fake.png").write_text("not an image")
    (folder / "bad.ttf").write_bytes(b"\0" * 64)
    (folder / "paint.wgsl").write_text("fn paint() -> f32 { return 1.0; }")
    (folder / "ok.wgsl").write_text(SHADE)


# (TOML text, the message after "<file>: ", up to where it may go on in its own words)
BROKEN = [
    # top-level keys
    ('background = "cyan"', "background: colour 'cyan' is not understood"),
    ("background = [1, 0, 0, 2]", "background: colour [1, 0, 0, 2] needs 3 or 4 numbers in 0..1"),
    ("title = 3", "title: 3 is not a string"),
    ('colour = "#fff"', "colour: unknown key 'colour'; valid: antialias, background, camera, description, exposure, layers, motion_blur"),
    ("layers = 3", "layers: must be a list of tables"),
    ("layers = [1]", "layer 1: must be a table"),
    ("camera = 3", "camera: must be a table"),
    ("[[layers]]\ntype = 'points'\n" * 33, "layers: 33 layers; a scene may have at most 32"),
    # camera
    ("[camera]\nzoom = 2", "camera.zoom: unknown key 'zoom'; valid: "),
    ("[camera]\nfov = 200", "camera.fov: 200.0 is out of range; use 1..170"),
    ("[camera]\ndistance = 0", "camera.distance: 0.0 is out of range; use 0.01..100"),
    ("[camera]\ndistance = 'far'", "camera.distance: 'far' is not a number or a binding"),
    ("[camera]\ntarget = [0, 1]", "camera.target: [0, 1] is not [x, y, z] (three numbers)"),
    ("[camera]\ndistance = { feature = 'bas' }", "camera.distance.feature: unknown audio feature 'bas'; valid: "),
    # every layer
    ("[[layers]]\nshape = 'torus'", "layer 1.type: missing; give the layer's type"),
    ("[[layers]]\ntype = 'cubes'", "layer 1.type: unknown layer type 'cubes'; valid: "),
    ("[[layers]]\ntype = 'points'\nblend = 'burn'", "layer 1 (points).blend: 'burn' is not valid; use one of "),
    ("[[layers]]\ntype = 'points'\nopacity = 2", "layer 1 (points).opacity: 2.0 is out of range; use 0..1"),
    ("[[layers]]\ntype = 'points'\nname = 3", "layer 1 (points).name: 3 is not a string"),
    ("[[layers]]\ntype = 'points'\nopacity = { feature = 'loud' }",
     "layer 1 (points).opacity.feature: unknown audio feature 'loud'"),
    # the second layer is the one named
    ("[[layers]]\ntype = 'spectrum'\n[[layers]]\ntype = 'points'\ncolor = 'cyan'",
     "layer 2 (points).color: colour 'cyan' is not understood"),
    # points
    ("[[layers]]\ntype = 'points'\ncount = -5", "layer 1 (points).count: -5 is out of range; use 1..67108863"),
    ("[[layers]]\ntype = 'points'\ncount = 2.5", "layer 1 (points).count: 2.5 is not a whole number"),
    ("[[layers]]\ntype = 'points'\nseed = -1", "layer 1 (points).seed: -1 is out of range"),
    ("[[layers]]\ntype = 'points'\nshape = 'blob'", "layer 1 (points).shape: 'blob' is not valid; use one of "),
    ("[[layers]]\ntype = 'points'\ncolour = '#fff'", "layer 1 (points).colour: unknown parameter 'colour'"),
    ("[[layers]]\ntype = 'points'\ncount = { feature = 'bass' }",
     "layer 1 (points).count: only numeric parameters can follow an audio feature"),
    ("[[layers]]\ntype = 'points'\nloop = 1", "layer 1 (points).loop: 1 is not true or false"),
    ("[[layers]]\ntype = 'points'\nsoftness = 3", "layer 1 (points).softness: 3.0 is out of range; use 0..1"),
    ("[[layers]]\ntype = 'points'\ncolor_feature = 'bogus'",
     "layer 1 (points).color_feature: unknown audio feature 'bogus'; valid: "),
    ("[[layers]]\ntype = 'points'\ncolor_by = 'file'", "layer 1 (points).color_by: \"file\" takes each point's colour"),
    ("[[layers]]\ntype = 'points'\nfile = 'nowhere.ply'", "layer 1 (points).file: point file '{dir}/nowhere.ply' does not exist"),
    ("[[layers]]\ntype = 'points'\nfile = 'notes.txt'", "layer 1 (points).file: point file '{dir}/notes.txt' has the "
                                                        "unsupported suffix '.txt'"),
    ("[[layers]]\ntype = 'points'\nfile = 'empty'", "layer 1 (points).file: point folder '{dir}/empty' holds no"),
    ("[[layers]]\ntype = 'points'\nfile = 'frames/*.ply'", "layer 1 (points).file: point file pattern "
                                                           "'{dir}/frames/*.ply' matches no files"),
    # bindings
    ("[[layers]]\ntype = 'points'\nsize = { scale = 2 }", "layer 1 (points).size: a binding needs feature = \"name\""),
    ("[[layers]]\ntype = 'points'\nsize = { feature = 'bas', scale = 2 }",
     "layer 1 (points).size.feature: unknown audio feature 'bas'; valid: "),
    ("[[layers]]\ntype = 'points'\nsize = { feature = 'bass', gain = 2 }",
     "layer 1 (points).size.gain: unknown binding key 'gain'; valid: "),
    ("[[layers]]\ntype = 'points'\nsize = { feature = 'bass', scale = '2' }",
     "layer 1 (points).size.scale: '2' is not a number"),
    ("[[layers]]\ntype = 'points'\nsize = { feature = 'bass', smoothing = -1 }",
     "layer 1 (points).size.smoothing: -1.0 is out of range; use 0..60"),
    ("[[layers]]\ntype = 'points'\nsize = { feature = 'bass', min = 3, max = 1 }",
     "layer 1 (points).size: min 3 is above max 1"),
    # spectrum, waveform
    ("[[layers]]\ntype = 'spectrum'\nbars = 0", "layer 1 (spectrum).bars: 0 is out of range; use 1..4096"),
    ("[[layers]]\ntype = 'spectrum'\ngap = 1.5", "layer 1 (spectrum).gap: 1.5 is out of range; use 0..0.95"),
    ("[[layers]]\ntype = 'spectrum'\nstyle = 'dots'", "layer 1 (spectrum).style: 'dots' is not valid"),
    ("[[layers]]\ntype = 'waveform'\nstyle = 'dots'", "layer 1 (waveform).style: 'dots' is not valid"),
    ("[[layers]]\ntype = 'waveform'\nfill_color = '#12'", "layer 1 (waveform).fill_color: colour '#12' is not understood"),
    # particles
    ("[[layers]]\ntype = 'particles'\ncount = 0", "layer 1 (particles).count: 0 is out of range; use 1..134217727"),
    ("[[layers]]\ntype = 'particles'\nsubsteps = 100", "layer 1 (particles).substeps: 100 is out of range; use 1..64"),
    ("[[layers]]\ntype = 'particles'\nspeed_jitter = 2", "layer 1 (particles).speed_jitter: 2.0 is out of range; use 0..1"),
    ("[[layers]]\ntype = 'particles'\nburst_on = 'kick'", "layer 1 (particles).burst_on: 'kick' is not valid"),
    ("[[layers]]\ntype = 'particles'\ndirection = [0, 'up', 0]", "layer 1 (particles).direction: [0, 'up', 0] is not [x, y, z]"),
    ("[[layers]]\ntype = 'particles'\nrate = { feature = 'bass', attack = 'fast' }",
     "layer 1 (particles).rate.attack: 'fast' is not a number"),
    # image
    ("[[layers]]\ntype = 'image'", "layer 1 (image).file: an image layer needs file = \"picture.png\""),
    ("[[layers]]\ntype = 'image'\nfile = 'nothere.png'", "layer 1 (image).file: image file '{dir}/nothere.png' does not exist"),
    ("[[layers]]\ntype = 'image'\nfile = 'fake.png'", "layer 1 (image).file: image file '{dir}/fake.png' cannot be read"),
    ("[[layers]]\ntype = 'image'\nfile = 'fake.png'\nanchor = 'middle'", "layer 1 (image).anchor: 'middle' is not valid"),
    # text
    ("[[layers]]\ntype = 'text'\ntext = '{frme}'", "layer 1 (text).text: unknown placeholder {frme}; valid: fps, frame, "
                                                   "frames, time"),
    ("[[layers]]\ntype = 'text'\ntext = '{points} points'", "layer 1 (text).text: unknown placeholder {points}"),
    ("[[layers]]\ntype = 'text'\ntext = '{time'", "layer 1 (text).text: "),
    ("[[layers]]\ntype = 'text'\ntext = '{time:d}'", "layer 1 (text).text: cannot format '{time:d}'"),
    ("[[layers]]\ntype = 'text'\ntext = '{0}'", "layer 1 (text).text: placeholder {0} must be a plain name"),
    ("[[layers]]\ntype = 'text'\nfont = 'nofont.ttf'", "layer 1 (text).font: font file '{dir}/nofont.ttf' does not exist"),
    ("[[layers]]\ntype = 'text'\nfont = 'bad.ttf'", "layer 1 (text).font: font file '{dir}/bad.ttf' cannot be read as a font"),
    ("[[layers]]\ntype = 'text'\nalign = 'justify'", "layer 1 (text).align: 'justify' is not valid"),
    # shader
    ("[[layers]]\ntype = 'shader'", "layer 1 (shader).file: give either file = \"shade.wgsl\" or code = \"...\""),
    (f"[[layers]]\ntype = 'shader'\nfile = 'ok.wgsl'\ncode = '{SHADE}'", "layer 1 (shader).file: give either"),
    ("[[layers]]\ntype = 'shader'\nfile = 'missing.wgsl'", "layer 1 (shader).file: shader file '{dir}/missing.wgsl' "
                                                           "does not exist"),
    ("[[layers]]\ntype = 'shader'\nfile = 'paint.wgsl'", "layer 1 (shader).file: shader file '{dir}/paint.wgsl' defines "
                                                         "no shade function; declare `fn shade(uv: vec2<f32>"),
    ("[[layers]]\ntype = 'shader'\ncode = 'fn paint() -> f32 { return 1.0; }'",
     "layer 1 (shader).code: the code defines no shade function"),
    ("[[layers]]\ntype = 'shader'\nfile = 'ok.wgsl'\nparam1 = { feature = 'kick' }",
     "layer 1 (shader).param1.feature: unknown audio feature 'kick'"),
]


@pytest.mark.parametrize("text, place", BROKEN, ids=[place.split(":")[0] + f"-{i}" for i, (_, place) in enumerate(BROKEN)])
def test_a_broken_scene_names_its_place_when_it_loads(tmp_path, text, place):
    _files(tmp_path)
    path = tmp_path / "scene.toml"
    path.write_text(text + "\n")
    with pytest.raises(SceneError) as info:
        load_scene(path)
    message = str(info.value)
    expected = f"{path}: " + place.replace("{dir}", str(tmp_path))
    assert message.startswith(expected), message
    assert "\n" not in message


def test_the_same_scenes_as_dicts_name_the_same_places():
    cases = [
        ({"layers": [{"type": "spectrum"}, {"type": "points", "color": "cyan"}]},
         "s.toml: layer 2 (points).color: colour 'cyan'"),
        ({"layers": [{"type": "points", "count": -5}]}, "s.toml: layer 1 (points).count: -5 is out of range"),
        ({"layers": [{"type": "points", "size": Binding("bas")}]}, "s.toml: layer 1 (points).size.feature: unknown"),
        ({"camera": Camera(fov=500.0)}, "s.toml: camera.fov: 500.0 is out of range"),
        ({"layers": [Layer(type="points", params={"shape": "blob"})]}, "s.toml: layer 1 (points).shape: 'blob'"),
        ({"layers": [{"type": "points", "color": np.array([1.0, 2.0, 0.0])}]},
         "s.toml: layer 1 (points).color: colour"),
    ]
    for data, expected in cases:
        with pytest.raises(SceneError) as info:
            scene_from_dict(data, source="s.toml")
        assert str(info.value).startswith(expected), str(info.value)


def test_valid_values_in_every_accepted_form_load(tmp_path):
    (tmp_path / "cloud.npy").write_bytes(b"")  # a point file's contents are read when drawn, not at load
    scene = scene_from_dict({
        "title": "ok", "background": " Transparent ",
        "camera": {"distance": {"feature": "rms", "scale": -1, "offset": 3, "min": 2, "max": 3},
                   "target": [0, 0.5, 0]},
        "layers": [
            {"type": "points", "file": str(tmp_path / "cloud.npy"), "color": [1, 0.5, 0], "count": 3.0,
             "color_feature": "treble", "size": {"feature": "beat", "smoothing": 0.1}},
            {"type": "text", "text": "{points} points at {time:.1f} s, {{literal}}", "color": "#abc"},
            {"type": "shader", "code": SHADE, "name": "glow"},
        ],
    }, source="s.toml")
    points, text, shader = scene.layers
    assert scene.title == "ok" and scene.background == (0.0, 0.0, 0.0, 0.0) and scene.camera.target == (0.0, 0.5, 0.0)
    assert points.params["count"] == 3 and points.params["size"] == Binding("beat", attack=0.1, release=0.1)
    assert text.params["color"] == (0xaa / 255, 0xbb / 255, 0xcc / 255, 1.0)
    assert points.where("size") == "s.toml: layer 1 (points).size" and shader.name == "glow"


def test_the_point_cloud_title_may_use_its_own_placeholders():
    layer = {"type": "text", "text": "Frame {i}/{n} | {points} points"}
    with pytest.raises(SceneError, match=r"layer 1 \(text\)\.text: unknown placeholder \{i\}"):
        scene_from_dict({"layers": [layer]})
    scene = scene_from_dict({"layers": [layer]}, source="title", placeholders=("i", "n", "points"))
    assert scene.layers[0].params["text"] == layer["text"]


def test_a_scene_built_in_python_names_the_binding_that_follows_an_unknown_feature():
    scene = Scene(camera=Camera(distance=Binding("bass")),
                  layers=(Layer(type="spectrum", params={"height": Binding("kick")}),), source="mine")
    with pytest.raises(SceneError) as info:
        check_features(scene, ("bass", "rms"))
    assert str(info.value).startswith("mine: layer 1 (spectrum).height.feature: unknown audio feature 'kick'")


def test_errors_found_while_drawing_name_the_layer_and_key(tmp_path, device):
    from gpurender.render.renderer import FrameRenderer

    np.save(tmp_path / "plain.npy", np.zeros((10, 3), np.float32))
    (tmp_path / "scene.toml").write_text('[[layers]]\ntype = "spectrum"\n'
                                         '[[layers]]\ntype = "points"\nfile = "plain.npy"\ncolor_by = "file"\n')
    scene = load_scene(tmp_path / "scene.toml")
    with pytest.raises(SceneError) as info:
        FrameRenderer(scene, None, 32, 24, 12)
    assert str(info.value).startswith(f"{tmp_path / 'scene.toml'}: layer 2 (points).color_by: \"file\" but the point "
                                      f"file '{tmp_path / 'plain.npy'}' has no colours")
