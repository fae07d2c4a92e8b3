"""The encode stage: encoder profiles and choice, the encoder thread, the audio mux and segment joins.

Frames arrive as plain arrays (4:2:0 from the GPU converter, or RGBA) and leave as finished files:
:class:`VideoWriter` encodes a video-only file on its own thread, :func:`mux_audio` adds the
source audio trimmed to the rendered span, :func:`concat_segments` joins chunk segments by stream
copy. Every output is written under a temporary name and renamed only when complete. The tables
(formats, codecs, encoder profiles, :func:`alpha_plan`) import no media library or NumPy, so the
CLI and the settings load them cheaply; the writer and the mux load on first use.
"""

from .encoders import (
    ENCODER_MODES,
    PROFILES,
    EncodeSettings,
    EncoderChoice,
    EncoderProfile,
    choose_encoder,
    probe_encoder,
    probe_encoders,
)
from .formats import BIT_DEPTHS, CODECS, FORMATS, QUALITIES, alpha_plan, default_codec, format_from_path, keeps_alpha

_LAZY = {
    "AUDIO_CODECS": "mux",
    "concat_segments": "mux",
    "mux_audio": "mux",
    "INPUT_FORMATS": "writer",
    "VideoWriter": "writer",
    "png_target": "writer",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [
    "AUDIO_CODECS",
    "BIT_DEPTHS",
    "CODECS",
    "ENCODER_MODES",
    "FORMATS",
    "INPUT_FORMATS",
    "PROFILES",
    "QUALITIES",
    "EncodeSettings",
    "EncoderChoice",
    "EncoderProfile",
    "VideoWriter",
    "alpha_plan",
    "choose_encoder",
    "concat_segments",
    "default_codec",
    "format_from_path",
    "keeps_alpha",
    "mux_audio",
    "png_target",
    "probe_encoder",
    "probe_encoders",
]
