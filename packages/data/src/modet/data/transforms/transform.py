"""Deterministic transforms: each one knows how to map an image, coordinates, boxes, polygons and a
segmentation map the same way, so annotations stay aligned with the pixels."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, overload

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "BlendTransform",
    "CropTransform",
    "HFlipTransform",
    "NoOpTransform",
    "PadTransform",
    "ResizeTransform",
    "Transform",
    "TransformList",
    "VFlipTransform",
    "scale_rotated_boxes",
]


class Transform:
    """Base class. Subclasses implement ``apply_image`` and ``apply_coords``; boxes, polygons and
    segmentation maps are derived from those unless a subclass knows better.

    Images are numpy arrays ``(H, W)`` or ``(H, W, C)``; coordinates are ``(N, 2)`` arrays of
    ``(x, y)`` in absolute pixels.
    """

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation)

    def apply_box(self, box: np.ndarray) -> np.ndarray:
        """Map ``(N, 4)`` XYXY boxes: transform the four corners, take their enclosing box."""
        box = np.asarray(box, dtype=np.float64).reshape(-1, 4)
        corners: np.ndarray = box[:, [0, 1, 2, 1, 0, 3, 2, 3]].reshape(-1, 2)
        corners = self.apply_coords(corners).reshape(-1, 4, 2)
        return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        """Map each ``(K, 2)`` polygon's vertices."""
        return [self.apply_coords(np.asarray(p, dtype=np.float64)) for p in polygons]

    def inverse(self) -> Transform:
        raise NotImplementedError(f"{type(self).__name__} has no inverse")

    @classmethod
    def register_type(cls, data_type: str, func: Callable[[Transform, Any], Any] | None = None):
        """Add ``apply_<data_type>`` to every transform (detectron2's extension point)."""

        def wrapper(decorated: Callable[[Transform, Any], Any]):
            setattr(cls, f"apply_{data_type}", decorated)
            return decorated

        return wrapper if func is None else wrapper(func)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class TransformList(Transform):
    """A sequence of transforms applied in order; itself a Transform."""

    transforms: list[Transform]

    def __init__(self, transforms: Iterable[Transform]):
        flat: list[Transform] = []
        for t in transforms:
            if not isinstance(t, Transform):
                raise TypeError(f"TransformList takes Transform objects, got {type(t).__name__}")
            flat.extend(t.transforms if isinstance(t, TransformList) else [t])
        self.transforms = flat

    def _apply(self, method: str, x: Any) -> Any:
        for t in self.transforms:
            x = getattr(t, method)(x)
        return x

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return self._apply("apply_image", img)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return self._apply("apply_coords", coords)

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self._apply("apply_segmentation", segmentation)

    def apply_box(self, box: np.ndarray) -> np.ndarray:
        return self._apply("apply_box", box)

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return self._apply("apply_polygons", polygons)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("apply_"):
            return lambda x: self._apply(name, x)
        raise AttributeError(f"TransformList has no attribute {name!r}")

    def __add__(self, other: Transform) -> TransformList:
        return TransformList([self, other])

    def __radd__(self, other: Transform) -> TransformList:
        return TransformList([other, self])

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, idx: int) -> Transform:
        return self.transforms[idx]

    def inverse(self) -> TransformList:
        return TransformList([t.inverse() for t in reversed(self.transforms)])

    def __repr__(self) -> str:
        return f"TransformList[{', '.join(repr(t) for t in self.transforms)}]"


class NoOpTransform(Transform):
    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return img

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_box(self, box: np.ndarray) -> np.ndarray:
        return box

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return polygons

    def apply_rotated_box(self, rotated_boxes: np.ndarray) -> np.ndarray:
        return rotated_boxes

    def inverse(self) -> Transform:
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith("apply_"):  # any data type, even one registered later: unchanged
            return lambda x: x
        raise AttributeError(f"NoOpTransform has no attribute {name!r}")


def _flip_rotated_boxes(rotated_boxes: np.ndarray, axis: int, size: float) -> np.ndarray:
    """Mirror ``(N, 5)`` XYWHA boxes (angle in degrees, counter-clockwise) across the line
    ``coordinate[axis] = size / 2``: the centre moves, the angle changes sign."""
    boxes = np.array(rotated_boxes, dtype=np.float64).reshape(-1, 5)
    boxes[:, axis] = size - boxes[:, axis]
    boxes[:, 4] = -boxes[:, 4]
    return boxes


class HFlipTransform(Transform):
    """Mirror left-right in an image of the given width."""

    def __init__(self, width: int):
        self.width = width

    @overload
    def apply_image(self, img: np.ndarray) -> np.ndarray: ...
    @overload
    def apply_image(self, img: torch.Tensor) -> torch.Tensor: ...
    def apply_image(self, img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        if isinstance(img, torch.Tensor):  # (..., H, W)
            return img.flip(-1)
        return np.flip(img, axis=1)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] = self.width - coords[:, 0]
        return coords

    def apply_rotated_box(self, rotated_boxes: np.ndarray) -> np.ndarray:
        """``(N, 5)`` XYWHA boxes, mirrored left-right."""
        return _flip_rotated_boxes(rotated_boxes, 0, self.width)

    def inverse(self) -> Transform:
        return self


