"""Chooses the video encoder and its options for a set of encode settings.

Every encoder gpurender drives is one :class:`EncoderProfile` in :data:`PROFILES`: its codec, the
pixel formats it is fed (8-bit, 10-bit, with alpha), the options of each quality preset in the
encoder's own constant-quality control, its lossless options and its closed-GOP options. Everything
else (the CLI's choices, ``gpurender doctor``'s list, the NVENC/CPU maps) is derived from that table.

Given frozen :class:`EncodeSettings`, :func:`choose_encoder` picks one FFmpeg encoder (NVENC when an
NVIDIA encoder actually opens, else the CPU encoder for the codec) and returns an
:class:`EncoderChoice` whose notice says what was picked, why, and what it produces. NVENC is probed
by opening a tiny encoder once per process and pixel format; ``probe_encoders`` reports the same
probes for ``gpurender doctor``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping

from ..errors import EncodeError, choices, one_line
from .formats import ALPHA_KEEPERS, BIT_DEPTHS, CODEC_NAMES, CODECS, FORMATS, QUALITIES, check_pair, default_codec, \
    keeps_alpha

ENCODER_MODES = ("auto", "gpu", "cpu")

#: What the GPU colour conversion hands the encoder (gpurender.render.convert); anything else is
#: made from RGBA frames on the encoder's thread.
GPU_INPUTS = ("yuv420p", "yuv420p10le", "p010le")
#: Pixel formats that hold R'G'B' rather than Y'CbCr (tagged RGB, full range).
RGB_PIX_FMTS = ("rgb24", "rgba", "bgr0", "bgra", "gbrp")

#: In words, for notices.
PIX_FMT_WORDS = {
    "yuv420p": "8-bit 4:2:0", "yuv420p10le": "10-bit 4:2:0", "p010le": "10-bit 4:2:0 (P010)",
    "yuv422p10le": "10-bit 4:2:2", "yuva444p10le": "10-bit 4:4:4 with alpha", "yuva420p": "8-bit 4:2:0 with alpha",
    "bgr0": "8-bit RGB", "bgra": "8-bit RGBA", "rgb24": "8-bit RGB", "rgba": "8-bit RGBA",
}

#: ProRes profiles of prores_ks by number: the QuickTime codec tag and the name decoders report.
PRORES_PROFILES = (("apco", "Proxy"), ("apcs", "LT"), ("apcn", "Standard"), ("apch", "HQ"), ("ap4h", "4444"),
                   ("ap4x", "XQ"))


@dataclass(frozen=True)
class EncoderProfile:
    """One FFmpeg encoder as gpurender uses it.

    Option values may name ``{gop}`` (filled with the keyframe interval). ``params`` names the
    encoder's own ``key=value:key=value`` option (``x264-params`` ...), whose values from the
    several option groups are joined rather than replaced.
    """

    name: str
    codec: str
    pix_fmt: str  # 8-bit frames
    pix_fmt_10: str | None = None  # 10-bit frames; None: no 10-bit mode
    pix_fmt_alpha: str | None = None  # frames with alpha; None: the codec carries no alpha
    options: Mapping[str, str] = field(default_factory=dict)  # always
    quality: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # per preset of QUALITIES
    lossless: Mapping[str, str] | None = None  # None: no lossless mode
    always_lossless: bool = False  # FFV1, PNG: every preset is lossless
    keyframes: Mapping[str, str] = field(default_factory=dict)  # a closed GOP of {gop} frames
    alpha: Mapping[str, str] = field(default_factory=dict)  # with alpha
    params: str | None = None
    hardware: bool = False

    @property
    def rgb(self) -> bool:
        """Fed R'G'B' (the rendered RGBA itself), not Y'CbCr."""
        return self.pix_fmt in RGB_PIX_FMTS

    def refusal(self, s: "EncodeSettings") -> str:
        """Why this encoder cannot take ``s`` ("" when it can)."""
        if s.alpha and self.pix_fmt_alpha is None:
            return f"{self.name} carries no alpha"
        if s.bit_depth == 10 and self.pix_fmt_10 is None:
            return f"{self.name} has no 10-bit mode"
        if s.lossless and self.lossless is None and not self.always_lossless:
            return f"{self.name} has no lossless mode"
        return ""

    def pix_fmt_for(self, s: "EncodeSettings") -> str:
        if s.alpha:
            return self.pix_fmt_alpha
        return self.pix_fmt_10 if s.bit_depth == 10 else self.pix_fmt

    def input_format(self, s: "EncodeSettings") -> str:
        """What the frame source should hand this encoder: a GPU conversion output, or RGBA."""
        pix = self.pix_fmt_for(s)
        if s.alpha or self.rgb:
            return "rgba"
        if pix in GPU_INPUTS:
            return pix
        # ProRes 4:2:2 is made from the converted 4:2:0 frames on the encoder's thread.
        return "yuv420p10le" if s.bit_depth == 10 else "yuv420p"

    def options_for(self, s: "EncodeSettings") -> dict[str, str]:
        groups = [self.options]
        if s.lossless and self.lossless is not None:
            groups.append(self.lossless)
        elif not self.always_lossless:
            groups.append(self.quality.get(s.quality, {}))
        if s.alpha:
            groups.append(self.alpha)
        if s.gop:
            groups.append({k: v.format(gop=s.gop) for k, v in self.keyframes.items()})
        opts: dict[str, str] = {}
        for group in groups:
            for key, value in group.items():
                if key == self.params and opts.get(key):
                    opts[key] = f"{opts[key]}:{value}"
                else:
                    opts[key] = value
        return opts


def _presets(key: str, values) -> dict[str, dict[str, str]]:
    return {q: {key: str(v)} for q, v in zip(QUALITIES, values)}


# Constant-quality settings per quality preset (high, medium, low), in each encoder's own scale,
# tuned so that a preset gives about the same PSNR in every codec: benchmarks/bench_quality.py
# (1080p torus_spectrum, Y-PSNR against the lossless render) put x264 CRF 18/23/28 at 40.3/36.3/32.7
# dB, and the values here within 0.4 dB of those (results/quality-*.json). x264 is the reference.
# The scales differ a lot: VP9 and SVT-AV1 need CRF 34 for what x264 gives at 18 (VP9's old "high",
# CRF 24 capped at 2 Mb/s, gave 28.5 dB there; the same CRF uncapped 45 dB at 1.5x x264's bitrate).
X264_CRF = (18, 23, 28)
X265_CRF = (21, 25, 30)
SVTAV1_CRF = (34, 42, 51)
VP9_CRF = (34, 42, 50)
NVENC_CQ = {"h264_nvenc": (19, 24, 29), "hevc_nvenc": (21, 26, 31), "av1_nvenc": (28, 34, 40)}
PRORES_PROFILE = (3, 2, 1)  # HQ, Standard, LT
PRORES_4444 = 4

_X26X_GOP = "keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0"
_NVENC_GOP = {"g": "{gop}", "no-scenecut": "1", "strict_gop": "1", "forced-idr": "1"}


def _nvenc(name: str, codec: str, lossless: bool) -> EncoderProfile:
    return EncoderProfile(
        name, codec, "yuv420p", pix_fmt_10="p010le", options={"preset": "p5"},
        quality={q: {"tune": "hq", "rc": "vbr", "cq": str(cq), "b": "0"} for q, cq in zip(QUALITIES, NVENC_CQ[name])},
        lossless={"tune": "lossless"} if lossless else None, keyframes=_NVENC_GOP, hardware=True,
    )


#: Every encoder gpurender uses, by FFmpeg name: GPU encoders first (the order ``doctor`` lists).
PROFILES: dict[str, EncoderProfile] = {p.name: p for p in (
    _nvenc("h264_nvenc", "h264", lossless=True),
    _nvenc("hevc_nvenc", "hevc", lossless=True),
    _nvenc("av1_nvenc", "av1", lossless=False),
    # CRF holds the quality; the preset only trades file size for speed. On 2 CPU cores "medium"
    # cost 56 ms per 720p frame and "veryfast" 24 ms (same CRF 18, demo content, files within 10%),
    # and renders there are encoder-bound, so speed wins. qp 0 on the 4:2:0 planes is bit-exact
    # (x264 switches to High 4:4:4 Predictive).
    EncoderProfile("libx264", "h264", "yuv420p", pix_fmt_10="yuv420p10le", options={"preset": "veryfast"},
                   quality=_presets("crf", X264_CRF), lossless={"qp": "0"},
                   keyframes={"g": "{gop}", "x264-params": _X26X_GOP}, params="x264-params"),
    EncoderProfile("libx265", "hevc", "yuv420p", pix_fmt_10="yuv420p10le",
                   options={"preset": "fast", "x265-params": "log-level=error"},
                   quality=_presets("crf", X265_CRF), lossless={"x265-params": "lossless=1"},
                   keyframes={"g": "{gop}", "x265-params": _X26X_GOP}, params="x265-params"),
    # irefresh-type 2: every keyframe is a closed-GOP key frame; scd 0: no scene-change keyframes.
    EncoderProfile("libsvtav1", "av1", "yuv420p", pix_fmt_10="yuv420p10le", options={"preset": "8"},
                   quality=_presets("crf", SVTAV1_CRF), lossless={"svtav1-params": "lossless=1"},
                   keyframes={"g": "{gop}", "svtav1-params": "irefresh-type=2:scd=0"}, params="svtav1-params"),
    # b 0 with a CRF is libvpx's constant-quality mode (a bitrate would cap quality at every size).
    # VP9 profile 2 (10-bit) is declared; whether this build's libvpx has it is checked when asked.
    EncoderProfile("libvpx-vp9", "vp9", "yuv420p", pix_fmt_10="yuv420p10le", pix_fmt_alpha="yuva420p",
                   options={"deadline": "good", "cpu-used": "4", "row-mt": "1", "b": "0"},
                   quality=_presets("crf", VP9_CRF), lossless={"lossless": "1"},
                   keyframes={"g": "{gop}", "keyint_min": "{gop}"}),
    # ProRes is 10-bit whatever is asked; 4444 (yuva444p10le, tagged ap4h) when it carries alpha.
    # vendor apl0 is what Apple's own encoder writes; some players check it.
    EncoderProfile("prores_ks", "prores", "yuv422p10le", pix_fmt_10="yuv422p10le", pix_fmt_alpha="yuva444p10le",
                   options={"vendor": "apl0"}, quality=_presets("profile", PRORES_PROFILE),
                   alpha={"profile": str(PRORES_4444)}),
    # The RGB-exact archive: FFV1 (level 3, checksummed slices) on the rendered R'G'B' itself.
    EncoderProfile("ffv1", "ffv1", "bgr0", pix_fmt_alpha="bgra", options={"level": "3", "slicecrc": "1"},
                   always_lossless=True, keyframes={"g": "{gop}"}),
    EncoderProfile("png", "png", "rgb24", pix_fmt_alpha="rgba", always_lossless=True),
)}

#: codec -> (NVIDIA encoder or None, CPU encoder)
ENCODERS: dict[str, tuple[str | None, str]] = {}
for _p in PROFILES.values():
    _gpu, _cpu = ENCODERS.get(_p.codec, (None, None))
    ENCODERS[_p.codec] = (_p.name, _cpu) if _p.hardware else (_gpu, _p.name)
NVENC = {codec: gpu for codec, (gpu, _) in ENCODERS.items() if gpu}
CPU_ENCODER = {codec: cpu for codec, (_, cpu) in ENCODERS.items()}
# What `gpurender doctor` lists, GPU encoders first.
PROBED = tuple(PROFILES)


@dataclass(frozen=True)
class EncodeSettings:
    """What the encode stage needs to know; built once and handed down."""

    width: int
    height: int
    fps: int | Fraction  # exact: 30, or Fraction(30000, 1001)
    format: str = "mp4"
    codec: str | None = None  # None: the format's default codec
    encoder: str = "auto"  # auto | gpu | cpu
    quality: str = "high"
    lossless: bool = False
    alpha: bool = False  # transparent background: VP9 alpha, ProRes 4444, FFV1 or PNG RGBA (formats.ALPHA)
    gop: int | None = None  # keyframe interval; closed GOPs when set (chunk segments)
    threads: int = 0  # 0: let the encoder decide
    bit_depth: int = 8  # 10: 10-bit 4:2:0 (HEVC Main 10, AV1, H.264 High 10); ProRes is 10-bit always

    def __post_init__(self):
        if self.format not in FORMATS:
            raise EncodeError(f"format {self.format!r} is not known; use one of {choices(FORMATS)}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, Fraction)) or self.fps <= 0:
            raise EncodeError(f"fps {self.fps!r} is not valid; use a positive whole number such as 30, 60 or 120, "
                              "or an exact Fraction such as Fraction(30000, 1001)")
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
        if self.bit_depth not in BIT_DEPTHS:
            raise EncodeError(f"bit depth {self.bit_depth!r} is not valid; use 8 or 10")
        codec = self.resolved_codec
        check_pair(self.format, codec)
        name = CODEC_NAMES[codec]
        if self.alpha and not keeps_alpha(self.format, codec):
            raise EncodeError(
                f"a transparent background needs a codec and format that keep alpha: {ALPHA_KEEPERS}; "
                f"{codec} in {self.format} has no alpha"
            )
        cpu = self.profile
        if self.lossless and cpu.lossless is None and not cpu.always_lossless:
            raise EncodeError(f"{name} is not lossless; for --lossless use --codec h264, hevc, vp9 or av1, "
                              f"or --codec ffv1 in .mkv for the exact RGB")
        if self.bit_depth == 10:
            if cpu.pix_fmt_10 is None:
                raise EncodeError(f"{name} here is 8-bit only; for --bit-depth 10 use --codec hevc or av1 "
                                  f"(or prores in .mov, 10-bit always)")
            missing = _missing_pix_fmt(cpu.name, cpu.pix_fmt_for(self))
            if missing:
                raise EncodeError(f"{name} in this build is 8-bit only ({missing}); for --bit-depth 10 use "
                                  f"--codec hevc or av1 (or prores in .mov)")

    @property
    def resolved_codec(self) -> str:
        """The codec actually used: the one asked for, or the format's default."""
        return self.codec if self.codec is not None else default_codec(self.format)

    @property
    def profile(self) -> EncoderProfile:
        """The CPU encoder's profile for this codec (the one every machine has)."""
        return PROFILES[ENCODERS[self.resolved_codec][1]]

    @property
    def input_format(self) -> str:
        """What frames the source should produce for the CPU encoder ("yuv420p", "yuv420p10le" or
        "rgba"); the writer converts them for whichever encoder it opens."""
        return self.profile.input_format(self)


