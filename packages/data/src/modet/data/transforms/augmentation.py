"""Augmentations: policies that look at the input and return a deterministic ``Transform``.

An ``Augmentation`` draws its randomness in ``get_transform``; the ``Transform`` it returns is
then applied to the image and to every annotation, so they move together.
"""

from __future__ import annotations

import inspect
import pprint
from collections.abc import Iterable
from typing import Any

import numpy as np

from .transform import Transform, TransformList

__all__ = ["AugInput", "Augmentation", "AugmentationList", "StandardAugInput", "apply_augmentations"]


class Augmentation:
    """Base class. ``input_args`` names the ``AugInput`` attributes ``get_transform`` receives;
    when a subclass leaves it None, it is read from ``get_transform``'s signature (a single
    parameter is the image, whatever its name)."""

    input_args: tuple[str, ...] | None = None

    def _init(self, params: dict[str, Any] | None = None) -> None:
        for key, value in (params or {}).items():
            if key != "self" and not key.startswith("_"):
                setattr(self, key, value)

    def get_transform(self, *args: Any) -> Transform:
        raise NotImplementedError

    def _input_names(self) -> tuple[str, ...]:
        if self.input_args is None:
            params = list(inspect.signature(self.get_transform).parameters.values())
            if len(params) > 1 and any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
                raise TypeError(
                    f"{type(self).__name__}.get_transform takes *args/**kwargs: set input_args to the names it needs"
                )
            self.input_args = ("image",) if len(params) == 1 else tuple(p.name for p in params)
        return self.input_args

    def __call__(self, aug_input: AugInput) -> Transform:
        args = []
        for name in self._input_names():
            if not hasattr(aug_input, name):
                raise AttributeError(
                    f"{type(self).__name__}.get_transform needs the input attribute {name!r}, "
                    f"which {type(aug_input).__name__} does not have"
                )
            args.append(getattr(aug_input, name))
        tfm = self.get_transform(*args)
        if not isinstance(tfm, Transform):
            raise TypeError(f"{type(self).__name__}.get_transform must return a Transform, got {type(tfm).__name__}")
        aug_input.transform(tfm)
        return tfm

    def _rand_range(self, low: float = 1.0, high: float | None = None, size: Any = None) -> Any:
        """Uniform in ``[low, high)``, or in ``[0, low)`` when ``high`` is None (uses np.random)."""
        if high is None:
            low, high = 0, low
        if size is None:
            size = []
        return np.random.uniform(low, high, size)

    def __repr__(self) -> str:
        """``Name(arg=value, ...)`` for the constructor arguments that are not their default
        (detectron2's form: an argument counts as default when it *is* the default object)."""
        try:
            params = inspect.signature(type(self).__init__).parameters
        except (TypeError, ValueError):
            return super().__repr__()
        shown = []
        for name, param in params.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if not hasattr(self, name):
                return super().__repr__()  # an argument not kept under its own name
            value = getattr(self, name)
            if value is param.default:
                continue
            text = pprint.pformat(value)
            if "\n" in text:  # too long for one line
                text = "..."
            shown.append(f"{name}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"


class _TransformToAug(Augmentation):
    """Lets a fixed Transform stand in a list of augmentations."""

    def __init__(self, tfm: Transform):
        self.tfm = tfm

    def get_transform(self, *args: Any) -> Transform:
        return self.tfm

    def __repr__(self) -> str:
        return repr(self.tfm)


def _as_augmentation(x: Augmentation | Transform) -> Augmentation:
    if isinstance(x, Augmentation):
        return x
    if isinstance(x, Transform):
        return _TransformToAug(x)
    raise TypeError(f"expected an Augmentation or a Transform, got {type(x).__name__}")


class AugmentationList(Augmentation):
    """Apply augmentations in sequence; returns the ``TransformList`` of what was applied."""

    def __init__(self, augs: Iterable[Augmentation | Transform]):
        self.augs = [_as_augmentation(a) for a in augs]

    def __call__(self, aug_input: AugInput) -> TransformList:
        return TransformList([aug(aug_input) for aug in self.augs])

    def __repr__(self) -> str:
        return f"AugmentationList[{', '.join(repr(a) for a in self.augs)}]"


class AugInput:
    """What augmentations see and change: an ``(H, W)`` or ``(H, W, C)`` image, optional
    ``(N, 4)`` XYXY boxes and an optional ``(H, W)`` segmentation map."""

    def __init__(self, image: np.ndarray, *, boxes: np.ndarray | None = None, sem_seg: np.ndarray | None = None):
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
            raise ValueError(
                f"AugInput needs a numpy image of shape (H, W) or (H, W, C), got {getattr(image, 'shape', type(image))}"
            )
        if sem_seg is not None and sem_seg.shape[:2] != image.shape[:2]:
            raise ValueError(f"sem_seg has shape {sem_seg.shape[:2]} but the image has {image.shape[:2]}")
        self.image = image
        self.boxes = boxes
        self.sem_seg = sem_seg

    def transform(self, tfm: Transform) -> None:
        """Apply ``tfm`` to everything held, in place."""
        self.image = tfm.apply_image(self.image)
        if self.boxes is not None:
            self.boxes = tfm.apply_box(self.boxes)
        if self.sem_seg is not None:
            self.sem_seg = tfm.apply_segmentation(self.sem_seg)

    def apply_augmentations(self, augmentations: Iterable[Augmentation | Transform]) -> TransformList:
        return AugmentationList(augmentations)(self)


StandardAugInput = AugInput


def apply_augmentations(
    augmentations: Iterable[Augmentation | Transform], inputs: np.ndarray | AugInput
) -> tuple[np.ndarray | AugInput, TransformList]:
    """Apply augmentations to an image (or an AugInput); returns ``(result, transforms)``."""
    if isinstance(inputs, np.ndarray):
        aug_input = AugInput(inputs)
        tfms = aug_input.apply_augmentations(augmentations)
        return aug_input.image, tfms
    tfms = inputs.apply_augmentations(augmentations)
    return inputs, tfms
