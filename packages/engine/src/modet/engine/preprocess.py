"""Test-time preprocessing of ``DefaultPredictor``, with the numbers of detectron2's ``ResizeShortestEdge``.

Kept here (rather than importing modet.data) so inference needs neither a data package nor
its dependencies. The arithmetic and interpolation are those of detectron2's
``ResizeShortestEdge.get_output_shape`` and ``ResizeTransform.apply_image`` (PIL bilinear on
uint8 images), so a detectron2 model sees the same pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def shortest_edge_output_shape(height: int, width: int, short_edge_length: int, max_size: int) -> tuple[int, int]:
    """(new height, new width): the short side scaled to ``short_edge_length``, the long side capped at ``max_size``."""
    size = short_edge_length * 1.0
    scale = size / min(height, width)
    if height < width:
        new_h, new_w = size, scale * width
    else:
        new_h, new_w = scale * height, size
    if max(new_h, new_w) > max_size:
        scale = max_size * 1.0 / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def resize_shortest_edge(image: np.ndarray, short_edge_length: int, max_size: int, name: str = "image") -> np.ndarray:
    """Resize an HxWxC uint8 image like ``ResizeShortestEdge([s, s], max_size)``; 0 keeps it as is.

    An image so elongated that a side would shrink below one pixel is a ValueError naming it
    (``name``), its shape and the sizes.
    """
    if short_edge_length == 0:
        return image
    height, width = image.shape[:2]
    new_h, new_w = shortest_edge_output_shape(height, width, short_edge_length, max_size)
    if min(new_h, new_w) < 1:
        raise ValueError(
            f"{name} of shape {tuple(image.shape)} is too elongated for the model: resized so its short side is "
            f"{short_edge_length} and its long side at most {max_size} (INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST), it "
            f"would be {new_h}x{new_w} pixels; crop it or cut it into tiles"
        )
    if (new_h, new_w) == (height, width):
        return image
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((new_w, new_h), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def check_image(image: object, name: str = "image") -> np.ndarray:
    """``image`` as an HxWx3 uint8 array, or a ValueError naming what is wrong with it."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (H, W, 3) of uint8, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {tuple(image.shape)}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (0-255), got dtype {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(image.shape)}")
    return image