@dataclass(frozen=True)
class EncoderChoice:
    """One FFmpeg encoder with its options, the pixel format it is fed, and a notice for people.

    ``input_format`` is what the frame source should hand the writer (``yuv420p``, ``yuv420p10le``
    or ``p010le`` from the GPU conversion, or ``rgba``); ``codec_tag`` a container tag to force
    (ProRes: the tag of its profile); ``output`` says in words what the stream holds.
    """

    name: str
    codec: str
    options: dict[str, str] = field(default_factory=dict)
    pix_fmt: str = "yuv420p"
    hardware: bool = False
    notice: str = ""
    input_format: str = "yuv420p"
    codec_tag: str | None = None
    output: str = ""


_probe_lock = threading.Lock()
_probe_cache: dict[tuple[str, str], tuple[bool, str]] = {}
_formats_cache: dict[str, tuple[str, ...] | None] = {}


def _quiet_env(name: str) -> None:
    # SVT-AV1 prints its whole configuration to stderr unless told otherwise (a user's value wins).
    if name == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")


def _pix_fmts(name: str) -> tuple[str, ...] | None:
    """The pixel formats this build's encoder ``name`` takes; None when it is not built in."""
    if name not in _formats_cache:
        import av

        try:
            codec = av.codec.Codec(name, "w")
            _formats_cache[name] = tuple(f.name for f in (codec.video_formats or ()))
        except Exception:
            _formats_cache[name] = None
    return _formats_cache[name]


