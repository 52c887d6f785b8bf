"""modet-torchvision: torchvision backbones for modet, and torchvision detection checkpoints."""

from __future__ import annotations

from importlib import resources
from importlib.metadata import version as _distribution_version

from modet.core.config import CfgNode, get_cfg

CONFIG_NAMES = (
    "fasterrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn",
    "keypointrcnn_resnet50_fpn",
    "retinanet_resnet50_fpn",
)

__version__ = _distribution_version("modet-torchvision")  # the one source of the version is pyproject.toml


def get_config_file(name: str) -> str:
    """Path of the shipped config matching torchvision's model ``name``."""
    if name not in CONFIG_NAMES:
        raise KeyError(f"no modet-torchvision config {name!r}; known: {', '.join(CONFIG_NAMES)}")
    return str(resources.files(__name__) / "configs" / f"{name}.yaml")


def get_config(name: str) -> CfgNode:
    """``get_cfg()`` merged with the config matching torchvision's model ``name``."""
    cfg = get_cfg()
    cfg.merge_from_file(get_config_file(name))
    return cfg


__all__ = ["CONFIG_NAMES", "get_config", "get_config_file"]