class VFlipTransform(Transform):
    """Mirror top-bottom in an image of the given height."""

    def __init__(self, height: int):
        self.height = height

    @overload
    def apply_image(self, img: np.ndarray) -> np.ndarray: ...
    @overload
    def apply_image(self, img: torch.Tensor) -> torch.Tensor: ...
    def apply_image(self, img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        if isinstance(img, torch.Tensor):
            return img.flip(-2)
        return np.flip(img, axis=0)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        coords[:, 1] = self.height - coords[:, 1]
        return coords

    def apply_rotated_box(self, rotated_boxes: np.ndarray) -> np.ndarray:
        """``(N, 5)`` XYWHA boxes, mirrored top-bottom."""
        return _flip_rotated_boxes(rotated_boxes, 1, self.height)

    def inverse(self) -> Transform:
        return self


_TORCH_INTERP = {
    Image.Resampling.NEAREST.value: "nearest",
    Image.Resampling.BILINEAR.value: "bilinear",
    Image.Resampling.BICUBIC.value: "bicubic",
}


class ResizeTransform(Transform):
    """Resize from ``(h, w)`` to ``(new_h, new_w)``; uint8 images go through Pillow, others through torch."""

    def __init__(self, h: int, w: int, new_h: int, new_w: int, interp: int | None = None):
        self.h, self.w, self.new_h, self.new_w = int(h), int(w), int(new_h), int(new_w)
        self.interp = Image.Resampling.BILINEAR.value if interp is None else interp

    def apply_image(self, img: np.ndarray, interp: int | None = None) -> np.ndarray:
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(f"ResizeTransform expects an image of size {(self.h, self.w)}, got {img.shape[:2]}")
        interp = self.interp if interp is None else interp
        if img.dtype == np.uint8:
            if img.ndim == 3 and img.shape[2] == 1:
                pil = Image.fromarray(img[:, :, 0], mode="L")
            else:
                pil = Image.fromarray(img)
            out = np.asarray(pil.resize((self.new_w, self.new_h), interp))
            if img.ndim == 3 and img.shape[2] == 1:
                out = out[:, :, None]
            return out
        tensor = torch.from_numpy(np.ascontiguousarray(img)).float()
        shape = tensor.shape
        tensor = tensor.reshape(shape[0], shape[1], -1).permute(2, 0, 1)[None]  # 1, C, H, W
        mode = _TORCH_INTERP[interp]
        align = False if mode in ("bilinear", "bicubic") else None
        tensor = F.interpolate(tensor, (self.new_h, self.new_w), mode=mode, align_corners=align)
        resized = tensor[0].permute(1, 2, 0).reshape((self.new_h, self.new_w, *shape[2:]))
        return resized.numpy().astype(img.dtype, copy=False)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] = coords[:, 0] * (self.new_w * 1.0 / self.w)
        coords[:, 1] = coords[:, 1] * (self.new_h * 1.0 / self.h)
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, interp=Image.Resampling.NEAREST.value)

    def apply_rotated_box(self, rotated_boxes: np.ndarray) -> np.ndarray:
        """Scale ``(N, 5)`` XYWHA boxes; under unequal x/y scales a rotated rectangle's image is
        a parallelogram, approximated as detectron2 does: each side scales by the length of its
        own direction's image, the angle is that of the scaled height direction."""
        return scale_rotated_boxes(rotated_boxes, self.new_w / self.w, self.new_h / self.h)

    def inverse(self) -> Transform:
        return ResizeTransform(self.new_h, self.new_w, self.h, self.w, self.interp)