def _missing_pix_fmt(name: str, pix_fmt: str) -> str:
    """Why encoder ``name`` of this build cannot take ``pix_fmt`` ("" when it can or is not built)."""
    formats = _pix_fmts(name)
    if formats and pix_fmt not in formats:
        return f"{name} takes {', '.join(f for f in formats if not f.startswith(('yuvj', 'nv')))}"
    return ""


def probe_encoder(name: str, pix_fmt: str | None = None) -> tuple[bool, str]:
    """Whether encoder ``name`` opens and encodes one small frame (of ``pix_fmt``, default its
    8-bit format) here; cached per process."""
    pix_fmt = pix_fmt or (PROFILES[name].pix_fmt if name in PROFILES else "yuv420p")
    with _probe_lock:
        if (name, pix_fmt) in _probe_cache:
            return _probe_cache[name, pix_fmt]
    result = _probe_uncached(name, pix_fmt)
    with _probe_lock:
        _probe_cache[name, pix_fmt] = result
    return result


def _probe_uncached(name: str, pix_fmt: str) -> tuple[bool, str]:
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
        ctx.pix_fmt = pix_fmt
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
        return False, one_line(exc, limit=160)
    return True, "opened"


def probe_encoders() -> list[tuple[str, bool, str]]:
    """``(encoder name, opens?, reason)`` for each video encoder gpurender can use."""
    return [(name, *probe_encoder(name)) for name in PROBED]


