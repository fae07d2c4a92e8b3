"""Built-in point-cloud shapes, generated deterministically from a seed.

Each returns ``[n, 3]`` float32 points roughly within the unit ball, so a default camera frames
them.
"""

from __future__ import annotations

import numpy as np

from ..errors import SceneError, choices


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def sphere(n: int, seed: int = 0) -> np.ndarray:
    # Fibonacci lattice: even coverage without clumps, independent of the seed.
    i = np.arange(n, dtype=np.float64) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / n)
    theta = np.pi * (1.0 + 5.0 ** 0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.cos(phi), np.sin(theta) * np.sin(phi)], 1).astype(np.float32)


def torus(n: int, seed: int = 0, major: float = 0.75, minor: float = 0.28) -> np.ndarray:
    rng = _rng(seed)
    u = rng.uniform(0, 2 * np.pi, n)
    v = rng.uniform(0, 2 * np.pi, n)
    x = (major + minor * np.cos(v)) * np.cos(u)
    z = (major + minor * np.cos(v)) * np.sin(u)
    y = minor * np.sin(v)
    return np.stack([x, y, z], 1).astype(np.float32)


def helix(n: int, seed: int = 0, turns: float = 4.0, radius: float = 0.6, strands: int = 2) -> np.ndarray:
    rng = _rng(seed)
    t = np.linspace(0.0, 1.0, n)
    strand = np.arange(n) % strands
    angle = 2 * np.pi * turns * t + strand * (2 * np.pi / strands)
    jitter = rng.normal(0.0, 0.02, (n, 3))
    pts = np.stack([radius * np.cos(angle), 1.8 * t - 0.9, radius * np.sin(angle)], 1) + jitter
    return pts.astype(np.float32)


def cube(n: int, seed: int = 0) -> np.ndarray:
    rng = _rng(seed)
    pts = rng.uniform(-1.0, 1.0, (n, 3))
    face = rng.integers(0, 3, n)
    side = rng.choice([-1.0, 1.0], n)
    pts[np.arange(n), face] = side  # points on the surface
    return (pts * 0.6).astype(np.float32)


def galaxy(n: int, seed: int = 0, arms: int = 3) -> np.ndarray:
    # An exponential disc: radius r with density r * exp(-r / h) (a gamma of shape 2), so the
    # surface density falls off smoothly from a finite centre. Radii past the edge are drawn again
    # rather than clipped (clipping stacked them into a hard ring at the edge), and the thickness is
    # a flattened bulge that thins outwards (a spread that grew towards r = 0, where most points
    # were, piled them into a vertical streak through the core).
    rng = _rng(seed)
    edge, h = 1.15, 0.2
    r = rng.gamma(2.0, h, n)
    while (far := r > edge).any():
        r[far] = rng.gamma(2.0, h, int(far.sum()))
    arm = rng.integers(0, arms, n)
    # The arms wind outwards; near the centre the scatter widens into a round core.
    scatter = 0.22 + 0.5 * np.exp(-r / 0.12)
    angle = arm * 2 * np.pi / arms + r * 4.0 + rng.normal(0, 1, n) * scatter
    y = rng.normal(0, 1, n) * (0.012 + 0.05 * np.exp(-(r / 0.18) ** 2))
    return np.stack([r * np.cos(angle), y, r * np.sin(angle)], 1).astype(np.float32)


def random(n: int, seed: int = 0) -> np.ndarray:
    return _rng(seed).uniform(-1.0, 1.0, (n, 3)).astype(np.float32)


SHAPES = {"sphere": sphere, "torus": torus, "helix": helix, "cube": cube, "galaxy": galaxy, "random": random}


def make_shape(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Points of a built-in shape; SceneError listing the valid names for an unknown one."""
    if name not in SHAPES:
        raise SceneError(f"unknown shape {name!r}; valid: {choices(SHAPES)}")
    if n < 1:
        raise SceneError(f"shape {name!r}: count must be at least 1, got {n}")
    return SHAPES[name](int(n), seed=seed)
