"""``detectron2.utils.registry``: ``modet.core.registry`` under detectron2's module path (the same objects)."""

from modet.core.registry import *  # noqa: F403
from modet.core.registry import convert_target_to_string as _convert_target_to_string  # noqa: F401 (detectron2's spelling)
