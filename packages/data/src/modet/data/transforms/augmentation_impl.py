"""detectron2's built-in augmentations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from .augmentation import AugInput, Augmentation, _as_augmentation
from .transform import (
    BlendTransform,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    PadTransform,
    ResizeTransform,
    Transform,
    TransformList,
    VFlipTransform,
)

__all__ = [
    "FixedSizeCrop",
    "RandomApply",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomSaturation",
    "Resize",
    "ResizeScale",
    "ResizeShortestEdge",
]


class RandomApply(Augmentation):
    """Apply ``tfm_or_aug`` (an Augmentation, or a fixed Transform) with probability ``prob``,
    else do nothing (a ``NoOpTransform``)."""

    def __init__(self, tfm_or_aug: Augmentation | Transform, prob: float = 0.5):
        # AssertionError, as detectron2 raises for a probability outside [0, 1]
        assert 0.0 <= prob <= 1.0, f"RandomApply: prob must be in [0, 1], got {prob}"
        self.aug = _as_augmentation(tfm_or_aug)
        self.prob = prob

    def get_transform(self, *args: Any) -> Transform:
        if self._rand_range() < self.prob:
            return self.aug.get_transform(*args)
        return NoOpTransform()

    def __call__(self, aug_input: AugInput) -> Transform:
        if self._rand_range() < self.prob:
            return self.aug(aug_input)
        return NoOpTransform()


class RandomFlip(Augmentation):
    """Flip horizontally (or vertically) with probability ``prob``."""

    def __init__(self, prob: float = 0.5, *, horizontal: bool = True, vertical: bool = False):
        if horizontal == vertical:
            raise ValueError("RandomFlip: set exactly one of horizontal / vertical")
        self.prob, self.horizontal, self.vertical = prob, horizontal, vertical

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        if self._rand_range() < self.prob:
            return HFlipTransform(w) if self.horizontal else VFlipTransform(h)
        return NoOpTransform()


class Resize(Augmentation):
    """Resize to a fixed ``(h, w)``."""

    def __init__(self, shape: int | Sequence[int], interp: int = Image.Resampling.BILINEAR.value):
        self.shape = (shape, shape) if isinstance(shape, int) else tuple(shape)
        self.interp = interp

    def get_transform(self, image: np.ndarray) -> Transform:
        return ResizeTransform(image.shape[0], image.shape[1], self.shape[0], self.shape[1], self.interp)


class ResizeShortestEdge(Augmentation):
    """Scale so the short edge has a sampled length, keeping the long edge within ``max_size``."""

    def __init__(
        self,
        short_edge_length: int | Sequence[int],
        max_size: int = 2**31 - 1,
        sample_style: str = "range",
        interp: int = Image.Resampling.BILINEAR.value,
    ):
        if sample_style not in ("range", "choice"):
            raise ValueError(f"ResizeShortestEdge: sample_style must be 'range' or 'choice', got {sample_style!r}")
        if isinstance(short_edge_length, int):
            short_edge_length = (short_edge_length, short_edge_length)
        short_edge_length = tuple(short_edge_length)
        if sample_style == "range" and len(short_edge_length) != 2:
            raise ValueError(f"ResizeShortestEdge: 'range' needs (min, max), got {short_edge_length}")
        self.short_edge_length, self.max_size = short_edge_length, max_size
        self.sample_style, self.interp = sample_style, interp

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        if self.sample_style == "range":
            size = np.random.randint(self.short_edge_length[0], self.short_edge_length[1] + 1)
        else:
            size = np.random.choice(self.short_edge_length)
        if size == 0:
            return NoOpTransform()
        new_h, new_w = self.get_output_shape(h, w, size, self.max_size)
        return ResizeTransform(h, w, new_h, new_w, self.interp)

    @staticmethod
    def get_output_shape(old_h: int, old_w: int, short_edge_length: int, max_size: int) -> tuple[int, int]:
        """``(new_h, new_w)`` for a short edge of ``short_edge_length`` and a long edge <= ``max_size``."""
        scale = short_edge_length * 1.0 / min(old_h, old_w)
        new_h, new_w = (short_edge_length, scale * old_w) if old_h < old_w else (scale * old_h, short_edge_length)
        if max(new_h, new_w) > max_size:
            scale = max_size * 1.0 / max(new_h, new_w)
            new_h, new_w = new_h * scale, new_w * scale
        return int(new_h + 0.5), int(new_w + 0.5)


class RandomCrop(Augmentation):
    """Crop a random window; ``crop_type`` is one of relative, relative_range, absolute, absolute_range."""

    def __init__(self, crop_type: str, crop_size: Sequence[float]):
        if crop_type not in ("relative_range", "relative", "absolute", "absolute_range"):
            raise ValueError(f"RandomCrop: unknown crop_type {crop_type!r}")
        self.crop_type, self.crop_size = crop_type, tuple(crop_size)

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        crop_h, crop_w = self.get_crop_size((h, w))
        if not (h >= crop_h and w >= crop_w):
            raise ValueError(f"RandomCrop: crop size {(crop_h, crop_w)} is larger than the image {(h, w)}")
        y0 = np.random.randint(h - crop_h + 1)
        x0 = np.random.randint(w - crop_w + 1)
        return CropTransform(x0, y0, crop_w, crop_h)

    def get_crop_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        h, w = image_size
        if self.crop_type == "relative":
            ch, cw = self.crop_size
            return int(h * ch + 0.5), int(w * cw + 0.5)
        if self.crop_type == "relative_range":
            crop_size = np.asarray(self.crop_size, dtype=np.float32)
            ch, cw = crop_size + np.random.rand(2) * (1 - crop_size)
            return int(h * ch + 0.5), int(w * cw + 0.5)
        if self.crop_type == "absolute":
            return min(int(self.crop_size[0]), h), min(int(self.crop_size[1]), w)
        # absolute_range: (min, max) on both sides
        lo, hi = int(self.crop_size[0]), int(self.crop_size[1])
        ch = np.random.randint(min(h, lo), min(h, hi) + 1)
        cw = np.random.randint(min(w, lo), min(w, hi) + 1)
        return ch, cw


class RandomBrightness(Augmentation):
    """Scale intensities by a factor drawn from ``[intensity_min, intensity_max]``."""

    def __init__(self, intensity_min: float, intensity_max: float):
        self.intensity_min, self.intensity_max = intensity_min, intensity_max

    def get_transform(self, image: np.ndarray) -> Transform:
        w = np.random.uniform(self.intensity_min, self.intensity_max)
        return BlendTransform(src_image=0, src_weight=1 - w, dst_weight=w)


class RandomContrast(Augmentation):
    """Blend with the image mean by a factor drawn from ``[intensity_min, intensity_max]``."""

    def __init__(self, intensity_min: float, intensity_max: float):
        self.intensity_min, self.intensity_max = intensity_min, intensity_max

    def get_transform(self, image: np.ndarray) -> Transform:
        w = np.random.uniform(self.intensity_min, self.intensity_max)
        return BlendTransform(src_image=image.mean(), src_weight=1 - w, dst_weight=w)


class RandomSaturation(Augmentation):
    """Blend an RGB/BGR image with its grayscale by a factor drawn from ``[intensity_min, intensity_max]``."""

    def __init__(self, intensity_min: float, intensity_max: float):
        self.intensity_min, self.intensity_max = intensity_min, intensity_max

    def get_transform(self, image: np.ndarray) -> Transform:
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"RandomSaturation needs a 3-channel image, got shape {image.shape}")
        w = np.random.uniform(self.intensity_min, self.intensity_max)
        grayscale = image.dot([0.299, 0.587, 0.114])[:, :, None]
        return BlendTransform(src_image=grayscale, src_weight=1 - w, dst_weight=w)


class ResizeScale(Augmentation):
    """Large-scale jitter: fit the image in ``scale * (target_height, target_width)``, keeping its
    aspect ratio, with ``scale`` drawn uniformly from ``[min_scale, max_scale]``."""

    def __init__(
        self,
        min_scale: float,
        max_scale: float,
        target_height: int,
        target_width: int,
        interp: int = Image.Resampling.BILINEAR.value,
    ):
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"ResizeScale: need 0 < min_scale <= max_scale, got {min_scale} and {max_scale}")
        self.min_scale, self.max_scale = min_scale, max_scale
        self.target_height, self.target_width, self.interp = target_height, target_width, interp

    def _get_resize(self, image: np.ndarray, scale: float) -> Transform:
        input_size = np.array(image.shape[:2])
        target = np.array((self.target_height, self.target_width)) * scale
        output_scale = min(target[0] / input_size[0], target[1] / input_size[1])
        output_size = np.round(input_size * output_scale).astype(int)
        return ResizeTransform(input_size[0], input_size[1], output_size[0], output_size[1], self.interp)

    def get_transform(self, image: np.ndarray) -> Transform:
        return self._get_resize(image, np.random.uniform(self.min_scale, self.max_scale))


class FixedSizeCrop(Augmentation):
    """Crop a random ``crop_size`` (h, w) window where the image is larger, and pad it to that size
    where it is smaller (bottom and right, ``pad_value``; ``seg_pad_value`` in segmentation), so
    every output has the same size. One uniform draw places the window along both sides."""

    def __init__(
        self, crop_size: tuple[int, int], pad: bool = True, pad_value: float = 128.0, seg_pad_value: int = 255
    ):
        if len(crop_size) != 2:
            raise ValueError(f"FixedSizeCrop: crop_size must be (height, width), got {crop_size}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.pad, self.pad_value, self.seg_pad_value = pad, pad_value, seg_pad_value

    def _get_crop(self, image: np.ndarray) -> Transform:
        input_size = np.array(image.shape[:2])
        max_offset = np.maximum(input_size - np.array(self.crop_size), 0)
        offset = np.round(max_offset * np.random.uniform(0.0, 1.0)).astype(int)
        return CropTransform(
            offset[1], offset[0], self.crop_size[1], self.crop_size[0], orig_w=input_size[1], orig_h=input_size[0]
        )

    def _get_pad(self, image: np.ndarray) -> Transform:
        input_size = np.array(image.shape[:2])
        pad_size = np.maximum(np.array(self.crop_size) - input_size, 0)
        kept = np.minimum(input_size, self.crop_size)
        return PadTransform(
            0, 0, pad_size[1], pad_size[0], kept[1], kept[0], pad_value=self.pad_value, seg_pad_value=self.seg_pad_value
        )

    def get_transform(self, image: np.ndarray) -> Transform:
        transforms = [self._get_crop(image)]
        if self.pad:
            transforms.append(self._get_pad(image))
        return TransformList(transforms)
