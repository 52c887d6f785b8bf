"""``detectron2.utils.testing``: ``modet.structures.testing``, ``modet.core.config.testing``, ``modet.model_zoo.testing`` under detectron2's module path (the same objects)."""

from modet.core.config.testing import *  # noqa: F403
from modet.model_zoo.testing import *  # noqa: F403
from modet.structures.testing import *  # noqa: F403
