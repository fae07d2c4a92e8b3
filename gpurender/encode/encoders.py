"""Chooses the video encoder and its options for a set of encode settings.

Given frozen :class:`EncodeSettings`, this module picks one FFmpeg encoder (NVENC when an NVIDIA
encoder actually opens, else the CPU encoder for the codec), maps the quality preset onto that
encoder's own constant-quality control, and sets lossless, alpha and keyframe-interval options.
NVENC is probed by opening a tiny encoder once per process; ``probe_encoders`` reports the same
probes for ``gpurender doctor``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import EncodeError, choices
from .formats import CODECS, FORMATS, QUALITIES, check_pair, default_codec

ENCODER_MODES = ("auto", "gpu", "cpu")

NVENC = {"h264": "h264_nvenc", "hevc": "hevc_nvenc", "av1": "av1_nvenc"}
CPU_ENCODER = {
    "h264": "libx264",
    "hevc": "libx265",
    "av1": "libsvtav1",
    "vp9": "libvpx-vp9",
    "prores": "prores_ks",
    "png": "png",
}
# What `gpurender doctor` lists, GPU encoders first.
PROBED = ("h264_nvenc", "hevc_nvenc", "av1_nvenc", "libx264", "libx265", "libsvtav1", "libvpx-vp9", "prores_ks", "png")

# Constant-quality settings per quality preset (high, medium, low), in each encoder's own scale.
X264_CRF = (18, 23, 28)
X265_CRF = (22, 27, 32)  # x265's CRF scale sits about 4-5 above x264's for similar quality
SVTAV1_CRF = (28, 35, 42)
VP9_CRF = (24, 31, 37)
VP9_MAX_BITRATE = ("2M", "1M", "500k")  # constrained quality: CRF, capped at this bitrate
NVENC_CQ = {"h264_nvenc": (19, 24, 29), "hevc_nvenc": (21, 26, 31), "av1_nvenc": (28, 34, 40)}
PRORES_PROFILE = ("3", "2", "1")  # HQ, standard, LT
PRORES_4444 = "4"


@dataclass(frozen=True)
class EncodeSettings:
    """What the encode stage needs to know; built once and handed down."""

    width: int
    height: int
    fps: int
    format: str = "mp4"
    codec: str | None = None  # None: the format's default codec
    encoder: str = "auto"  # auto | gpu | cpu
    quality: str = "high"
    lossless: bool = False
    alpha: bool = False  # transparent background: ProRes 4444 in mov/mkv, RGBA PNG
    gop: int | None = None  # keyframe interval; closed GOPs when set (chunk segments)
    threads: int = 0  # 0: let the encoder decide

    def __post_init__(self):
        if self.format not in FORMATS:
            raise EncodeError(f"format {self.format!r} is not known; use one of {choices(FORMATS)}")
        if not isinstance(self.fps, int) or isinstance(self.fps, bool) or self.fps <= 0:
            raise EncodeError(f"fps {self.fps!r} is not valid; use a positive whole number such as 30, 60 or 120")
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 2:
                raise EncodeError(f"{name} {value!r} is not valid; give a whole number of pixels of at least 2")
            # 4:2:0 chroma needs even sizes; an RGB(A) PNG does not
            if self.format != "png" and value % 2:
                raise EncodeError(f"{name} {value} is odd; video frames need even width and height")
        if self.encoder not in ENCODER_MODES:
            raise EncodeError(f"encoder {self.encoder!r} is not valid; use one of {', '.join(ENCODER_MODES)}")
        if self.quality not in QUALITIES:
            raise EncodeError(f"quality {self.quality!r} is not valid; use one of {', '.join(QUALITIES)}")
        if self.gop is not None and (not isinstance(self.gop, int) or self.gop < 1):
            raise EncodeError(f"keyframe interval {self.gop!r} is not valid; give a whole number of frames >= 1")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise EncodeError(f"threads {self.threads!r} is not valid; give 0 (automatic) or a positive number")
        codec = self.resolved_codec
        check_pair(self.format, codec)
        if self.alpha and codec not in ("prores", "png"):
            raise EncodeError(
                f"a transparent background needs --format mov --codec prores (ProRes 4444) or --format png; "
                f"{codec} in {self.format} has no alpha"
            )
        if self.lossless and codec == "prores":
            raise EncodeError("ProRes is not lossless; for --lossless use --codec h264, hevc, vp9 or av1")

    @property
    def resolved_codec(self) -> str:
        """The codec actually used: the one asked for, or the format's default."""
        return self.codec if self.codec is not None else default_codec(self.format)


