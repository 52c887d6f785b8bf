"""A fixed palette of well-separated colours and random picks from it (detectron2's
``detectron2.utils.colormap``): the colours instances get when no class colour is given.
"""

from __future__ import annotations

import random

import numpy as np

__all__ = ["colormap", "random_color", "random_colors"]

# RGB in [0, 1]: detectron2's (and Detectron's) visualisation palette, in its order.
_PALETTE = np.array(
    [
        (0.0, 0.447, 0.741),
        (0.85, 0.325, 0.098),
        (0.929, 0.694, 0.125),
        (0.494, 0.184, 0.556),
        (0.466, 0.674, 0.188),
        (0.301, 0.745, 0.933),
        (0.635, 0.078, 0.184),
        (0.3, 0.3, 0.3),
        (0.6, 0.6, 0.6),
        (1.0, 0.0, 0.0),
        (1.0, 0.5, 0.0),
        (0.749, 0.749, 0.0),
        (0.0, 1.0, 0.0),
        (0.0, 0.0, 1.0),
        (0.667, 0.0, 1.0),
        (0.333, 0.333, 0.0),
        (0.333, 0.667, 0.0),
        (0.333, 1.0, 0.0),
        (0.667, 0.333, 0.0),
        (0.667, 0.667, 0.0),
        (0.667, 1.0, 0.0),
        (1.0, 0.333, 0.0),
        (1.0, 0.667, 0.0),
        (1.0, 1.0, 0.0),
        (0.0, 0.333, 0.5),
        (0.0, 0.667, 0.5),
        (0.0, 1.0, 0.5),
        (0.333, 0.0, 0.5),
        (0.333, 0.333, 0.5),
        (0.333, 0.667, 0.5),
        (0.333, 1.0, 0.5),
        (0.667, 0.0, 0.5),
        (0.667, 0.333, 0.5),
        (0.667, 0.667, 0.5),
        (0.667, 1.0, 0.5),
        (1.0, 0.0, 0.5),
        (1.0, 0.333, 0.5),
        (1.0, 0.667, 0.5),
        (1.0, 1.0, 0.5),
        (0.0, 0.333, 1.0),
        (0.0, 0.667, 1.0),
        (0.0, 1.0, 1.0),
        (0.333, 0.0, 1.0),
        (0.333, 0.333, 1.0),
        (0.333, 0.667, 1.0),
        (0.333, 1.0, 1.0),
        (0.667, 0.0, 1.0),
        (0.667, 0.333, 1.0),
        (0.667, 0.667, 1.0),
        (0.667, 1.0, 1.0),
        (1.0, 0.0, 1.0),
        (1.0, 0.333, 1.0),
        (1.0, 0.667, 1.0),
        (0.333, 0.0, 0.0),
        (0.5, 0.0, 0.0),
        (0.667, 0.0, 0.0),
        (0.833, 0.0, 0.0),
        (1.0, 0.0, 0.0),
        (0.0, 0.167, 0.0),
        (0.0, 0.333, 0.0),
        (0.0, 0.5, 0.0),
        (0.0, 0.667, 0.0),
        (0.0, 0.833, 0.0),
        (0.0, 1.0, 0.0),
        (0.0, 0.0, 0.167),
        (0.0, 0.0, 0.333),
        (0.0, 0.0, 0.5),
        (0.0, 0.0, 0.667),
        (0.0, 0.0, 0.833),
        (0.0, 0.0, 1.0),
        (0.0, 0.0, 0.0),
        (0.143, 0.143, 0.143),
        (0.857, 0.857, 0.857),
        (1.0, 1.0, 1.0),
    ],
    dtype=np.float32,
)


def _check_maximum(maximum: int) -> None:
    if maximum not in (1, 255):
        raise ValueError(f"maximum must be 1 or 255, got {maximum!r}")


def colormap(rgb: bool = False, maximum: int = 255) -> np.ndarray:
    """The whole palette: an (N, 3) float32 array in [0, maximum], RGB or (by default) BGR."""
    _check_maximum(maximum)
    colors = _PALETTE * maximum
    return colors if rgb else colors[:, ::-1]


def random_color(rgb: bool = False, maximum: int = 255) -> np.ndarray:
    """One palette colour picked with numpy's global RNG: 3 numbers in [0, maximum]."""
    _check_maximum(maximum)
    color = _PALETTE[np.random.randint(0, len(_PALETTE))] * maximum
    return color if rgb else color[::-1]


def random_colors(n: int, rgb: bool = False, maximum: int = 255) -> list[np.ndarray]:
    """``n`` distinct palette colours picked with Python's global RNG (at most the palette's size)."""
    _check_maximum(maximum)
    if not 0 <= n <= len(_PALETTE):
        raise ValueError(f"random_colors can give 0 to {len(_PALETTE)} distinct colours, asked for {n}")
    colors = [_PALETTE[i] * maximum for i in random.sample(range(len(_PALETTE)), n)]
    return colors if rgb else [c[::-1] for c in colors]