def describe_output(profile: EncoderProfile, s: EncodeSettings) -> str:
    """What a stream of ``profile`` under ``s`` holds, in words (named in the encoder notice)."""
    pix = profile.pix_fmt_for(s)
    words = PIX_FMT_WORDS.get(pix, pix)
    name = CODEC_NAMES[profile.codec]
    if profile.codec == "prores":
        number = int(profile.options_for(s)["profile"])
        tag, kind = PRORES_PROFILES[number]
        return f"ProRes {kind} ({pix}, {words}, tagged {tag})"
    if profile.rgb:
        return f"lossless {name} {'RGBA' if s.alpha else 'RGB'} ({pix}): the rendered {'RGBA' if s.alpha else 'RGB'} " \
               f"exactly"
    if s.lossless:
        return (f"lossless {name} ({pix}, {words} chroma): exact to the GPU's Y'CbCr conversion, not to the RGB "
                f"render; for RGB-exact archiving use --codec ffv1 in .mkv")
    control = ", ".join(f"{k} {v}" for k, v in profile.quality.get(s.quality, {}).items() if k in ("crf", "cq"))
    return f"{name} {s.quality} ({control}; {pix}, {words})" if control else f"{name} {s.quality} ({pix}, {words})"


def _choice(profile: EncoderProfile, s: EncodeSettings, why: str) -> EncoderChoice:
    options = profile.options_for(s)
    tag = PRORES_PROFILES[int(options["profile"])][0] if profile.codec == "prores" else None
    output = describe_output(profile, s)
    return EncoderChoice(profile.name, profile.codec, options, profile.pix_fmt_for(s), profile.hardware,
                         f"encoder: {profile.name} ({why}); {output}", profile.input_format(s), tag, output)


