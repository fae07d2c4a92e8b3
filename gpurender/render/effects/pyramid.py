"""The mip chain behind bloom and blur: a blur of any width at a fixed cost.

The source is filtered down by halves (``fs_down`` in ``shaders/effect_pyramid.wgsl``, 13 bilinear
taps) to a level of a few pixels, then back up (``fs_up``, a cubic B-spline in 4 bilinear taps), each
level adding its own
image with a weight: ``u_k = w_k * d_k + up(u_{k+1})``; the last pass draws the target at full size,
``fine * source + coarse * up(u_1)``. Level ``k`` on its own is a blur of standard deviation
:func:`level_sigma` ``(k)``, about ``2**k`` pixels, so a set of weights over the levels is a
mixture of Gaussian-like blurs from about 2 pixels to about half the frame: bloom spreads its weight
over every level up to its radius (a bright core with a wide, soft halo), blur puts it on the two
levels around its radius so that the variances match (:func:`blur_weights`). The number of levels,
and so the passes and their cost, depend on the frame's size only, never on the radius: the passes
are ``2 * levels`` and cost about ``1/4 + 1/16 + ...`` of a full-size pass each way, plus the final
full-size pass.

Each level's variance, from the filters: a down pass adds ``1.75`` input texels² per axis (its taps
spread ``1.5``, the bilinear read ``0.25``), an up pass ``1/3`` coarse texel² (a cubic B-spline's, at
any offset). Down to level ``k`` and back, in full-size pixels: ``sum_j (1.75 * 4**(j-1) + 4**j / 3)
= 37/36 * (4**k - 1)``. A test measures it on the device. (A 3x3 tent going up costs 9 taps instead
of 4; a single bilinear tap to full size, 30% cheaper in all, shows the half-size level's blocks.)
"""

from __future__ import annotations

import math

import numpy as np

from ..shaderlib import load_wgsl, params_buffer
from ..structs import PYRAMID_STEP
from .kernels import (bind_group, bind_layout, draw_fullscreen, effect_texture, fullscreen_pipeline,
                      linear_sampler, PerView)

#: The coarsest level's shorter side is at least this many pixels.
SMALLEST = 2


def level_sizes(width: int, height: int) -> list[tuple[int, int]]:
    """Sizes of levels 1.. (each half the one before, rounded up) down to a few pixels."""
    count = max(int(math.floor(math.log2(max(min(width, height), 1)))) - 1, 1)
    sizes, w, h = [], width, height
    for _ in range(count):
        w, h = (w + 1) // 2, (h + 1) // 2
        sizes.append((w, h))
        if min(w, h) <= SMALLEST:
            break
    return sizes


def level_sigma(k) -> np.ndarray:
    """Standard deviation, in full-size pixels per axis, of the blur that level ``k`` stands for."""
    return np.sqrt(37.0 / 36.0 * (4.0 ** np.asarray(k, dtype=np.float64) - 1.0))


def blur_weights(sigma: float, levels: int) -> tuple[float, np.ndarray]:
    """``(source weight, weights of levels 1..levels)`` of a blur of standard deviation ``sigma`` pixels.

    The two levels around ``sigma`` (the source being level 0, of deviation 0) share the weight so
    that the mixture's variance is ``sigma**2``; past the coarsest level, that level alone.
    """
    sig = level_sigma(np.arange(levels + 1))
    w = np.zeros(levels + 1)
    s = max(float(sigma), 0.0)
    if s >= sig[-1]:
        w[-1] = 1.0
    else:
        a = int(np.searchsorted(sig, s, side="right")) - 1
        lo, hi = sig[a] ** 2, sig[a + 1] ** 2
        w[a] = (hi - s * s) / (hi - lo)
        w[a + 1] = 1.0 - w[a]
    return float(w[0]), w[1:]


def bloom_weights(radius: float, levels: int) -> np.ndarray:
    """Weights of levels 1..levels for a glow whose widest part has standard deviation ``radius`` pixels.

    Every level up to the radius has the same weight (the same share of the glow's energy: a bright
    core fading into a wide halo), levels beyond it fade out over one octave; the weights sum to 1.
    """
    sig = level_sigma(np.arange(1, levels + 1))
    r = max(float(radius), 1e-6)
    w = np.clip(1.0 - np.log2(np.maximum(sig / r, 1e-9)), 0.0, 1.0)
    if w.sum() <= 0:
        w[0] = 1.0  # a radius below the finest level: the finest level alone
    return w / w.sum()


