"""Transforms that change pixel values only: coordinates, boxes and segmentation maps pass through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from PIL import Image

from .transform import NoOpTransform, Transform

__all__ = ["ColorTransform", "PILColorTransform"]


class ColorTransform(Transform):
    """Apply ``op`` (numpy image -> numpy image of the same shape) to the image only."""

    def __init__(self, op: Callable[[np.ndarray], np.ndarray]):
        if not callable(op):
            raise TypeError(f"ColorTransform: op must be callable, got {type(op).__name__}")
        self.op = op

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return self.op(img)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def apply_box(self, box: np.ndarray) -> np.ndarray:
        return box

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return polygons

    def apply_rotated_box(self, rotated_boxes: np.ndarray) -> np.ndarray:
        return rotated_boxes

    def inverse(self) -> Transform:
        return NoOpTransform()


class PILColorTransform(ColorTransform):
    """``ColorTransform`` whose ``op`` takes and returns a PIL image (``ImageOps``, ``ImageEnhance``);
    the uint8 numpy image is converted on the way in and out."""

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        pil_op = cast(Callable[[Image.Image], Any], self.op)  # this class's op takes a PIL image
        result = pil_op(Image.fromarray(img))
        return np.asarray(result)
