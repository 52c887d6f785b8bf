"""modet-lighthead: ``LightConvFCHead``, a small ROI box head registered through modet's hooks."""

from importlib.metadata import version as _distribution_version

from .head import LightConvFCHead

__version__ = _distribution_version("modet-lighthead")  # the one source of the version is pyproject.toml

__all__ = ["LightConvFCHead"]
