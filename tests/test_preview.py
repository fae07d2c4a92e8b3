"""The live preview page: its endpoints during a render and gone after, nothing else served, loopback
by default, chunk states of a chunked render, ``gpurender watch`` re-rendering and showing errors,
and (where Chromium is installed) the page in a real headless browser."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner

import gpurender
from gpurender.cli import main
from gpurender.farm import JobOptions
from gpurender.preview import Preview, frame_to_rgb
from gpurender.progress import Progress

SMALL = gpurender.RenderSettings(width=128, height=96, fps=10)  # 2 s song: 20 frames


def get(url, headers=None):
    """``(status, content type, body)`` of a GET, errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def progress_json(url):
    status, kind, body = get(url + "progress.json")
    assert status == 200 and kind == "application/json"
    return json.loads(body)


def jpeg_size(body):
    from PIL import Image

    img = Image.open(io.BytesIO(body))
    assert img.format == "JPEG"
    return img.size


def assert_gone(url):
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "progress.json", timeout=5)


class AtFrame:
    """A progress callback that runs ``action`` once, when ``done`` frames are rendered."""

    def __init__(self, done, action):
        self.done, self.action, self.ran = done, action, False

    def __call__(self, event):
        if event.kind == "frames" and event.done == self.done and not self.ran:
            self.ran = True
            self.action()


