"""Write a point-cloud sequence to disk, then render it to a video with one call.

    python examples/pointcloud_sequence.py                      # torus.npz and torus.mp4 here
    python examples/pointcloud_sequence.py --out-dir /tmp/pc --frames 48 --points 200000 --resolution 1080p

Step 1 writes an animated torus (one .npz with points_0000, points_0001, ...), as a simulation or
a scanner would leave its frames. Step 2 opens it lazily (one frame in memory at a time), checks
every frame, fits the camera to the whole sequence and writes the video with a title overlay.
A third step shows the same export from a generator, which needs the bounds given up front.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import gpurender
from gpurender.pointcloud import example_sequence, open_sequence, write_sequence


def swirl(frames: int, points: int, seed: int = 0):
    """A generator of frames: particles spiralling inwards, coloured by their speed."""
    rng = np.random.default_rng(seed)
    radius = rng.uniform(0.2, 1.0, points)
    angle = rng.uniform(0.0, 2 * np.pi, points)
    height = rng.normal(0.0, 0.05, points)
    for i in range(frames):
        t = i / frames
        r = radius * (1.0 - 0.5 * t)
        a = angle + 2.0 * t / radius
        pts = np.stack([r * np.cos(a), height, r * np.sin(a)], axis=1)
        speed = np.clip(1.0 / radius / 5.0, 0.0, 1.0)
        colors = np.stack([speed, 0.4 * np.ones(points), 1.0 - speed], axis=1)
        yield {"points": pts, "colors": colors}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="write a point-cloud sequence and render it")
    parser.add_argument("--out-dir", default=".")
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--points", type=int, default=50000)
    parser.add_argument("--resolution", default="1280x720")
    parser.add_argument("--fps", type=int, default=12)
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # 1. a sequence on disk
    sequence_path = out / "torus.npz"
    write_sequence(example_sequence("torus", args.frames, args.points), sequence_path)

    # 2. from disk to video: checked, camera fitted to all frames, title on every frame;
    #    progress=True sends progress and a summary (frames, size, duration, encoder) to stderr
    gpurender.export_point_cloud_video(
        open_sequence(sequence_path), out / "torus.mp4", fps=args.fps, resolution=args.resolution,
        colormap="plasma", camera="orbit", progress=True,
    )

    # 3. frames produced lazily: a one-shot generator, so the bounds are given instead of measured
    gpurender.export_point_cloud_video(
        swirl(args.frames, args.points), out / "swirl.mp4", fps=args.fps, resolution=args.resolution,
        bounds=((-1, -0.3, -1), (1, 0.3, 1)), n_frames=args.frames, camera={"elevation": 45},
        title="swirl {i}/{n}: {points} particles", progress=True,
    )


if __name__ == "__main__":
    main()