class Pyramid:
    """The textures, pipelines and per-pass parameters of one mip chain for one frame size."""

    def __init__(self, device, width: int, height: int, label: str = "pyramid"):
        self.device = device
        self.width, self.height = int(width), int(height)
        self.sizes = level_sizes(self.width, self.height)
        self.levels = len(self.sizes)
        self.down = [effect_texture(device, w, h, f"{label} down {k + 1}") for k, (w, h) in enumerate(self.sizes)]
        self.up = [effect_texture(device, w, h, f"{label} up {k + 1}") for k, (w, h) in enumerate(self.sizes[:-1])]
        self.down_views = [t.create_view() for t in self.down]
        self.up_views = [t.create_view() for t in self.up]
        module = device.create_shader_module(label="effect_pyramid.wgsl", code=load_wgsl("effect_pyramid.wgsl"))
        self.layout = bind_layout(device, textures=2)
        self.sampler = linear_sampler(device)
        self.pipe_down = fullscreen_pipeline(device, module, "fs_down", self.layout, label=f"{label} down")
        self.pipe_up = fullscreen_pipeline(device, module, "fs_up", self.layout, label=f"{label} up")
        self.pipe_final = fullscreen_pipeline(device, module, "fs_final", self.layout, label=f"{label} final")
        # One parameter block per pass: the passes of a frame are recorded together and read their
        # blocks when the frame is submitted.
        self.down_params = [params_buffer(device, PYRAMID_STEP.size, f"{label} down {k + 1}")
                            for k in range(self.levels)]
        self.up_params = [params_buffer(device, PYRAMID_STEP.size, f"{label} up {k + 1}")
                          for k in range(self.levels - 1)]
        self.final_params = params_buffer(device, PYRAMID_STEP.size, f"{label} final")
        group = lambda params, a, b: bind_group(device, self.layout, params, (a, b), self.sampler)  # noqa: E731
        # down 1 reads the source (per view); down k reads level k - 1
        self.first_down = PerView(lambda src: group(self.down_params[0], src, src))
        self.down_groups = [None] + [group(self.down_params[k], self.down_views[k - 1], self.down_views[k - 1])
                                     for k in range(1, self.levels)]
        # up k (0-based: level k + 1) reads its own down level and the next coarser image
        self.up_groups = [group(self.up_params[k], self.down_views[k],
                                self.down_views[k + 1] if k + 1 == self.levels - 1 else self.up_views[k + 1])
                          for k in range(self.levels - 1)]
        top = self.up_views[0] if self.levels > 1 else self.down_views[0]
        self.final = PerView(lambda src: group(self.final_params, src, top))
        self._last = None

    def _write(self, buffer, texel, out_texel, fine=0.0, coarse=0.0, threshold=0.0, knee=0.0, prefilter=0):
        self.device.queue.write_buffer(buffer, 0, PYRAMID_STEP.pack(
            texel=texel, out_texel=out_texel, fine_weight=fine, coarse_weight=coarse, threshold=threshold,
            knee=knee, prefilter=prefilter))

    def encode(self, command_encoder, source_view, target_view, weights, source_weight: float,
               chain_weight: float, threshold: float | None = None, knee: float = 0.0) -> None:
        """Record the chain: ``target = source_weight * source + chain_weight * sum_k weights[k-1] * level_k``.

        ``threshold`` (bloom) keeps only what is brighter than it, with a soft knee of ``knee``
        brightness each side, before the first level.
        """
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.levels,):
            raise ValueError(f"{self.levels} level weights needed, got {weights.shape}")
        sizes = [(self.width, self.height)] + self.sizes
        inv = [(1.0 / w, 1.0 / h) for w, h in sizes]
        # The parameters only change with the weights and threshold: rewrite them only then.
        key = (tuple(weights), source_weight, chain_weight, threshold, knee)
        if key != self._last:
            for k in range(self.levels):
                pre = k == 0 and threshold is not None
                self._write(self.down_params[k], inv[k], inv[k + 1], threshold=threshold if pre else 0.0,
                            knee=knee if pre else 0.0, prefilter=1 if pre else 0)
            for k in range(self.levels - 1):  # level k + 1
                coarse = weights[k + 1] if k + 1 == self.levels - 1 else 1.0
                self._write(self.up_params[k], inv[k + 2], inv[k + 1], fine=weights[k], coarse=coarse)
            top = 1.0 if self.levels > 1 else weights[0]
            self._write(self.final_params, inv[1], inv[0], fine=source_weight, coarse=chain_weight * top)
            self._last = key
        for k in range(self.levels):
            group = self.first_down(source_view) if k == 0 else self.down_groups[k]
            draw_fullscreen(command_encoder, [self.down_views[k]], self.pipe_down, group, "pyramid down")
        for k in reversed(range(self.levels - 1)):
            draw_fullscreen(command_encoder, [self.up_views[k]], self.pipe_up, self.up_groups[k], "pyramid up")
        draw_fullscreen(command_encoder, [target_view], self.pipe_final, self.final(source_view), "pyramid final")