# -- without a GPU --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["yuv420p", "yuv420p10le", "p010le"])
def test_frames_become_the_colours_the_encoder_gets(layout):
    from gpurender.render.convert import rgb_to_yuv420_cpu

    h, w = 48, 64
    rgb = np.zeros((h, w, 3))
    rgb[:, :32] = (1.0, 0.5, 0.0)
    rgb[:, 32:] = (0.1, 0.2, 0.9)
    frame = np.round(rgb_to_yuv420_cpu(rgb, layout)).astype(np.uint8 if layout == "yuv420p" else np.uint16)
    out = frame_to_rgb(frame.view(np.uint8), layout, w, h)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert np.abs(out[:, :30].astype(int) - (255, 128, 0)).max() <= 3
    assert np.abs(out[:, 34:].astype(int) - (26, 51, 230)).max() <= 3
    big = frame_to_rgb(np.zeros(1920 * 1080 * 3 // 2, np.uint8), "yuv420p", 1920, 1080)
    assert big.shape == (540, 960, 3)  # shrunk by a whole factor to fit the page


def test_only_the_three_paths_are_served_on_loopback():
    with Preview("t") as page:
        url = page.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        assert page._server.server_address[0] == "127.0.0.1"
        status, kind, body = get(url)
        assert status == 200 and kind.startswith("text/html") and b'id="frame"' in body
        assert get(url + "frame.jpg")[0] == 404  # nothing rendered yet
        for path in ("index.html", "frame.jpg/x", "../etc/passwd", "%2e%2e/etc/passwd", "tests/", "preview.py",
                     "progress.json/", "static/", "favicon.ico", "/etc/passwd"):
            assert get(url + path)[0] == 404, path
        assert get(url, headers={"Host": "attacker.example:80"})[0] == 403  # DNS rebinding
        assert get(url + "progress.json", headers={"Host": f"localhost:{page.port}"})[0] == 200
        request = urllib.request.Request(url + "progress.json", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=5)
        assert err.value.code == 405
    assert_gone(url)


def test_a_taken_port_is_one_error_line(tmp_path, small_scene, song):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["render", str(small_scene), "-a", str(song), "-o", str(tmp_path / "x.mp4"),
                                           "--preview-port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: the preview page cannot listen on 127.0.0.1:{port}")
    assert not (tmp_path / "x.mp4").exists()


def test_a_viewer_that_hangs_up_is_not_reported(capfd):
    import socket

    with Preview("t") as page:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", page.port)) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)  # the handler threads meet the reset meanwhile
        assert get(page.url)[0] == 200
    assert capfd.readouterr().err == ""


# -- with the (software) adapter ------------------------------------------------------------------


def test_the_page_during_a_render_and_gone_after(tmp_path, small_scene, song, device):
    seen = {}

    def look():
        seen["json"] = progress_json(page.url)
        seen["jpeg"] = get(page.url + "frame.jpg")
        seen["html"] = get(page.url)[2].decode()

    with Preview("render a.mp4", sample_interval=0) as page:
        url = page.url
        result = gpurender.render_video(small_scene, song, tmp_path / "a.mp4", SMALL,
                                        progress=Progress(quiet=True, callback=AtFrame(8, look), preview=page))
    p = seen["json"]
    assert p["phase"] == "rendering" and p["done"] == 8 and p["total"] == result.frames == 20
    assert p["fps"] > 0 and p["eta_s"] >= 0 and p["frame"]["index"] == 7 and p["chunks"] is None
    status, kind, body = seen["jpeg"]
    assert status == 200 and kind == "image/jpeg" and jpeg_size(body) == (128, 96)
    assert "render a.mp4" in seen["html"] and "8/20 frames" in seen["html"]
    assert_gone(url)


def test_a_chunked_render_shows_its_chunks(tmp_path, small_scene, song, device):
    seen = {}
    with Preview("chunks", sample_interval=0) as page:
        gpurender.render_video(small_scene, song, tmp_path / "c.mp4", SMALL, job=JobOptions(chunk_frames=5),
                               progress=Progress(quiet=True, preview=page,
                                                 callback=AtFrame(7, lambda: seen.update(p=progress_json(page.url)))))
    p = seen["p"]
    assert p["done"] == 7 and p["total"] == 20
    states = [(c["index"], c["first"], c["count"], c["state"], c["frames_done"]) for c in p["chunks"]]
    assert states == [(0, 0, 5, "done", 5), (1, 5, 5, "running", 2), (2, 10, 5, "pending", None),
                      (3, 15, 5, "pending", None)]
    assert p["chunks"][0]["encoder"] and p["chunks"][0]["host"]
    [worker] = p["workers"]
    assert worker["state"] == "rendering chunk 1" and worker["chunks_done"] == 1


def test_a_farm_drawing_elsewhere_shows_its_newest_segment(tmp_path, small_scene, song, device):
    from gpurender.farm.local import LocalExecutor

    class Elsewhere(LocalExecutor):
        """Renders in this process from the recipe made for workers, as Ray's workers do."""

        name = "elsewhere"

        def prepare(self, job, recipe):
            self.recipe = recipe.for_workers(job)

    seen = {}

    def look():
        seen["p"] = progress_json(page.url)
        seen["jpeg"] = get(page.url + "frame.jpg")

    with Preview("farm") as page:
        gpurender.render_video(small_scene, song, tmp_path / "f.mp4", SMALL,
                               job=JobOptions(chunk_frames=5, farm=Elsewhere()),
                               progress=Progress(quiet=True, preview=page, callback=AtFrame(12, look)))
    p = seen["p"]
    assert [c["state"] for c in p["chunks"]] == ["done", "done", "running", "pending"]
    assert p["frame"] == {"seq": "segment-1", "index": 5}  # no live frames: the newest finished chunk's first
    assert seen["jpeg"][0] == 200 and jpeg_size(seen["jpeg"][2]) == (128, 96)
    assert {"name": "(cluster)", "state": "1 chunk(s) in flight", "chunks_done": 0, "seconds": 0.0} in p["workers"]


def test_points_cli_serves_the_page_and_prints_its_address(tmp_path, monkeypatch, device):
    from gpurender.pointcloud import example_sequence, write_sequence

    seq = tmp_path / "seq.npz"
    write_sequence(example_sequence("torus", 12, 500), str(seq), None)
    seen = {}
    event = Preview.event

    def spy(self, ev):
        event(self, ev)
        if ev.kind == "frames" and ev.phase == "rendering" and ev.done == 6 and "p" not in seen:
            seen["url"] = self.url
            seen["p"] = progress_json(self.url)
            seen["jpeg"] = get(self.url + "frame.jpg")

    monkeypatch.setattr(Preview, "event", spy)
    result = CliRunner().invoke(main, ["points", str(seq), "-o", str(tmp_path / "p.mp4"), "-r", "160x120",
                                       "--fps", "12", "--preview", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"preview: {seen['url']}" in result.stderr
    assert re.search(r"preview: http://127\.0\.0\.1:\d+/\n", result.stderr)
    assert seen["p"]["done"] == 6 and seen["p"]["total"] == 12
    assert seen["jpeg"][0] == 200 and jpeg_size(seen["jpeg"][2]) == (160, 120)
    assert_gone(seen["url"])


def test_batch_cli_serves_one_page_for_all_its_songs(tmp_path, small_scene, monkeypatch, device):
    batch = pytest.importorskip("gpurender.cli.batch", reason="gpurender batch is not here yet")
    if not any(p.name == "preview" for p in batch.batch.params):
        pytest.skip("gpurender batch has no --preview yet")
    from media import write_song

    songs = [write_song(tmp_path / f"song{i}.wav", seconds=1.0) for i in (1, 2)]
    seen = []
    event = Preview.event

    def spy(self, ev):
        event(self, ev)
        if ev.kind == "frames" and ev.phase == "rendering" and ev.done == 4:
            seen.append((self.url, progress_json(self.url), get(self.url + "frame.jpg")[0]))

    monkeypatch.setattr(Preview, "event", spy)
    result = CliRunner().invoke(main, ["batch", str(small_scene), *map(str, songs), "-o", str(tmp_path / "out"),
                                       "-r", "128x96", "--fps", "10", "--preview", "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(seen) == 2 and seen[0][0] == seen[1][0]  # one page for the whole batch
    url = seen[0][0]
    assert f"preview: {url}" in result.stderr
    assert all(p["done"] == 4 and p["total"] == 10 and status == 200 for _, p, status in seen)
    assert any("song2" in note for note in seen[1][1]["notes"])
    assert_gone(url)


SHADER = """fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {
    return vec4<f32>(uv.x, COLOUR, 0.2, 1.0);
}
"""


def _wait_for(url, check, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = progress_json(url)
        if check(last):
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last state: {last}")


def test_watch_renders_again_after_edits_and_shows_errors(tmp_path, song, device):
    from gpurender.watch import watch_scene

    shader = tmp_path / "look.wgsl"
    shader.write_text(SHADER.replace("COLOUR", "0.5"))
    scene = tmp_path / "scene.toml"
    good = f'background = "#000000"\n[[layers]]\ntype = "shader"\nfile = "{shader.name}"\n'
    scene.write_text(good)
    stop = threading.Event()
    lines = []
    with Preview("watch") as page:
        url = page.url
        worker = threading.Thread(target=watch_scene, args=(scene, song, page, SMALL),
                                  kwargs={"poll_s": 0.05, "stop": stop, "report": lines.append, "max_renders": 10})
        worker.start()
        try:
            p = _wait_for(url, lambda p: p.get("renders") == 1 and p["frame"], "the first picture")
            assert p["error"] is None and p["phase"] == "watching"
            first = get(url + "frame.jpg")[2]
            assert jpeg_size(first) == (128, 96)

            # a WGSL error: shown with the shader's file and line, the old picture kept
            shader.write_text(SHADER.replace("COLOUR", "undefined_name"))
            p = _wait_for(url, lambda p: p["error"], "the shader error")
            assert re.search(r"look\.wgsl:2\b", p["error"]), p["error"]
            assert p["frame"]["seq"] == 1 and get(url + "frame.jpg")[0] == 200

            # fixed: a new picture, the error gone
            shader.write_text(SHADER.replace("COLOUR", "0.9"))
            p = _wait_for(url, lambda p: p["error"] is None and p["frame"]["seq"] == 2, "the fixed picture")
            assert get(url + "frame.jpg")[2] != first

            # a scene mistake names the file, the layer and the key
            scene.write_text(good + "opacity = 7\n")
            p = _wait_for(url, lambda p: p["error"], "the scene error")
            assert "scene.toml" in p["error"] and "layer 1 (shader).opacity" in p["error"], p["error"]
            scene.write_text(good + "opacity = 0.5\n")
            p = _wait_for(url, lambda p: p["error"] is None and p["frame"]["seq"] == 3, "the scene fixed")
        finally:
            stop.set()
            worker.join(timeout=30)
    assert not worker.is_alive()
    assert sum(line.startswith("error:") for line in lines) == 2 and sum(line.startswith("rendered") for line in lines) == 3
    assert_gone(url)


# -- in a real browser ----------------------------------------------------------------------------

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def _chromium(url, tmp_path, *extra):
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={profile}", "--window-size=900,700", "--virtual-time-budget=4000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_page_in_a_headless_browser_shows_the_frame_and_the_progress(tmp_path, small_scene, song, device):
    seen = {}

    def browse():
        seen["dom"] = _chromium(page.url, tmp_path, "--dump-dom")
        seen["shot"] = _chromium(page.url, tmp_path, f"--screenshot={tmp_path / 'page.png'}")

    with Preview("render b.mp4", sample_interval=0) as page:
        gpurender.render_video(small_scene, song, tmp_path / "b.mp4", SMALL, job=JobOptions(chunk_frames=5),
                               progress=Progress(quiet=True, callback=AtFrame(12, browse), preview=page))
    dom = seen["dom"]
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the script fetched /progress.json and loaded /frame.jpg
    assert re.search(r'<img id="frame"[^>]*data-loaded="128x96"', dom.stdout), dom.stdout
    assert re.search(r'<div id="progress">rendering\s+12/20 frames \(60\.0%\)\s+[\d.]+ fps\s+ETA', dom.stdout), dom.stdout
    assert dom.stdout.count('data-state="done"') == 2 and 'data-state="running"' in dom.stdout
    from PIL import Image

    shot = np.asarray(Image.open(tmp_path / "page.png").convert("RGB"))
    assert shot.shape[:2] == (700, 900)
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 50  # a picture, not a blank page
