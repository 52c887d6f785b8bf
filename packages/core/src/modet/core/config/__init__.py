"""Config: detectron2's ``CfgNode``, ``get_cfg`` built from every installed plugin, ``@configurable``."""

from .cfgnode import BASE_KEY, CfgNode, ConfigError, get_cfg, section
from .configurable import configurable
from .safe_yaml import UnsafeExpressionError, restricted_eval

__all__ = [
    "BASE_KEY",
    "CfgNode",
    "ConfigError",
    "UnsafeExpressionError",
    "configurable",
    "get_cfg",
    "restricted_eval",
    "section",
]