def scale_rotated_boxes(rotated_boxes: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
    """``(N, 5)`` XYWHA boxes (degrees, counter-clockwise) after scaling x by ``scale_x`` and y
    by ``scale_y``. The width runs along ``(cos a, -sin a)`` and the height along ``(sin a, cos a)``
    in image coordinates (y down)."""
    boxes = np.array(rotated_boxes, dtype=np.float64).reshape(-1, 5)
    theta = np.deg2rad(boxes[:, 4])
    cos, sin = np.cos(theta), np.sin(theta)
    boxes[:, 0] *= scale_x
    boxes[:, 1] *= scale_y
    boxes[:, 2] *= np.hypot(scale_x * cos, scale_y * sin)
    boxes[:, 3] *= np.hypot(scale_x * sin, scale_y * cos)
    boxes[:, 4] = np.rad2deg(np.arctan2(scale_x * sin, scale_y * cos))
    return boxes


def _clip_to_half_plane(poly: np.ndarray, axis: int, bound: float, keep_greater: bool) -> np.ndarray:
    """One Sutherland-Hodgman step: the part of polygon ``(K, 2)`` on one side of ``x[axis] = bound``."""
    if len(poly) == 0:
        return poly
    prev = np.roll(poly, 1, axis=0)
    inside = poly[:, axis] >= bound if keep_greater else poly[:, axis] <= bound
    crossing = inside != np.roll(inside, 1)
    denom = poly[:, axis] - prev[:, axis]
    t = np.divide(bound - prev[:, axis], denom, out=np.zeros_like(denom), where=denom != 0)
    intersection = prev + t[:, None] * (poly - prev)
    # per vertex, in order: the crossing point of the edge arriving at it, then the vertex itself
    candidates = np.stack([intersection, poly], axis=1)
    return candidates[np.stack([crossing, inside], axis=1)]


def clip_polygon(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Clip a ``(K, 2)`` polygon to ``[0, width] x [0, height]`` (fewer than 3 points: nothing left)."""
    for axis, bound, keep_greater in ((0, 0.0, True), (0, width, False), (1, 0.0, True), (1, height, False)):
        poly = _clip_to_half_plane(poly, axis, bound, keep_greater)
    return poly


class CropTransform(Transform):
    """Keep the window ``[x0, x0 + w) x [y0, y0 + h)``; coordinates shift by ``(-x0, -y0)``.

    Polygons are clipped to the window (Sutherland-Hodgman), so boxes recomputed from them are
    tight; a polygon wholly outside becomes a degenerate one with no area, which
    ``filter_empty_instances`` then drops.
    """

    def __init__(self, x0: int, y0: int, w: int, h: int, orig_w: int | None = None, orig_h: int | None = None):
        self.x0, self.y0, self.w, self.h = int(x0), int(y0), int(w), int(h)
        # the size of the image before cropping, when known: what ``inverse`` pads back to
        self.orig_w = None if orig_w is None else int(orig_w)
        self.orig_h = None if orig_h is None else int(orig_h)

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return img[self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w]

    def inverse(self) -> Transform:
        if self.orig_w is None or self.orig_h is None:
            raise NotImplementedError("CropTransform.inverse needs the original size (orig_w, orig_h)")
        right, bottom = self.orig_w - self.x0 - self.w, self.orig_h - self.y0 - self.h
        return PadTransform(self.x0, self.y0, right, bottom, orig_w=self.w, orig_h=self.h)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] -= self.x0
        coords[:, 1] -= self.y0
        return coords

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        clipped = []
        for polygon in polygons:
            shifted = self.apply_coords(np.asarray(polygon, dtype=np.float64))
            inside = clip_polygon(shifted, self.w, self.h)
            if len(inside) < 3:
                corner = np.clip(shifted[:1], 0, [self.w, self.h])
                inside = np.repeat(corner, 3, axis=0)
            clipped.append(inside)
        return clipped


class BlendTransform(Transform):
    """``src_weight * src_image + dst_weight * image``: photometric changes that move no pixel."""

    def __init__(self, src_image: np.ndarray | float, src_weight: float, dst_weight: float):
        self.src_image, self.src_weight, self.dst_weight = src_image, src_weight, dst_weight

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        blended = self.src_weight * np.asarray(self.src_image, dtype=np.float32) + self.dst_weight * img.astype(
            np.float32
        )
        if img.dtype == np.uint8:
            return np.clip(blended, 0, 255).astype(np.uint8)
        return blended.astype(img.dtype, copy=False)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def apply_box(self, box: np.ndarray) -> np.ndarray:
        return box

    def apply_polygons(self, polygons: list[np.ndarray]) -> list[np.ndarray]:
        return polygons

    def inverse(self) -> Transform:
        return NoOpTransform()


class PadTransform(Transform):
    """Add ``x0``/``x1`` columns left/right and ``y0``/``y1`` rows above/below, filled with
    ``pad_value`` (``seg_pad_value`` in segmentation maps); coordinates shift by ``(x0, y0)``."""

    def __init__(
        self,
        x0: int,
        y0: int,
        x1: int,
        y1: int,
        orig_w: int | None = None,
        orig_h: int | None = None,
        pad_value: float = 0,
        seg_pad_value: int = 0,
    ):
        self.x0, self.y0, self.x1, self.y1 = int(x0), int(y0), int(x1), int(y1)
        if min(self.x0, self.y0, self.x1, self.y1) < 0:
            raise ValueError(f"PadTransform: padding must be non-negative, got {(x0, y0, x1, y1)}")
        self.orig_w = None if orig_w is None else int(orig_w)
        self.orig_h = None if orig_h is None else int(orig_h)
        self.pad_value, self.seg_pad_value = pad_value, seg_pad_value

    def _pad(self, img: np.ndarray, value: float) -> np.ndarray:
        padding = [(self.y0, self.y1), (self.x0, self.x1)] + [(0, 0)] * (img.ndim - 2)
        return np.pad(img, padding, mode="constant", constant_values=value)

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        return self._pad(img, self.pad_value)

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self._pad(segmentation, self.seg_pad_value)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] += self.x0
        coords[:, 1] += self.y0
        return coords

    def inverse(self) -> Transform:
        if self.orig_w is None or self.orig_h is None:
            raise NotImplementedError("PadTransform.inverse needs the original size (orig_w, orig_h)")
        padded_w, padded_h = self.x0 + self.orig_w + self.x1, self.y0 + self.orig_h + self.y1
        return CropTransform(self.x0, self.y0, self.orig_w, self.orig_h, orig_w=padded_w, orig_h=padded_h)
