"""The audio stage: decode a track and compute every video frame's features before rendering.

Decoding (:func:`load_audio`), a built-in synthesized track (:func:`demo_track`), the
frame-exact batched analysis (:func:`analyze`, on NumPy or CuPy) and its result
(:class:`Features`, with ``save_npz`` and :func:`plot_features`). Frame ``i`` at ``fps`` is
analysed from the ``fft_size`` samples ending at sample ``round(i * sample_rate / fps)``.
:data:`FEATURES` (:func:`feature_names`) is the one list of the scalar features a binding may follow.
"""

from .analysis import NAMED_BANDS, analyze, analyze_file, band_edges
from .backend import cupy_status
from .decode import AudioData, load_audio
from .features import FEATURES, Features, FeatureSpec, UnknownFeatureError, feature_names
from .framing import default_frame_count, fps_fraction, frame_end_samples
from .plot import plot_features
from .settings import AnalysisSettings, AnalysisSettingsError
from .synth import demo_track

__all__ = [
    "AnalysisSettings",
    "AnalysisSettingsError",
    "AudioData",
    "FEATURES",
    "FeatureSpec",
    "Features",
    "NAMED_BANDS",
    "UnknownFeatureError",
    "analyze",
    "analyze_file",
    "band_edges",
    "cupy_status",
    "default_frame_count",
    "demo_track",
    "feature_names",
    "fps_fraction",
    "frame_end_samples",
    "load_audio",
    "plot_features",
]