@dataclass(frozen=True)
class EncoderChoice:
    """One FFmpeg encoder with its options, the pixel format it is fed, and a notice for people."""

    name: str
    codec: str
    options: dict[str, str] = field(default_factory=dict)
    pix_fmt: str = "yuv420p"
    hardware: bool = False
    notice: str = ""


_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[bool, str]] = {}


def _quiet_env(name: str) -> None:
    # SVT-AV1 prints its whole configuration to stderr unless told otherwise (a user's value wins).
    if name == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")


def _probe_pix_fmt(name: str) -> str:
    if name.startswith("prores"):
        return "yuv422p10le"
    if name == "png":
        return "rgb24"
    return "yuv420p"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def probe_encoder(name: str) -> tuple[bool, str]:
    """Whether encoder ``name`` opens and encodes one small frame here; cached per process."""
    with _probe_lock:
        if name in _probe_cache:
            return _probe_cache[name]
    result = _probe_uncached(name)
    with _probe_lock:
        _probe_cache[name] = result
    return result


def _probe_uncached(name: str) -> tuple[bool, str]:
    import av

    try:
        codec = av.codec.Codec(name, "w")
    except Exception:
        return False, f"not built into this FFmpeg (PyAV {av.__version__})"
    _quiet_env(name)
    try:
        ctx = av.CodecContext.create(codec)
        # NVENC refuses very small frames; 256x144 opens everywhere
        ctx.width, ctx.height = 256, 144
        ctx.pix_fmt = _probe_pix_fmt(name)
        ctx.time_base = Fraction(1, 30)
        ctx.framerate = Fraction(30, 1)
        if name == "libx265":
            ctx.options = {"x265-params": "log-level=error"}
        ctx.open()
        frame = av.VideoFrame(256, 144, ctx.pix_fmt)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = 0
        ctx.encode(frame)
        ctx.encode(None)
    except Exception as exc:
        return False, _short(exc)
    return True, "opened"


def probe_encoders() -> list[tuple[str, bool, str]]:
    """``(encoder name, opens?, reason)`` for each video encoder gpurender can use."""
    return [(name, *probe_encoder(name)) for name in PROBED]


def choose_encoder(settings: EncodeSettings) -> EncoderChoice:
    """Pick the encoder for ``settings``: NVENC when asked for or available, else the CPU encoder.

    ``encoder="auto"`` tries the NVIDIA encoder for the codec and falls back to the CPU one;
    ``"gpu"`` raises :class:`EncodeError` when no NVIDIA encoder opens; ``"cpu"`` never uses NVENC.
    The choice carries a one-line ``notice`` naming what was picked and why.
    """
    codec = settings.resolved_codec
    if codec == "png":
        pix = "rgba" if settings.alpha else "rgb24"
        return EncoderChoice(
            "png", "png", {}, pix, False, f"encoder: png ({'RGBA' if settings.alpha else 'RGB'} image sequence)"
        )

    why_not_gpu = ""
    if settings.encoder in ("auto", "gpu"):
        nv = NVENC.get(codec)
        if nv is None:
            why_not_gpu = f"no NVIDIA encoder exists for {codec}"
        elif settings.lossless and nv == "av1_nvenc":
            why_not_gpu = "av1_nvenc has no lossless mode"
        else:
            ok, reason = probe_encoder(nv)
            if ok:
                return EncoderChoice(
                    nv, codec, _nvenc_options(nv, settings), "yuv420p", True, f"encoder: {nv} (NVIDIA GPU)"
                )
            why_not_gpu = f"{nv} did not open: {reason}"
        if settings.encoder == "gpu":
            raise EncodeError(f"--encoder gpu needs an NVIDIA encoder, but {why_not_gpu}; use --encoder auto or cpu")

    name = CPU_ENCODER[codec]
    options, pix_fmt = _cpu_options(name, settings)
    if settings.encoder == "cpu":
        notice = f"encoder: {name} (CPU, as asked)"
    else:
        notice = f"encoder: {name} (CPU; {why_not_gpu})"
    return EncoderChoice(name, codec, options, pix_fmt, False, notice)


