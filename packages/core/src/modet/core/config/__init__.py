"""Config: detectron2's ``CfgNode`` and ``get_cfg`` (built from every installed plugin), ``@configurable``,
value checks, config versions (``upgrade_config``/``downgrade_config``) and LazyConfig (``LazyConfig``,
``LazyCall``, ``instantiate``) on omegaconf."""

from .cfgnode import BASE_KEY, CfgNode, section
from .checks import Check, Each, OneOf, Range
from .compat import downgrade_config, upgrade_config
from .configurable import configurable
from .defaults import config_key_owners, get_cfg
from .errors import ConfigError, ConfigKeyConflictError, ConfigValueError
from .instantiate import dump_dataclass, instantiate
from .lazy import LazyCall, LazyConfig
from .safe_yaml import UnsafeExpressionError, restricted_eval

__all__ = [
    "BASE_KEY",
    "CfgNode",
    "Check",
    "ConfigError",
    "ConfigKeyConflictError",
    "ConfigValueError",
    "Each",
    "LazyCall",
    "LazyConfig",
    "OneOf",
    "Range",
    "UnsafeExpressionError",
    "config_key_owners",
    "configurable",
    "downgrade_config",
    "dump_dataclass",
    "get_cfg",
    "instantiate",
    "restricted_eval",
    "section",
    "upgrade_config",
]
