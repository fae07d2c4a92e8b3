"""Point-cloud sequences to video: one call from frames (in memory, lazy, or on disk) to a verified file.

:func:`export_point_cloud_video` is the whole job; :func:`open_sequence` reads sequences from
.npz archives and folders or globs of .ply/.npy/.csv files lazily; :func:`example_sequence` makes
animated sphere, torus and helix sequences to try it without data, and :func:`write_sequence`
saves any sequence to disk.
"""

from .export import DEFAULT_TITLE, PointCloudResult, export_point_cloud_video
from .files import open_sequence, read_point_file, write_sequence
from .frames import PointFrame, check_frame
from .shapes import SEQUENCE_SHAPES, example_sequence

__all__ = [
    "DEFAULT_TITLE", "PointCloudResult", "PointFrame", "SEQUENCE_SHAPES", "check_frame", "example_sequence",
    "export_point_cloud_video", "open_sequence", "read_point_file", "write_sequence",
]
