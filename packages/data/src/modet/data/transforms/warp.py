"""Geometric transforms beyond flips, crops and resizes: an extent (sub-rectangle) warp, a
torch-interpolated scale, and a rotation about a centre, optionally expanding the canvas."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .transform import CropTransform, NoOpTransform, Transform, TransformList

__all__ = ["ExtentTransform", "RotationTransform", "ScaleTransform"]


class ExtentTransform(Transform):
    """Map the rectangle ``src_rect = (x0, y0, x1, y1)`` of the image onto an image of
    ``output_size = (h, w)`` (Pillow's EXTENT transform); what lies outside is ``fill``."""

    def __init__(
        self,
        src_rect: Sequence[float],
        output_size: Sequence[int],
        interp: int = Image.Resampling.BILINEAR.value,
        fill=0,
    ):
        if len(src_rect) != 4 or src_rect[2] <= src_rect[0] or src_rect[3] <= src_rect[1]:
            raise ValueError(
                f"ExtentTransform: src_rect must be (x0, y0, x1, y1) with x1 > x0, y1 > y0; got {src_rect}"
            )
        self.src_rect, self.output_size = tuple(src_rect), tuple(int(s) for s in output_size)
        self.interp, self.fill = interp, fill

    def apply_image(self, img: np.ndarray, interp: int | None = None) -> np.ndarray:
        h, w = self.output_size
        single_channel = img.ndim == 3 and img.shape[2] == 1
        pil = Image.fromarray(img[:, :, 0] if single_channel else img)
        resample = self.interp if interp is None else interp
        out = np.asarray(
            pil.transform((w, h), Image.Transform.EXTENT, data=self.src_rect, resample=resample, fillcolor=self.fill)
        )
        return out[:, :, None] if single_channel else out

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        h, w = self.output_size
        x0, y0, x1, y1 = self.src_rect
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] = (coords[:, 0] - 0.5 * (x0 + x1)) * (w / (x1 - x0)) + 0.5 * w
        coords[:, 1] = (coords[:, 1] - 0.5 * (y0 + y1)) * (h / (y1 - y0)) + 0.5 * h
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, interp=Image.Resampling.NEAREST.value)


_ALIGNED_MODES = ("linear", "bilinear", "bicubic")


class ScaleTransform(Transform):
    """Resize ``(h, w)`` to ``(new_h, new_w)`` with ``torch.nn.functional.interpolate``
    (``interp``: nearest, bilinear, bicubic, area); uint8 results are rounded."""

    def __init__(self, h: int, w: int, new_h: int, new_w: int, interp: str = "bilinear"):
        if interp not in ("nearest", "bilinear", "bicubic", "area"):
            raise ValueError(f"ScaleTransform: interp must be nearest, bilinear, bicubic or area; got {interp!r}")
        self.h, self.w, self.new_h, self.new_w, self.interp = int(h), int(w), int(new_h), int(new_w), interp

    def apply_image(self, img: np.ndarray, interp: str | None = None) -> np.ndarray:
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(f"ScaleTransform expects an image of size {(self.h, self.w)}, got {img.shape[:2]}")
        mode = self.interp if interp is None else interp
        tensor = torch.from_numpy(np.ascontiguousarray(img)).float()
        tensor = tensor.reshape(self.h, self.w, -1).permute(2, 0, 1)[None]  # 1, C, H, W
        align = False if mode in _ALIGNED_MODES else None
        tensor = F.interpolate(tensor, (self.new_h, self.new_w), mode=mode, align_corners=align)
        out = tensor[0].permute(1, 2, 0).reshape((self.new_h, self.new_w, *img.shape[2:]))
        if img.dtype == np.uint8:
            out = out.round().clamp(0, 255)
        return out.numpy().astype(img.dtype)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.array(coords, dtype=np.float64)
        coords[:, 0] *= self.new_w / self.w
        coords[:, 1] *= self.new_h / self.h
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, interp="nearest")

    def inverse(self) -> Transform:
        return ScaleTransform(self.new_h, self.new_w, self.h, self.w, self.interp)


def _rotation_matrix(center: Sequence[float] | np.ndarray, angle: float) -> np.ndarray:
    """The 2x3 affine map rotating by ``angle`` degrees counter-clockwise (as seen on the
    image, y down) about ``center`` (OpenCV's ``getRotationMatrix2D`` at scale 1)."""
    cos, sin = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    cx, cy = center
    return np.array([[cos, sin, (1 - cos) * cx - sin * cy], [-sin, cos, sin * cx + (1 - cos) * cy]])


