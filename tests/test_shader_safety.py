"""A user's shader cannot take the process down: limits before compiling, a trial compile in a
child process with a time limit, Ctrl-C honoured, and one error line for every way it goes wrong.

The hostile shaders here crashed the whole process with SIGSEGV inside ``create_shader_module``
before these checks existed (3000 nested parentheses, a 20,000-term chain, ...).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from gpurender.errors import RenderError, SceneError
from gpurender.render import shadercheck
from gpurender.render.shadercheck import MAX_CHAIN, MAX_ELSE_IF, MAX_NESTING, MAX_SOURCE_BYTES, check_limits
from gpurender.scene import scene_from_dict

SIGNATURE = "fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32>"


def shader_returning(expr: str, before: str = "") -> str:
    return f"{SIGNATURE} {{\n{before}    let v = {expr};\n    return vec4<f32>(v, 0.0, 0.0, 1.0);\n}}\n"


DEEP_PARENS = shader_returning("(" * 3000 + "uv.x" + ")" * 3000)  # ~6 KB, crashed naga
DEEP_CALLS = shader_returning("abs(" * 2500 + "uv.x" + ")" * 2500)
DEEP_TYPES = f"{SIGNATURE} {{\n    var a: " + "array<" * 3000 + "f32" + ", 1>" * 3000 + ";\n    return vec4<f32>(1.0);\n}\n"
FLAT_CHAIN = shader_returning(" + ".join(["uv.x"] * 20_000))
ELSE_IFS = (f"{SIGNATURE} {{\n    var v = 0.0;\n    if uv.x < 0.0 {{ v = 1.0; }}"
            + "".join(f" else if uv.x < {i}.0 {{ v = {i}.0; }}\n" for i in range(MAX_ELSE_IF + 100))
            + "    return vec4<f32>(v);\n}\n")
HUGE = "// padding\n" * (MAX_SOURCE_BYTES // 11 + 10) + shader_returning("uv.x")


@pytest.fixture
def fresh_verdicts(monkeypatch):
    """No verdict from an earlier test: every shader here goes to a child."""
    monkeypatch.setattr(shadercheck, "_verdicts", {})


def child_running(code: str):
    """A child command that runs ``code`` instead of the real check."""
    return lambda: [sys.executable, "-c", code]


# ---- limits, pure Python -------------------------------------------------------------------


@pytest.mark.parametrize("code, what", [
    (DEEP_PARENS, f"nests brackets more than {MAX_NESTING} deep"),
    (DEEP_CALLS, f"nests brackets more than {MAX_NESTING} deep"),
    (DEEP_TYPES, f"nests brackets more than {MAX_NESTING} deep"),
    (FLAT_CHAIN, f"chains more than {MAX_CHAIN} operators"),
    (ELSE_IFS, f"chains more than {MAX_ELSE_IF} `else if`"),
    (HUGE, f"up to {MAX_SOURCE_BYTES // 1024} KB"),
])
def test_limits_refuse_hostile_shaders_in_one_line(code, what):
    start = time.monotonic()
    with pytest.raises(SceneError) as info:
        check_limits(code, "evil.wgsl")
    message = str(info.value)
    assert message.startswith("evil.wgsl") and what in message and "\n" not in message
    assert time.monotonic() - start < 2.0


def test_limits_point_at_the_line():
    code = "// a comment ((((((\n/* a block /* nested */ (((( */\n" + shader_returning("(" * 200 + "1.0" + ")" * 200)
    with pytest.raises(SceneError, match=r"^x\.wgsl:4: "):
        check_limits(code, "x.wgsl")


def test_limits_accept_real_shaders_and_ignore_comments():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in [*root.joinpath("shaders").glob("*.wgsl"), *root.joinpath("examples", "shaders").glob("*.wgsl")]:
        check_limits(path.read_text(), path.name)
    # Long but harmless: a table of negative constants, many statements, brackets in comments.
    table = ", ".join(f"-{i}.5" for i in range(4000))
    many = "".join(f"    s = s + {i}.0 * uv.x - 1.0;\n" for i in range(3000))
    check_limits(f"const T = array<f32, 4000>({table});\n// " + "(" * 5000 + "\n"
                 + shader_returning("s", before="    var s = 0.0;\n" + many), "ok.wgsl")
    # At the limits themselves, still accepted.
    check_limits(shader_returning("(" * (MAX_NESTING - 2) + "uv.x" + ")" * (MAX_NESTING - 2)), "ok.wgsl")
    check_limits(shader_returning(" + ".join(["uv.x"] * MAX_CHAIN)), "ok.wgsl")


# ---- the child process ---------------------------------------------------------------------


def test_a_compiler_crash_in_the_child_is_one_line(fresh_verdicts):
    """The real thing: 3000 parentheses past the limits check segfault the child, not us."""
    from gpurender.render.layers.shader import compose_source

    code, _ = compose_source(DEEP_PARENS)
    start = time.monotonic()
    with pytest.raises(SceneError) as info:
        shadercheck.trial_compile(code, "rgba16float", "evil.wgsl")
    message = str(info.value)
    assert message.startswith("evil.wgsl: the WGSL compiler crashed on this shader (SIGSEGV)")
    assert "\n" not in message
    assert time.monotonic() - start < 20
    # The verdict is kept: the same text does not start another child.
    with pytest.raises(SceneError, match="crashed"):
        shadercheck.trial_compile(code, "rgba16float", "evil.wgsl")


def test_a_child_killed_by_a_signal_is_one_line(fresh_verdicts, monkeypatch):
    monkeypatch.setattr(shadercheck, "_child_command",
                        child_running("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"))
    with pytest.raises(SceneError) as info:
        shadercheck.trial_compile("fn shade() {}", "rgba16float", "evil.wgsl")
    assert "(SIGSEGV)" in str(info.value) and "\n" not in str(info.value)


def test_a_hanging_child_is_killed_at_the_time_limit(fresh_verdicts, monkeypatch, tmp_path):
    pid_file = tmp_path / "pid"
    monkeypatch.setattr(shadercheck, "_child_command", child_running(
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"))
    monkeypatch.setenv("GPURENDER_SHADER_TIMEOUT", "1")
    start = time.monotonic()
    with pytest.raises(SceneError) as info:
        shadercheck.trial_compile("fn shade() {}", "rgba16float", "slow.wgsl")
    assert time.monotonic() - start < 5
    assert str(info.value).startswith("slow.wgsl: the shader did not compile within 1 s")
    assert "GPURENDER_SHADER_TIMEOUT" in str(info.value)
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(int(pid_file.read_text()), 0)


def test_ctrl_c_while_the_child_compiles_kills_it(fresh_verdicts, monkeypatch, tmp_path):
    pid_file = tmp_path / "pid"
    monkeypatch.setattr(shadercheck, "_child_command", child_running(
        "import os, signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "  # like a native call
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            shadercheck.trial_compile("fn shade() {}", "rgba16float", "slow.wgsl")
    finally:
        timer.cancel()
    assert time.monotonic() - start < 5
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_child_that_cannot_check_is_a_render_error(fresh_verdicts, monkeypatch):
    monkeypatch.setattr(shadercheck, "_child_command",
                        child_running("import sys; sys.stderr.write('boom: no adapter\\n'); sys.exit(1)"))
    with pytest.raises(RenderError, match=r"^x\.wgsl: the process that checks the shader failed \(exit 1\): "
                                          r"boom: no adapter$"):
        shadercheck.trial_compile("fn shade() {}", "rgba16float", "x.wgsl")


def test_bad_timeout_setting(monkeypatch):
    monkeypatch.setenv("GPURENDER_SHADER_TIMEOUT", "soon")
    with pytest.raises(RenderError, match="GPURENDER_SHADER_TIMEOUT='soon'"):
        shadercheck.timeout_s()


# ---- through the shader layer --------------------------------------------------------------


def renderer(tmp_path, body: str, name="shade.wgsl"):
    from gpurender.render.renderer import FrameRenderer

    path = tmp_path / name
    path.write_text(body)
    scene = scene_from_dict({"background": "#000000", "layers": [{"type": "shader", "file": str(path)}]})
    return FrameRenderer(scene, None, 8, 8, 30), str(path)


@pytest.mark.parametrize("body", [DEEP_PARENS, FLAT_CHAIN, HUGE], ids=["nesting", "chain", "oversized"])
def test_hostile_shader_layer_is_a_scene_error(tmp_path, body):
    pytest.importorskip("wgpu")
    path = tmp_path / "evil.wgsl"
    start = time.monotonic()
    with pytest.raises(SceneError) as info:
        renderer(tmp_path, body, "evil.wgsl")
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert time.monotonic() - start < 10


def test_normal_shader_renders_and_is_checked_once(tmp_path, fresh_verdicts, monkeypatch):
    pytest.importorskip("wgpu")
    body = f"{SIGNATURE} {{ return vec4<f32>(0.0, 1.0, 0.0, 1.0); }}\n"
    r, _ = renderer(tmp_path, body)
    assert (r.render_rgba(0) == [0, 255, 0, 255]).all()
    # The verdict is cached by text: a second layer with the same shader starts no child.
    monkeypatch.setattr(shadercheck, "_child_command", child_running("import sys; sys.exit(1)"))
    r, _ = renderer(tmp_path, body, "again.wgsl")
    assert (r.render_rgba(0) == [0, 255, 0, 255]).all()


def test_compile_errors_still_name_the_users_line(tmp_path, fresh_verdicts):
    pytest.importorskip("wgpu")
    with pytest.raises(SceneError) as info:
        renderer(tmp_path, f"{SIGNATURE} {{\n    let a = 1.0;\n    return nope;\n}}\n", "broken.wgsl")
    assert str(info.value).startswith(f"{tmp_path / 'broken.wgsl'}:3:")


def test_cli_exits_with_one_error_line_not_a_crash(tmp_path):
    """In a separate process, as a user runs it: exit 2 and one line, where it was exit 139."""
    pytest.importorskip("wgpu")
    from media import write_song

    (tmp_path / "evil.wgsl").write_text(DEEP_PARENS)
    scene = tmp_path / "scene.toml"
    scene.write_text('[[layers]]\ntype = "shader"\nfile = "evil.wgsl"\n')
    song = write_song(tmp_path / "song.wav")
    out = tmp_path / "still.png"
    result = subprocess.run(
        [sys.executable, "-m", "gpurender", "still", str(scene), "--audio", str(song), "-o", str(out),
         "--resolution", "32x32", "--quiet"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "evil.wgsl:" in lines[0], lines
    assert "nests brackets" in lines[0] and not out.exists()
