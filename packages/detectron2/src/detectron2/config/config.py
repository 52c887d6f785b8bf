"""``detectron2.config.config``: ``modet.core.config.cfgnode``, ``modet.core.config.configurable`` under detectron2's module path (the same objects)."""

from modet.core.config.cfgnode import *  # noqa: F403
from modet.core.config.configurable import *  # noqa: F403
