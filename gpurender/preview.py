"""The live preview page: a small web page that shows a render's latest frame and progress.

:class:`Preview` holds what the page shows (phase, frames done, fps, ETA, a chunked job's chunks
and workers, an error) and serves it while the work runs, from the standard library's
``ThreadingHTTPServer`` in a daemon thread, on loopback unless told otherwise. It serves three
things and nothing else: the page at ``/``, the latest frame at ``/frame.jpg`` and the state at
``/progress.json``; any other path is a 404, and no file is ever read from disk for a request.

It must not slow the render. The render thread only hands over a reference to a frame it has
already read back (the arrays the encoder gets own their memory and are never written again) and
only a few times a second (:data:`SAMPLE_INTERVAL_S`); nothing is converted unless someone looks:
a request for ``/frame.jpg`` turns the newest sample into a small JPEG on the server's thread,
once per sample however many viewers ask. A :class:`gpurender.progress.Progress` built with
``preview=`` forwards its events here; :func:`gpurender.output.render_to_file` hands it frames
and, for a chunked job, the job directory whose manifest holds the chunk states.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import ipaddress
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

#: The render thread keeps at most one frame per this many seconds for the page.
SAMPLE_INTERVAL_S = 0.25
#: The page's JPEG is at most this wide (frames are shrunk by a whole factor to fit).
MAX_WIDTH = 960
JPEG_QUALITY = 80

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

# BT.709 luma coefficients, limited range (see gpurender.render.convert, which writes the frames).
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB


# -- frames to JPEG -------------------------------------------------------------------------------


def _step(width: int, max_width: int) -> int:
    return max(1, -(-width // max_width))


def frame_to_rgb(data, fmt: str, width: int, height: int, max_width: int = MAX_WIDTH) -> np.ndarray:
    """An ``[h, w, 3]`` uint8 picture of one frame as the encoder gets it, shrunk by a whole
    factor to at most ``max_width`` wide. ``fmt``: ``yuv420p``, ``yuv420p10le``, ``p010le``
    (BT.709 limited range, see :mod:`gpurender.render.convert`), ``rgba`` or ``rgb``."""
    k = _step(width, max_width)
    arr = np.asarray(data)
    if fmt in ("rgba", "rgb"):
        channels = 4 if fmt == "rgba" else 3
        pixels = arr.reshape(height, width, channels)
        return np.ascontiguousarray(pixels[::k, ::k, :3])
    n = width * height
    if fmt == "yuv420p":
        flat = arr.reshape(-1).view(np.uint8)
        y = flat[:n].reshape(height, width)
        u = flat[n:n + n // 4].reshape(height // 2, width // 2)
        v = flat[n + n // 4:n + n // 2].reshape(height // 2, width // 2)
        scale = 1.0
    elif fmt == "yuv420p10le":
        flat = arr.reshape(-1).view("<u2")
        y = flat[:n].reshape(height, width)
        u = flat[n:n + n // 4].reshape(height // 2, width // 2)
        v = flat[n + n // 4:n + n // 2].reshape(height // 2, width // 2)
        scale = 0.25
    elif fmt == "p010le":
        flat = arr.reshape(-1).view("<u2")
        y = flat[:n].reshape(height, width)
        uv = flat[n:n + n // 2].reshape(height // 2, width)
        u, v = uv[:, 0::2], uv[:, 1::2]
        scale = 1.0 / 256.0
    else:
        raise ValueError(f"no preview for frames of format {fmt!r}")
    ys = y[::k, ::k]
    if k % 2 == 0:  # the chroma planes are half size: a plain stride
        us, vs = u[::k // 2, ::k // 2], v[::k // 2, ::k // 2]
    else:
        rows, cols = np.arange(0, height, k) // 2, np.arange(0, width, k) // 2
        us, vs = u[np.ix_(rows, cols)], v[np.ix_(rows, cols)]
    # Limited-range codes to 0..255 R'G'B' (plus 0.5, so the final truncation rounds), in place
    # on as few arrays as possible: this runs on the server thread beside the render.
    ky, kc = scale * 255.0 / 219.0, scale * 255.0 / 224.0
    luma = ys.astype(np.float32)
    luma *= ky
    luma -= 16.0 * 255.0 / 219.0 - 0.5
    cb = us.astype(np.float32)
    cb *= kc
    cb -= 128.0 * 255.0 / 224.0
    cr = vs.astype(np.float32)
    cr *= kc
    cr -= 128.0 * 255.0 / 224.0
    out = np.empty(ys.shape + (3,), np.float32)
    np.multiply(cr, 2.0 * (1.0 - _KR), out=out[..., 0])
    out[..., 0] += luma
    np.multiply(cb, 2.0 * (1.0 - _KB), out=out[..., 2])
    out[..., 2] += luma
    cr *= -2.0 * (1.0 - _KR) * _KR / _KG
    cb *= -2.0 * (1.0 - _KB) * _KB / _KG
    np.add(luma, cr, out=out[..., 1])
    out[..., 1] += cb
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8)


def rgb_to_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _segment_frame(path) -> np.ndarray | None:
    """The first frame of a finished chunk's segment (a keyframe), for farms whose frames are
    drawn in other processes; None if it cannot be read (e.g. removed after the join)."""
    try:
        import av

        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                rgb = frame.to_ndarray(format="rgb24")
                h, w = rgb.shape[:2]
                return frame_to_rgb(rgb, "rgb", w, h)
    except Exception:  # noqa: BLE001 - the page just keeps its last frame
        return None
    return None


# -- what the page shows --------------------------------------------------------------------------


class Preview:
    """The state of one piece of work as the page shows it, and the server that shows it.

    Use as a context manager (or :meth:`start` / :meth:`close`): the server runs from ``start``
    until ``close``. ``host`` is where it listens (loopback by default), ``port`` 0 takes a free
    port; :attr:`url` is the page's address.
    """

    def __init__(self, title: str = "gpurender", host: str = "127.0.0.1", port: int = 0,
                 sample_interval: float = SAMPLE_INTERVAL_S):
        self.title = title
        self.host = host
        self.port = port
        self.sample_interval = sample_interval
        self._lock = threading.Lock()
        self._convert_lock = threading.Lock()
        self._started = time.monotonic()
        self._state = {"phase": "preparing", "done": None, "total": None, "fps": None, "eta_s": None,
                       "message": "", "error": None, "finished": False}
        self._notes: list[str] = []
        self._sample = None  # (seq, frame index, data, fmt, width, height)
        self._sampled_at = -1e9
        self._seq = 0
        self._jpeg = (None, b"")  # (seq, bytes)
        self._last_index = None
        self._job = None
        self._job_local = True
        self._segment_seen = None
        self._server = None
        self._thread = None

    # -- fed by the work (any thread; never raises into the render) --

    def event(self, event) -> None:
        """Take a :class:`gpurender.progress.ProgressEvent`."""
        with self._lock:
            state = self._state
            state["phase"] = event.phase
            if event.kind == "phase":
                state["message"] = event.message
                if event.total is not None:
                    state.update(done=event.done, total=event.total, fps=None, eta_s=None)
                if event.phase == "complete":
                    state["finished"] = True
            elif event.kind == "frames":
                state.update(done=event.done, total=event.total, fps=event.fps, eta_s=event.eta_s)
            elif event.kind == "info":
                self._notes = (self._notes + [event.message])[-8:]

    def offer_frame(self, index: int, data, fmt: str, width: int, height: int) -> None:
        """A frame the encoder is about to get; kept (by reference) at most once per
        ``sample_interval``. ``data`` must not be written to afterwards."""
        self._last_index = index
        now = time.monotonic()
        if now - self._sampled_at < self.sample_interval:
            return
        self._sampled_at = now
        with self._lock:
            self._seq += 1
            self._sample = (self._seq, index, data, fmt, width, height)

    def show_image(self, rgb: np.ndarray, label: str = "") -> None:
        """Show a picture (``[h, w, 3|4]`` uint8) instead of a render's frame (``gpurender watch``)."""
        h, w = rgb.shape[:2]
        with self._lock:
            self._seq += 1
            self._sample = (self._seq, None, rgb, "rgba" if rgb.shape[2] == 4 else "rgb", w, h)
            if label:
                self._state["message"] = label

    def note(self, message: str) -> None:
        """A line for the page's notes (the newest few are shown)."""
        with self._lock:
            self._notes = (self._notes + [message])[-8:]

    def set_fields(self, **fields) -> None:
        """Set fields of ``/progress.json`` directly (``gpurender watch``: ``phase``, ``renders``)."""
        with self._lock:
            self._state.update(fields)

    def set_error(self, message: str | None) -> None:
        """Show ``message`` on the page (None clears it); the last frame stays below it."""
        with self._lock:
            self._state["error"] = message

    def watch_job(self, job, local: bool = True) -> None:
        """Show the chunks of ``job`` (a :class:`gpurender.farm.JobDir`) from its manifest;
        ``local``: its chunks are drawn in this process (their frames reach :meth:`offer_frame`)."""
        with self._lock:
            self._job = job
            self._job_local = local

    # -- read by the server --

    def snapshot(self) -> dict:
        """What ``/progress.json`` returns."""
        with self._lock:
            state = dict(self._state)
            sample = self._sample
            job = self._job
            notes = list(self._notes)
        state["elapsed_s"] = round(time.monotonic() - self._started, 3)
        state["title"] = self.title
        state["notes"] = notes
        state["frame"] = None if sample is None else {"seq": sample[0], "index": sample[1]}
        for key in ("fps", "eta_s"):
            if state[key] is not None:
                state[key] = round(float(state[key]), 3)
        state["chunks"], state["workers"] = self._chunks(job) if job is not None else (None, None)
        if sample is None and job is not None and state["chunks"]:
            seg = self._newest_segment(job)
            if seg is not None:
                state["frame"] = {"seq": f"segment-{seg[0]}", "index": seg[1]}
        return state

    def _chunks(self, job):
        records = list(job.manifest.chunks)
        try:
            elsewhere = job.in_flight()  # workers in other processes write their counts to files
        except Exception:  # noqa: BLE001
            elsewhere = {}
        last = self._last_index
        chunks, hosts = [], {}
        for r in records:
            frames_done = r.count if r.state == "done" else None
            if r.state == "running":
                frames_done = elsewhere.get(r.index)
                if frames_done is None and self._job_local and last is not None and r.first <= last < r.first + r.count:
                    frames_done = last - r.first + 1
            chunks.append({"index": r.index, "first": r.first, "count": r.count, "state": r.state,
                           "frames_done": frames_done, "host": r.host, "encoder": r.encoder,
                           "seconds": r.seconds, "attempts": r.attempts, "error": r.error})
            if r.state == "done" and r.host:
                w = hosts.setdefault(r.host, {"name": r.host, "state": "idle", "chunks_done": 0, "seconds": 0.0})
                w["chunks_done"] += 1
                w["seconds"] = round(w["seconds"] + r.seconds, 3)
        running = [c["index"] for c in chunks if c["state"] == "running"]
        if self._job_local:
            me = hosts.setdefault(socket.gethostname(), {"name": socket.gethostname(), "state": "idle",
                                                         "chunks_done": 0, "seconds": 0.0})
            if running:
                me["state"] = f"rendering chunk {running[0]}"
        elif running:
            hosts["(cluster)"] = {"name": "(cluster)", "state": f"{len(running)} chunk(s) in flight",
                                  "chunks_done": 0, "seconds": 0.0}
        return chunks, list(hosts.values())

    def _newest_segment(self, job):
        done = [r for r in job.manifest.chunks if r.state == "done" and r.segment]
        if not done:
            return None
        newest = max(done, key=lambda r: r.first)
        return newest.index, newest.first, job.segment_path(newest)

    def jpeg(self) -> bytes | None:
        """The newest frame as a JPEG (converted here, once per sample), or None before the first."""
        with self._lock:
            sample = self._sample
            job = self._job
        if sample is None:
            seg = self._newest_segment(job) if job is not None else None
            if seg is None:
                return None
            key = f"segment-{seg[0]}"
            with self._convert_lock:
                if self._jpeg[0] != key:
                    rgb = _segment_frame(seg[2])
                    if rgb is None:
                        return self._jpeg[1] or None
                    self._jpeg = (key, rgb_to_jpeg(rgb))
                return self._jpeg[1]
        seq, _index, data, fmt, width, height = sample
        with self._convert_lock:
            if self._jpeg[0] != seq:
                self._jpeg = (seq, rgb_to_jpeg(frame_to_rgb(data, fmt, width, height)))
            return self._jpeg[1]

    # -- the server --

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def start(self) -> "Preview":
        server_class = _Server6 if ":" in self.host else _Server
        try:
            self._server = server_class((self.host, self.port), _Handler)
        except OSError as exc:
            from .errors import GpurenderError

            raise GpurenderError(f"the preview page cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); "
                                 "give another --preview-host or --preview-port") from None
        self._server.preview = self
        self._server.loopback_only = _is_loopback(self.host)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="gpurender-preview", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: the port is closed when this returns."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start() if self._server is None else self

    def __exit__(self, *exc):
        self.close()


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # a port given with --preview-port that is taken is refused, not shared
    preview: Preview
    loopback_only: bool

    def handle_error(self, request, client_address):
        pass  # a viewer that went away mid-answer is no news for the render's stderr


