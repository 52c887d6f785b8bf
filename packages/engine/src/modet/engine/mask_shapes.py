"""Outlines of binary masks, for drawing: polygons with their holes, areas, and where a label goes.

A mask is traced with contourpy (matplotlib's contouring library) at level 0.5 on the mask padded
with zeros, so outlines run along pixel edges and close at the image border. Each traced region
is one outer ring and the rings of its holes, in pixel coordinates (x right, y down, the pixel
``(row, col)`` spanning ``[col, col + 1] x [row, row + 1]``).
"""

from __future__ import annotations

import itertools
from typing import Any, cast

import contourpy
import numpy as np
import pycocotools.mask as mask_util
from matplotlib.path import Path

__all__ = ["GenericMask", "Region", "trace_regions"]


class Region:
    """One connected region of a mask: an outer ring and the rings of its holes, each (K, 2) x, y."""

    def __init__(self, outer: np.ndarray, holes: list[np.ndarray]) -> None:
        self.outer = outer
        self.holes = holes

    @property
    def area(self) -> float:
        """Area inside the outer ring, less the holes' (shoelace formula)."""
        return _ring_area(self.outer) - sum(_ring_area(h) for h in self.holes)

    def path(self) -> Path:
        """A matplotlib path of the region, holes included (drawn unfilled)."""
        rings = [self.outer, *self.holes]
        vertices = np.concatenate([np.vstack([r, r[:1]]) for r in rings])
        codes = np.concatenate([[Path.MOVETO] + [Path.LINETO] * (len(r) - 1) + [Path.CLOSEPOLY] for r in rings]).astype(
            Path.code_type
        )
        return Path(vertices, codes)


def _ring_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def trace_regions(mask: np.ndarray) -> list[Region]:
    """The connected regions of a 2-D binary mask, largest first."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"trace_regions needs a 2-D mask, got shape {mask.shape}")
    if not mask.any():
        return []
    padded = np.pad(mask.astype(np.float64) > 0, 1).astype(np.float64)
    height, width = padded.shape
    # sample (i, j) of the padded grid is the centre of pixel (i - 1, j - 1): at (j - 0.5, i - 0.5)
    x = np.arange(width, dtype=np.float64) - 0.5
    y = np.arange(height, dtype=np.float64) - 0.5
    generator = contourpy.contour_generator(x, y, padded, fill_type=contourpy.FillType.OuterOffset)
    # contourpy types filled() as the union over all fill types; OuterOffset gives (points, offsets)
    filled = cast(tuple[list[np.ndarray], list[np.ndarray]], generator.filled(0.5, 2.0))
    points_per_polygon, offsets_per_polygon = filled
    regions = []
    for points, offsets in zip(points_per_polygon, offsets_per_polygon):
        rings = [points[start:end] for start, end in itertools.pairwise(offsets)]
        regions.append(Region(rings[0], rings[1:]))
    regions.sort(key=lambda r: -r.area)
    return regions


class GenericMask:
    """One instance's mask given as a binary (H, W) array, COCO polygons or a COCO RLE dict.

    ``mask`` (uint8 array), ``polygons`` (flat ``[x0, y0, x1, y1, …]`` arrays, outer rings),
    ``regions`` (outer rings with their holes) and ``has_holes`` are computed on first use.
    """

    def __init__(self, mask_or_polygons: Any, height: int, width: int) -> None:
        self.height, self.width = height, width
        self._mask: np.ndarray | None = None
        self._polygons: list[np.ndarray] | None = None
        self._regions: list[Region] | None = None
        value = mask_or_polygons
        if isinstance(value, dict):
            if "counts" not in value or "size" not in value:
                raise ValueError(f"A COCO RLE needs 'counts' and 'size', got keys {sorted(value)}")
            if isinstance(value["counts"], list):  # uncompressed RLE
                value = mask_util.frPyObjects(value, *value["size"])
            self._mask = mask_util.decode(value)[:, :]
        elif isinstance(value, list):
            self._polygons = [np.asarray(p, dtype=np.float64).reshape(-1) for p in value]
        elif isinstance(value, np.ndarray):
            if value.shape != (height, width):
                raise ValueError(f"mask has shape {value.shape}, expected the image's ({height}, {width})")
            self._mask = value.astype(np.uint8)
        else:
            raise TypeError(f"GenericMask takes a binary array, polygons or an RLE dict, got {type(value).__name__}")

    @property
    def mask(self) -> np.ndarray:
        if self._mask is None:
            if not self._polygons:
                self._mask = np.zeros((self.height, self.width), dtype=np.uint8)
            else:
                rle = mask_util.merge(mask_util.frPyObjects(self._polygons, self.height, self.width))
                self._mask = mask_util.decode(rle)[:, :]
        return self._mask

    @property
    def regions(self) -> list[Region]:
        if self._regions is None:
            if self._polygons is not None:  # given polygons have no holes
                self._regions = [Region(p.reshape(-1, 2), []) for p in self._polygons if len(p) >= 6]
            else:
                self._regions = trace_regions(self.mask)
        return self._regions

    @property
    def polygons(self) -> list[np.ndarray]:
        if self._polygons is None:
            self._polygons = [r.outer.reshape(-1) for r in self.regions]
        return self._polygons

    @property
    def has_holes(self) -> bool:
        return any(r.holes for r in self.regions)

    def area(self) -> int:
        return int(self.mask.sum())

    def bbox(self) -> np.ndarray:
        """XYXY box around the mask's pixels (zeros when empty)."""
        ys, xs = np.nonzero(self.mask)
        if len(xs) == 0:
            return np.zeros(4, dtype=np.float64)
        return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
