"""modet-lighthead: ``LightConvFCHead``, a small ROI box head registered through modet's hooks."""

from .head import LightConvFCHead

__all__ = ["LightConvFCHead"]
