"""detectron2's augmentation API: ``Transform`` (deterministic), ``Augmentation`` (policy), ``AugInput``."""

from .augmentation import AugInput, Augmentation, AugmentationList, StandardAugInput, apply_augmentations
from .augmentation_impl import (
    RandomApply,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomSaturation,
    Resize,
    ResizeShortestEdge,
)
from .transform import (
    BlendTransform,
    CropTransform,
    HFlipTransform,
    NoOpTransform,
    ResizeTransform,
    Transform,
    TransformList,
    VFlipTransform,
)

__all__ = [
    "AugInput",
    "Augmentation",
    "AugmentationList",
    "BlendTransform",
    "CropTransform",
    "HFlipTransform",
    "NoOpTransform",
    "RandomApply",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomSaturation",
    "Resize",
    "ResizeShortestEdge",
    "ResizeTransform",
    "StandardAugInput",
    "Transform",
    "TransformList",
    "VFlipTransform",
    "apply_augmentations",
]
