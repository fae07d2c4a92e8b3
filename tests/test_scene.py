import pytest

from gpurender.errors import SceneError
from gpurender.scene import Binding, load_scene, scene_from_dict
from gpurender.scene.evaluate import ParamEvaluator
from gpurender.scene.loader import default_scene_path
from gpurender.settings import frame_span, parse_resolution
from gpurender.errors import GpurenderError


def test_demo_scene_loads():
    scene = load_scene(default_scene_path())
    assert scene.description and scene.layers
    assert any(isinstance(value, Binding) for layer in scene.layers for value in layer.params.values())


def test_defaults_are_filled():
    scene = scene_from_dict({"layers": [{"type": "points"}]})
    layer = scene.layers[0]
    assert layer.params["shape"] == "sphere" and layer.blend == "normal" and layer.opacity == 1.0


def test_mirrored_spectrum_baseline_defaults_to_the_middle():
    def y(**given):
        return scene_from_dict({"layers": [{"type": "spectrum", **given}]}).layers[0].params["y"]

    assert y(style="mirrored") == 0.5  # both halves on screen
    assert y(style="bars") == 0.0 and y(style="radial") == 0.0 and y() == 0.0
    assert y(style="mirrored", y=0.0) == 0.0  # a baseline given is kept
    assert isinstance(y(style="mirrored", y={"feature": "bass"}), Binding)


def test_galaxy_falls_off_smoothly():
    import numpy as np

    from gpurender.scene import make_shape

    pts = make_shape("galaxy", 200_000, seed=1)
    r = np.hypot(pts[:, 0], pts[:, 2])
    # No ring at the edge: the outermost tenth of the radius holds fewer points than the tenth inside it.
    edge = r.max()
    outer, inner = np.sum(r > 0.9 * edge), np.sum((r > 0.8 * edge) & (r <= 0.9 * edge))
    assert outer < inner
    # No streak along the axis: the points near the axis are few, and their height is small.
    near = r < 0.02
    assert near.mean() < 0.005 and np.abs(pts[near, 1]).max() < 0.3


@pytest.mark.parametrize("data, needle", [
    ({"layers": [{"type": "cubes"}]}, "unknown layer type 'cubes'; valid: "),
    ({"layers": [{"type": "points", "blend": "burn"}]}, "blend: 'burn' is not valid; use one of "),
    ({"layers": [{"type": "points", "shape": "blob"}]}, "'blob' is not valid"),
    ({"layers": [{"type": "points", "colour": "#fff"}]}, "unknown parameter 'colour'"),
    ({"layers": [{"type": "points", "size": {"scale": 2}}]}, "needs feature"),
    ({"background": "#12"}, "colour '#12' is not understood"),
    ({"layers": [{"type": "points", "opacity": 2}]}, "opacity: 2.0 is out of range"),
])
def test_bad_scenes_name_the_problem(data, needle):
    with pytest.raises(SceneError) as info:
        scene_from_dict(data, source="s.toml")
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_toml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('background = "#000"\n[[layers]\ntype = "points"\n')
    with pytest.raises(SceneError) as info:
        load_scene(path)
    assert "line 2" in str(info.value)


def test_binding_series_scale_offset_clamp():
    class F:
        n_frames = 4

        def scalar(self, name):
            return [0.0, 0.5, 1.0, 2.0]

    b = Binding("bass", scale=2.0, offset=1.0, max=4.0)
    ev = ParamEvaluator(F(), 30)
    assert [ev.value(b, i) for i in range(4)] == [1.0, 2.0, 3.0, 4.0]
    assert ev.value(7.5, 2) == 7.5


def test_resolution_and_frame_span():
    assert parse_resolution("1080p") == (1920, 1080)
    assert parse_resolution("640x360") == (640, 360)
    for bad in ("641x360", "huge", "0x0"):
        with pytest.raises(GpurenderError):
            parse_resolution(bad)
    assert frame_span(0.5, 1.0, 30, 3.0) == (15, 30)
    assert frame_span(0.0, None, 60, 2.0) == (0, 120)
    with pytest.raises(GpurenderError, match="past the end"):
        frame_span(1.0, 5.0, 30, 3.0)


def test_binding_without_audio_is_a_clear_error():
    ev = ParamEvaluator(None, 30)
    assert ev.value(2.0, 5) == 2.0
    with pytest.raises(SceneError, match="no audio"):
        ev.value(Binding("bass"), 0)

