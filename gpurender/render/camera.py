"""Camera matrices: an orbit around a target, as a function of time and bound parameters only.

Matrices are float32 numpy arrays in the usual row-major maths layout; :func:`to_wgsl` gives the
column-major bytes WGSL's ``mat4x4<f32>`` expects. Clip-space depth is WebGPU's 0..1.
"""

from __future__ import annotations

import math

import numpy as np


def perspective(fov_deg: float, aspect: float, near: float = 0.05, far: float = 100.0) -> np.ndarray:
    f = 1.0 / math.tan(math.radians(fov_deg) / 2.0)
    m = np.zeros((4, 4), dtype=np.float64)
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = far / (near - far)
    m[2, 3] = near * far / (near - far)
    m[3, 2] = -1.0
    return m


def _cross(a, b) -> np.ndarray:
    # np.cross handles any shape and costs ~50x this for one pair of 3-vectors (it ran every frame)
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target - eye
    forward /= math.sqrt(forward @ forward)
    side = _cross(forward, up)
    if math.sqrt(side @ side) < 1e-9:  # looking straight up or down
        side = _cross(forward, (0.0, 0.0, 1.0))
    side /= math.sqrt(side @ side)
    true_up = _cross(side, forward)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = side, true_up, -forward
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def rotation_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = c, s, -s, c
    return m


def scaling(s: float) -> np.ndarray:
    m = np.eye(4)
    m[0, 0] = m[1, 1] = m[2, 2] = s
    return m


def orbit_view_proj(distance, elevation, azimuth, fov, target, aspect) -> np.ndarray:
    """Projection times view for a camera at ``distance`` from ``target`` (angles in degrees)."""
    el, az = math.radians(elevation), math.radians(azimuth)
    t = np.asarray(target, dtype=np.float64)
    eye = t + distance * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    return perspective(fov, aspect) @ look_at(eye, t)


def to_wgsl(m: np.ndarray) -> np.ndarray:
    """Column-major float32 copy for a WGSL mat4x4<f32>."""
    return np.ascontiguousarray(np.asarray(m, dtype=np.float32).T)
