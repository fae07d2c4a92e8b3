"""The approach gpurender replaces: a matplotlib 3D scatter per frame, saved as PNG, glued by OpenCV.

Each frame is drawn with ``Axes3D.scatter`` (colours given, or viridis by height), saved to a PNG
file, read back with ``cv2.imread`` and appended to a ``cv2.VideoWriter`` with the ``mp4v`` codec,
as the scripts people use today do. Where OpenCV is not installed (the lent GPU machines have no
network to install it), the PNG is read with Pillow and the frames go to FFmpeg's ``mpeg4``
encoder through PyAV: the MPEG-4 Part 2 encoder OpenCV's ``mp4v`` uses through its FFmpeg
backend; the result says which writer ran. Used by ``bench_pointcloud.py``; runnable alone:

    pip install opencv-python-headless      # for the benchmark only (without it: PyAV's mpeg4 encoder)
    python benchmarks/baseline_matplotlib.py --points 10000 --frames 10 --resolution 640x480

It prints the frames per second and writes the video to a temporary folder (or ``--output``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def render_baseline(frames, output: str, width: int, height: int, fps: int, point_size: float = 3.0,
                    bounds=None, workdir: str | None = None) -> dict:
    """Render ``frames`` (dicts with ``points`` and optional ``colors``) the matplotlib + OpenCV way.

    ``bounds`` (lo, hi) fixes the axes for every frame (as gpurender's fitted camera does); the
    frames are iterated once. Returns frames, seconds and frames per second.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="black")
    writer = _open_writer(output, width, height, fps)
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="baseline-")
    # matplotlib's scatter size is in points^2; a point is dpi/72 pixels
    marker_area = (point_size * 72.0 / dpi) ** 2
    count = 0
    started = time.perf_counter()
    try:
        for index, frame in enumerate(frames):
            pts = np.asarray(frame["points"])
            colors = frame.get("colors")
            fig.clf()
            ax = fig.add_subplot(projection="3d", facecolor="black")
            ax.set_axis_off()
            if colors is not None:
                c = np.asarray(colors)
                c = c / 255.0 if c.dtype == np.uint8 else c
                ax.scatter(pts[:, 0], pts[:, 2], pts[:, 1], c=c, s=marker_area, depthshade=False, linewidths=0)
            else:
                ax.scatter(pts[:, 0], pts[:, 2], pts[:, 1], c=pts[:, 1], cmap="viridis", s=marker_area,
                           depthshade=False, linewidths=0)
            if bounds is not None:
                lo, hi = bounds
                ax.set_xlim(lo[0], hi[0])
                ax.set_ylim(lo[2], hi[2])
                ax.set_zlim(lo[1], hi[1])
            ax.set_title(f"Frame {index + 1} | {len(pts)} points", color="white")
            png = os.path.join(workdir, f"frame_{index:05d}.png")
            fig.savefig(png, dpi=dpi, facecolor="black")
            writer.write_png(png)
            count += 1
    finally:
        writer.release()
        plt.close(fig)
        if own_dir:
            for name in os.listdir(workdir):
                os.unlink(os.path.join(workdir, name))
            os.rmdir(workdir)
    seconds = time.perf_counter() - started
    return {"frames": count, "seconds": seconds, "fps": count / seconds if seconds > 0 else 0.0,
            "writer": writer.name}


class _OpenCVWriter:
    name = "OpenCV mp4v"

    def __init__(self, output: str, width: int, height: int, fps: int):
        import cv2

        self.cv2, self.size = cv2, (width, height)
        self.writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not self.writer.isOpened():
            raise RuntimeError(f"OpenCV could not open a mp4v writer for {output}")

    def write_png(self, png: str) -> None:
        image = self.cv2.imread(png)
        if image.shape[1::-1] != self.size:
            image = self.cv2.resize(image, self.size)
        self.writer.write(image)

    def release(self) -> None:
        self.writer.release()


class _PyAVWriter:
    name = "PyAV mpeg4 (OpenCV not installed)"

    def __init__(self, output: str, width: int, height: int, fps: int):
        import av

        self.size = (width, height)
        self.container = av.open(output, "w")
        self.stream = self.container.add_stream("mpeg4", rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"

    def write_png(self, png: str) -> None:
        import av
        from PIL import Image

        with Image.open(png) as im:
            image = im.convert("RGB")
        if image.size != self.size:
            image = image.resize(self.size)
        frame = av.VideoFrame.from_image(image)
        self.container.mux(self.stream.encode(frame))

    def release(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


def _open_writer(output: str, width: int, height: int, fps: int):
    try:
        import cv2  # noqa: F401
    except ImportError:
        return _PyAVWriter(output, width, height, fps)
    return _OpenCVWriter(output, width, height, fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--resolution", default="640x480")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--shape", default="sphere")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    from gpurender.pointcloud import example_sequence

    width, height = (int(v) for v in args.resolution.lower().split("x"))
    seq = example_sequence(args.shape, args.frames, args.points)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.output or os.path.join(tmp, "baseline.mp4")
        result = render_baseline(seq, out, width, height, args.fps)
    print(f"baseline (matplotlib + PNG + {result['writer']}): {result['frames']} frames of {args.points} points "
          f"at {width}x{height} in {result['seconds']:.2f} s = {result['fps']:.2f} frames/s")


if __name__ == "__main__":
    main()
