"""The package works from an installed wheel: shaders, the presets and the demo scene travel inside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (the test extra has it)")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True)
    [path] = out.glob("gpurender-*.whl")
    return path


def test_wheel_holds_shaders_and_demo_scene(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for shader in (ROOT / "shaders").glob("*.wgsl"):
        assert f"gpurender/shaders/{shader.name}" in names
    for preset in (ROOT / "gpurender" / "presets").glob("*.toml"):
        assert f"gpurender/presets/{preset.name}" in names
    assert "gpurender/presets/gallery.py" in names
    assert "gpurender/cli/__init__.py" in names


def test_installed_wheel_loads_its_own_shaders(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)
    code = (
        "import gpurender, gpurender.render.shaderlib as s, pathlib;"
        "p = pathlib.Path(gpurender.__file__).parent;"
        f"assert str(p).startswith({str(target)!r}), p;"
        "assert 'fn composite_layer' in s.load_wgsl('composite.wgsl');"
        "from gpurender.scene.loader import default_scene_path, load_scene;"
        "load_scene(default_scene_path());"
        "from gpurender.presets import names, load_preset;"
        "assert len(names()) >= 8, names(); [load_preset(n) for n in names()]; print('ok')"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
