"""The audio feature names are declared once (gpurender.audio.features.FEATURES); the rest derives."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpurender.audio import AnalysisSettings, Features, UnknownFeatureError, analyze, demo_track
from gpurender.audio.features import FEATURES, FeatureSpec, feature_names, feature_spec
from gpurender.errors import GpurenderError

ROOT = Path(__file__).resolve().parents[1]


def test_one_list_of_features():
    names = feature_names()
    assert names == tuple(spec.name for spec in FEATURES) and len(set(names)) == len(names)
    assert Features.SCALAR_NAMES == names
    assert all(isinstance(spec, FeatureSpec) and spec.help and re.fullmatch(r"[a-z_]+", spec.name)
               for spec in FEATURES)
    assert {"tempo", "beat_phase", "downbeat"} <= set(names)
    assert feature_spec("tempo").unit == "BPM" and feature_spec("centroid").maximum is None
    with pytest.raises(UnknownFeatureError) as err:
        feature_spec("loudness")
    assert "\n" not in str(err.value) and all(name in str(err.value) for name in names)
    features = analyze(demo_track(1.0), 30, settings=AnalysisSettings(backend="numpy", keep_spectrum=False))
    for spec in FEATURES:  # an attribute, a scalar and a column per entry, in the list's order
        series = getattr(features, spec.name)
        assert series is features.scalar(spec.name) and series.shape == (features.n_frames,)
        assert series.min() >= spec.minimum and (spec.maximum is None or series.max() <= spec.maximum), spec.name
    np.testing.assert_array_equal(features.table()[:, names.index("tempo")], features.tempo)


def test_shader_struct_follows_the_list():
    from gpurender.render.shaderlib import load_wgsl

    source = load_wgsl("user_shader.wgsl")
    body = re.search(r"struct AudioFeatures \{(.*?)\};", source, re.S).group(1)
    fields = re.findall(r"(\w+)\s*:\s*f32", body)
    real = [f for f in fields if not f.startswith("gpurender_pad")]
    assert tuple(real) == feature_names(), "shaders/user_shader.wgsl's AudioFeatures must list FEATURES in order"
    assert fields[len(real):] == [f"gpurender_pad{i}" for i in range(len(fields) - len(real))]
    assert len(fields) % 4 == 0
    header = source.split("struct ShaderInputs")[0]
    assert all(name in header for name in feature_names()), "the comment at the top lists every feature"
    from gpurender.render.layers import shader

    assert shader.FEATURE_ORDER == feature_names() and shader._FEATURES_FLOATS == len(fields)


def test_the_list_is_light_to_import():
    code = ("import sys, gpurender.audio.features as f; f.feature_names(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scipy', 'wgpu', 'av', 'soundfile', 'matplotlib', 'cupy', 'click', 'PIL'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_readme_names_every_feature():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in feature_names() if f"`{name}`" not in readme]
    assert not missing, f"README.md does not mention {missing}"


def test_npz_keeps_every_feature_and_refuses_an_older_file(tmp_path):
    features = analyze(demo_track(1.0), 30, settings=AnalysisSettings(backend="numpy", keep_spectrum=False))
    target = tmp_path / "f.npz"
    features.save_npz(target)
    again = Features.load_npz(target)
    for name in feature_names():
        np.testing.assert_array_equal(again.scalar(name), features.scalar(name))
    np.testing.assert_array_equal(again.beat_times, features.beat_times)
    with np.load(target) as data:
        old = {k: data[k] for k in data.files if k not in ("tempo", "beat_phase", "downbeat")}
    np.savez(tmp_path / "old.npz", **old)
    with pytest.raises(GpurenderError, match="lacks the feature.*tempo.*write it again"):
        Features.load_npz(tmp_path / "old.npz")