def _cpu_options(name: str, s: EncodeSettings) -> tuple[dict[str, str], str]:
    q = QUALITIES.index(s.quality)
    gop = s.gop
    opts: dict[str, str] = {}
    pix_fmt = "yuv420p"
    if name == "libx264":
        # CRF holds the quality; the preset only trades file size for speed. On 2 CPU cores
        # "medium" cost 56 ms per 720p frame and "veryfast" 24 ms (same CRF 18, demo content,
        # files within 10%), and renders there are encoder-bound, so speed wins.
        opts["preset"] = "veryfast"
        if s.lossless:
            # qp 0 on the same 4:2:0 planes: x264 switches to High 4:4:4 Predictive, bit-exact
            opts["qp"] = "0"
        else:
            opts["crf"] = str(X264_CRF[q])
        if gop:
            opts["g"] = str(gop)
            opts["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0"
    elif name == "libx265":
        opts["preset"] = "fast"
        params = ["log-level=error"]
        if s.lossless:
            params.append("lossless=1")
        else:
            opts["crf"] = str(X265_CRF[q])
        if gop:
            opts["g"] = str(gop)
            params.append(f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0")
        opts["x265-params"] = ":".join(params)
    elif name == "libsvtav1":
        opts["preset"] = "8"
        params = []
        if s.lossless:
            params.append("lossless=1")
        else:
            opts["crf"] = str(SVTAV1_CRF[q])
        if gop:
            opts["g"] = str(gop)
            # irefresh-type 2: every keyframe is a closed-GOP key frame; no scene-change keyframes
            params.append("irefresh-type=2:scd=0")
        if params:
            opts["svtav1-params"] = ":".join(params)
    elif name == "libvpx-vp9":
        opts.update({"deadline": "good", "cpu-used": "4", "row-mt": "1"})
        if s.lossless:
            opts["lossless"] = "1"
        else:
            opts["crf"] = str(VP9_CRF[q])
            opts["b"] = VP9_MAX_BITRATE[q]
        if gop:
            opts["g"] = str(gop)
            opts["keyint_min"] = str(gop)
    elif name == "prores_ks":
        if s.alpha:
            opts["profile"] = PRORES_4444
            pix_fmt = "yuva444p10le"
        else:
            opts["profile"] = PRORES_PROFILE[q]
            pix_fmt = "yuv422p10le"
        opts["vendor"] = "apl0"  # what Apple's own encoder writes; some players check it
    else:  # pragma: no cover - the table above covers every CPU encoder
        raise EncodeError(f"no options known for encoder {name}")
    return opts, pix_fmt


def _nvenc_options(name: str, s: EncodeSettings) -> dict[str, str]:
    opts = {"preset": "p5"}
    if s.lossless:
        opts["tune"] = "lossless"
    else:
        opts.update({"tune": "hq", "rc": "vbr", "cq": str(NVENC_CQ[name][QUALITIES.index(s.quality)]), "b": "0"})
    if s.gop:
        opts.update({"g": str(s.gop), "no-scenecut": "1", "strict_gop": "1", "forced-idr": "1"})
    return opts


__all__ = [
    "CODECS",
    "ENCODER_MODES",
    "EncodeSettings",
    "EncoderChoice",
    "choose_encoder",
    "probe_encoder",
    "probe_encoders",
]