def choose_encoder(settings: EncodeSettings) -> EncoderChoice:
    """Pick the encoder for ``settings``: NVENC when asked for or available, else the CPU encoder.

    ``encoder="auto"`` tries the NVIDIA encoder for the codec and falls back to the CPU one;
    ``"gpu"`` raises :class:`EncodeError` when no NVIDIA encoder opens; ``"cpu"`` never uses NVENC.
    The choice carries a one-line ``notice`` naming what was picked, why, and what it produces.
    """
    codec = settings.resolved_codec
    gpu, cpu = ENCODERS[codec]
    if codec == "png":
        return _choice(PROFILES[cpu], settings, f"{'RGBA' if settings.alpha else 'RGB'} image sequence")

    why_not_gpu = ""
    if settings.encoder in ("auto", "gpu"):
        if gpu is None:
            why_not_gpu = f"no NVIDIA encoder exists for {codec}"
        else:
            profile = PROFILES[gpu]
            why_not_gpu = profile.refusal(settings)
            if not why_not_gpu:
                pix = profile.pix_fmt_for(settings)
                ok, reason = probe_encoder(gpu, pix)
                if ok:
                    return _choice(profile, settings, "NVIDIA GPU")
                why_not_gpu = f"{gpu} did not open{'' if pix == profile.pix_fmt else ' for ' + pix}: {reason}"
        if settings.encoder == "gpu":
            raise EncodeError(f"--encoder gpu needs an NVIDIA encoder, but {why_not_gpu}; use --encoder auto or cpu")
    why = "CPU, as asked" if settings.encoder == "cpu" else f"CPU; {why_not_gpu}"
    return _choice(PROFILES[cpu], settings, why)


__all__ = [
    "CODECS",
    "ENCODER_MODES",
    "PROFILES",
    "EncodeSettings",
    "EncoderChoice",
    "EncoderProfile",
    "choose_encoder",
    "probe_encoder",
    "probe_encoders",
]
