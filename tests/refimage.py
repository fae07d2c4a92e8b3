"""Reference-image checks: compare a rendered frame with a stored PNG under a tolerance.

Stored images live in ``tests/reference/``. On a mismatch the actual frame and a diff image are
written to ``tests/output/`` so a person can look. Set ``GPURENDER_REGENERATE=1`` (or run pytest
with ``--regenerate``) to overwrite the stored images with the current output after reviewing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

REFERENCE_DIR = Path(__file__).parent / "reference"
OUTPUT_DIR = Path(__file__).parent / "output"


def regenerate() -> bool:
    return os.environ.get("GPURENDER_REGENERATE", "") not in ("", "0")


def assert_matches_reference(name: str, image: np.ndarray, atol: int = 3, max_mismatch: float = 0.002) -> None:
    """Compare ``image`` (``[h, w, 3|4]`` uint8) with ``tests/reference/<name>.png``.

    A pixel mismatches when any channel differs by more than ``atol``; the test fails when more
    than ``max_mismatch`` of the pixels do (software rasterizers differ in the last bit at edges).
    """
    image = np.asarray(image, dtype=np.uint8)
    path = REFERENCE_DIR / f"{name}.png"
    if regenerate() or not path.exists():
        if not regenerate():
            raise AssertionError(
                f"no reference image {path}; run with GPURENDER_REGENERATE=1 to create it, then review it"
            )
        REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        return
    expected = np.asarray(Image.open(path))
    assert expected.shape == image.shape, f"{name}: shape {image.shape} != reference {expected.shape}"
    diff = np.abs(expected.astype(np.int16) - image.astype(np.int16)).max(axis=-1)
    bad = float((diff > atol).mean())
    if bad > max_mismatch:
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(OUTPUT_DIR / f"{name}-actual.png")
        Image.fromarray(np.clip(diff * 8, 0, 255).astype(np.uint8)).save(OUTPUT_DIR / f"{name}-diff.png")
        raise AssertionError(
            f"{name}: {bad:.2%} of pixels differ by more than {atol} (allowed {max_mismatch:.2%}); "
            f"see {OUTPUT_DIR}/{name}-actual.png and -diff.png"
        )
