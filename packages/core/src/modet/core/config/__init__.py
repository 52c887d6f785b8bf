"""Config: detectron2's ``CfgNode`` and ``get_cfg`` (built from every installed plugin), ``@configurable``,
config versions (``upgrade_config``/``downgrade_config``) and LazyConfig (``LazyConfig``, ``LazyCall``,
``instantiate``) on omegaconf."""

from .cfgnode import BASE_KEY, CfgNode, ConfigError, get_cfg, section
from .compat import downgrade_config, upgrade_config
from .configurable import configurable
from .instantiate import dump_dataclass, instantiate
from .lazy import LazyCall, LazyConfig
from .safe_yaml import UnsafeExpressionError, restricted_eval

__all__ = [
    "BASE_KEY",
    "CfgNode",
    "ConfigError",
    "LazyCall",
    "LazyConfig",
    "UnsafeExpressionError",
    "configurable",
    "downgrade_config",
    "dump_dataclass",
    "get_cfg",
    "instantiate",
    "restricted_eval",
    "section",
    "upgrade_config",
]
