"""``detectron2.utils.events``: ``modet.core.events``, ``modet.engine.writers`` under detectron2's module path (the same objects)."""

from modet.core.events import *  # noqa: F403
from modet.engine.writers import *  # noqa: F403
