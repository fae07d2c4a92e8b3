"""gpurender: offline, frame-exact rendering of audio and point clouds to video on the GPU."""

__version__ = "0.1.0"

from .errors import GpurenderError  # noqa: E402
from .settings import RenderSettings  # noqa: E402


def __getattr__(name):
    # Keep `import gpurender` light: stages with heavy imports load on first use.
    lazy = {
        "render_video": ("pipeline", "render_video"),
        "render_still": ("pipeline", "render_still"),
        "render_batch": ("batch", "render_batch"),
        "load_scene": ("scene", "load_scene"),
        "scene_from_dict": ("scene", "scene_from_dict"),
        "analyze": ("audio", "analyze"),
        "analyze_file": ("audio", "analyze_file"),
        "load_audio": ("audio", "load_audio"),
        "demo_track": ("audio", "demo_track"),
        "export_point_cloud_video": ("pointcloud", "export_point_cloud_video"),
    }
    if name in lazy:
        import importlib

        module, attr = lazy[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(name)


__all__ = ["GpurenderError", "RenderSettings", "__version__", "analyze", "analyze_file", "demo_track",
           "export_point_cloud_video", "load_audio", "load_scene", "render_batch", "render_still", "render_video",
           "scene_from_dict"]
