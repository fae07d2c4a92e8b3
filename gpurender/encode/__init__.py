"""The encode stage: encoder choice, the encoder thread, the audio mux and segment joins.

Frames arrive as plain arrays (I420 from the GPU converter, or RGBA) and leave as finished files:
:class:`VideoWriter` encodes a video-only file on its own thread, :func:`mux_audio` adds the
source audio trimmed to the rendered span, :func:`concat_segments` joins chunk segments by stream
copy. Every output is written under a temporary name and renamed only when complete.
"""

from .encoders import (
    ENCODER_MODES,
    EncodeSettings,
    EncoderChoice,
    choose_encoder,
    probe_encoder,
    probe_encoders,
)
from .formats import CODECS, FORMATS, QUALITIES, default_codec, format_from_path
from .mux import AUDIO_CODECS, concat_segments, mux_audio
from .writer import INPUT_FORMATS, VideoWriter, png_target

__all__ = [
    "AUDIO_CODECS",
    "CODECS",
    "ENCODER_MODES",
    "FORMATS",
    "INPUT_FORMATS",
    "QUALITIES",
    "EncodeSettings",
    "EncoderChoice",
    "VideoWriter",
    "choose_encoder",
    "concat_segments",
    "default_codec",
    "format_from_path",
    "mux_audio",
    "png_target",
    "probe_encoder",
    "probe_encoders",
]