def warp_affine(img: np.ndarray, matrix: np.ndarray, out_w: int, out_h: int, nearest: bool = False) -> np.ndarray:
    """``out[y, x] = img[matrix^-1 (x, y)]``, pixel centres at integer coordinates, bilinear (or
    nearest) sampling, zero outside the image. ``img`` is ``(H, W)`` or ``(H, W, C)``."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    h, w = img.shape[:2]
    source = img.astype(np.float64)
    trailing = (..., *(None,) * (img.ndim - 2))  # index that appends the channel axes

    def sample(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        values = source[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        return values * inside[trailing]

    if nearest:
        out = sample(np.floor(src_y + 0.5).astype(np.int64), np.floor(src_x + 0.5).astype(np.int64))
    else:
        x0, y0 = np.floor(src_x), np.floor(src_y)
        fx, fy = (src_x - x0)[trailing], (src_y - y0)[trailing]
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        out = (
            sample(y0, x0) * (1 - fx) * (1 - fy)
            + sample(y0, x0 + 1) * fx * (1 - fy)
            + sample(y0 + 1, x0) * (1 - fx) * fy
            + sample(y0 + 1, x0 + 1) * fx * fy
        )
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(img.dtype)


class RotationTransform(Transform):
    """Rotate an ``(h, w)`` image by ``angle`` degrees counter-clockwise about ``center``
    (``(x, y)``, default the image centre). With ``expand`` the canvas grows to hold the whole
    rotated image (and ``center`` has no effect); without, it keeps its size and corners are cut.
    Coordinates use the continuous convention (pixel ``i`` spans ``[i, i + 1)``), the image
    rotates about the same point in pixel-centre terms. ``interp``: None or bilinear, or
    ``"nearest"`` (segmentation maps always use nearest)."""

    def __init__(
        self,
        h: int,
        w: int,
        angle: float,
        expand: bool = True,
        center: Sequence[float] | None = None,
        interp: str | None = None,
    ):
        if interp not in (None, "bilinear", "nearest"):
            raise ValueError(f"RotationTransform: interp must be None, 'bilinear' or 'nearest', got {interp!r}")
        self.h, self.w, self.angle, self.expand, self.interp = int(h), int(w), float(angle), expand, interp
        self.image_center = np.array((w / 2, h / 2))
        self.center = self.image_center if center is None else np.asarray(center, dtype=np.float64)
        if expand:
            abs_cos, abs_sin = abs(np.cos(np.deg2rad(angle))), abs(np.sin(np.deg2rad(angle)))
            self.bound_w, self.bound_h = (
                int(v) for v in np.rint([h * abs_sin + w * abs_cos, h * abs_cos + w * abs_sin])
            )
        else:
            self.bound_w, self.bound_h = self.w, self.h
        self.rm_coords = self.create_rotation_matrix()
        self.rm_image = self.create_rotation_matrix(offset=-0.5)

    def create_rotation_matrix(self, offset: float = 0) -> np.ndarray:
        """The 2x3 map from input to output coordinates; ``offset=-0.5`` gives it in pixel-centre terms."""
        matrix = _rotation_matrix(self.center + offset, self.angle)
        if self.expand:  # move the rotated image centre to the centre of the grown canvas
            rotated_center = matrix[:, :2] @ (self.image_center + offset) + matrix[:, 2]
            matrix[:, 2] += np.array([self.bound_w / 2, self.bound_h / 2]) + offset - rotated_center
        return matrix

    def apply_image(self, img: np.ndarray, interp: str | None = None) -> np.ndarray:
        if len(img) == 0 or self.angle % 360 == 0:
            return img
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(f"RotationTransform expects an image of size {(self.h, self.w)}, got {img.shape[:2]}")
        nearest = (self.interp if interp is None else interp) == "nearest"
        return warp_affine(img, self.rm_image, self.bound_w, self.bound_h, nearest=nearest)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords = np.asarray(coords, dtype=np.float64)
        if len(coords) == 0 or self.angle % 360 == 0:
            return coords
        return coords @ self.rm_coords[:, :2].T + self.rm_coords[:, 2]

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation, interp="nearest")

    def inverse(self) -> Transform:
        """The rotation back, then a crop to the original size (only with ``expand``: without
        it the cut corners are lost)."""
        if not self.expand:
            raise NotImplementedError("RotationTransform.inverse needs expand=True (without it, corners are cut off)")
        if self.angle % 360 == 0:
            return NoOpTransform()
        back = RotationTransform(self.bound_h, self.bound_w, -self.angle, True, None, self.interp)
        crop = CropTransform((back.bound_w - self.w) // 2, (back.bound_h - self.h) // 2, self.w, self.h)
        return TransformList([back, crop])