class _Server6(_Server):
    address_family = socket.AF_INET6


# -- the page -------------------------------------------------------------------------------------

_STYLE = """
body{background:#111;color:#ddd;font:14px/1.4 system-ui,sans-serif;margin:1.5em}
h1{font-size:16px;font-weight:600;margin:0 0 .5em}
#progress{font-family:ui-monospace,monospace;margin:.3em 0}
#bar{height:6px;background:#333;max-width:960px}#fill{height:6px;width:0;background:#4a9}
#error{white-space:pre-wrap;background:#401;color:#fbb;border:1px solid #a33;padding:.6em;margin:.6em 0;
font-family:ui-monospace,monospace;max-width:960px}
img{display:block;max-width:100%;margin:.6em 0;background:#000}
table{border-collapse:collapse;font-family:ui-monospace,monospace;font-size:12px}
td,th{padding:1px 8px;text-align:right}th{color:#999;font-weight:normal}
.done{color:#6c6}.running{color:#fc6}.failed{color:#f66}.pending{color:#888}
#notes{color:#999;font-size:12px;white-space:pre-wrap}
"""

_SCRIPT = """
const $ = (id) => document.getElementById(id);
const img = $("frame");
let shown = null, loading = false;
img.addEventListener("load", () => { loading = false; img.hidden = false;
  img.dataset.loaded = img.naturalWidth + "x" + img.naturalHeight; });
img.addEventListener("error", () => { loading = false; });
function clock(s) { s = Math.max(0, Math.round(s)); const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const ss = String(s % 60).padStart(2, "0"), mm = String(m).padStart(2, "0");
  return h ? h + ":" + mm + ":" + ss : mm + ":" + ss; }
function line(p) {
  let t = p.phase;
  if (p.total) t += "  " + p.done + "/" + p.total + " frames (" + (100 * p.done / p.total).toFixed(1) + "%)";
  else if (p.done) t += "  " + p.done + " frames";
  if (p.fps) t += "  " + p.fps.toFixed(1) + " fps";
  if (p.eta_s !== null && p.eta_s !== undefined && p.phase === "rendering") t += "  ETA " + clock(p.eta_s);
  if (p.message) t += "  \\u2014 " + p.message;
  return t;
}
function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls; tr.appendChild(td); }
function chunks(p) {
  const table = $("chunks"); table.replaceChildren();
  if (!p.chunks) { table.hidden = true; return; }
  table.hidden = false;
  const head = document.createElement("tr");
  for (const h of ["chunk", "frames", "state", "done", "host", "seconds", "note"]) {
    const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
  table.appendChild(head);
  for (const c of p.chunks) {
    const tr = document.createElement("tr"); tr.dataset.state = c.state;
    cell(tr, c.index); cell(tr, c.first + "-" + (c.first + c.count - 1)); cell(tr, c.state, c.state);
    cell(tr, c.frames_done === null ? "" : c.frames_done + "/" + c.count); cell(tr, c.host || "");
    cell(tr, c.state === "done" ? c.seconds.toFixed(1) : ""); cell(tr, c.error || "");
    table.appendChild(tr);
  }
  $("workers").textContent = (p.workers || []).map((w) => w.name + ": " + w.state +
    (w.chunks_done ? ", " + w.chunks_done + " chunks done" : "")).join("  |  ");
}
async function tick() {
  let p;
  try { const r = await fetch("/progress.json", {cache: "no-store"}); p = await r.json(); }
  catch (e) { $("progress").textContent = "the work has ended (the preview server stopped)";
    document.body.dataset.ended = "1"; return; }
  $("progress").textContent = line(p);
  $("fill").style.width = p.total ? (100 * p.done / p.total) + "%" : (p.finished ? "100%" : "0");
  $("notes").textContent = (p.notes || []).join("\\n");
  const err = $("error"); err.hidden = !p.error; err.textContent = p.error || "";
  chunks(p);
  if (p.frame && p.frame.seq !== shown && !loading) {
    shown = p.frame.seq; loading = true; img.src = "/frame.jpg?seq=" + encodeURIComponent(shown); }
  setTimeout(tick, 500);
}
tick();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


_CSP = (f"default-src 'none'; img-src 'self'; connect-src 'self'; style-src {_csp_hash(_STYLE)}; "
        f"script-src {_csp_hash(_SCRIPT)}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def page(title: str, first_line: str) -> str:
    """The page's HTML (the progress line starts as ``first_line``; the script keeps it current)."""
    t = html.escape(title)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{t} - gpurender preview</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n<h1>{t}</h1>\n"
            f'<div id="progress">{html.escape(first_line)}</div>\n<div id="bar"><div id="fill"></div></div>\n'
            f'<div id="error" hidden></div>\n<img id="frame" alt="the latest frame" hidden>\n'
            f'<div id="workers"></div>\n<table id="chunks" hidden></table>\n<div id="notes"></div>\n'
            f"<script>{_SCRIPT}</script>\n</body></html>\n")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "gpurender-preview"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - requests are not logged to the render's stderr
        pass

    def _send(self, status: int, body: bytes, content_type: str, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _host_allowed(self) -> bool:
        """On loopback, only requests addressed to a loopback name: a web page elsewhere that
        re-points its own name at 127.0.0.1 (DNS rebinding) cannot read the preview."""
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            name = host[1:].split("]", 1)[0]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return name in _LOOPBACK_NAMES or _is_loopback(name)

    def do_GET(self, head: bool = False):  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not self._host_allowed():
            self._send(403, b"the preview answers only to its loopback address\n", "text/plain; charset=utf-8", head)
            return
        preview = self.server.preview
        if path == "/":
            snap = preview.snapshot()
            first = snap["phase"] + (f"  {snap['done']}/{snap['total']} frames" if snap["total"] else "")
            self._send(200, page(preview.title, first).encode("utf-8"), "text/html; charset=utf-8", head)
        elif path == "/progress.json":
            body = json.dumps(preview.snapshot(), default=str).encode("utf-8")
            self._send(200, body, "application/json", head)
        elif path == "/frame.jpg":
            data = preview.jpeg()
            if data is None:
                self._send(404, b"no frame yet\n", "text/plain; charset=utf-8", head)
            else:
                self._send(200, data, "image/jpeg", head)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8", head)

    def do_HEAD(self):  # noqa: N802
        self.do_GET(head=True)

    def _refuse(self):
        self._send(405, b"method not allowed\n", "text/plain; charset=utf-8")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse


# -- frames from a render -------------------------------------------------------------------------


class _TappedSource:
    """A frame source whose frames are also offered to a preview (a reference, no copy)."""

    def __init__(self, source, preview: Preview):
        self._source = source
        self._preview = preview

    def __getattr__(self, name):
        return getattr(self._source, name)

    def frames(self, first, count, output="yuv420p", ring_depth=3):
        inner = self._source.frames(first, count, output=output, ring_depth=ring_depth)
        offer, width, height = self._preview.offer_frame, self._source.width, self._source.height
        try:
            for index, data in inner:
                offer(index, data, output, width, height)
                yield index, data
        finally:
            inner.close()

    def finish(self):
        return self._source.finish()


class TappedRecipe:
    """A source recipe whose sources, when built in this process, show their frames on a
    preview; workers in other processes get the plain recipe (see :mod:`gpurender.output`)."""

    def __init__(self, recipe, preview: Preview):
        self.recipe = recipe
        self.preview = preview

    def build(self):
        return _TappedSource(self.recipe.build(), self.preview)

    def for_workers(self, job):
        return self.recipe.for_workers(job)

    def digests(self) -> dict:
        return self.recipe.digests()


@contextlib.contextmanager
def serving(title: str = "gpurender", host: str = "127.0.0.1", port: int = 0, announce=None):
    """A started :class:`Preview` for the duration of the block; ``announce(url)`` is called once
    it listens (the CLI prints the address on stderr)."""
    preview = Preview(title, host, port).start()
    try:
        if announce is not None:
            announce(preview.url)
        yield preview
    finally:
        preview.close()
