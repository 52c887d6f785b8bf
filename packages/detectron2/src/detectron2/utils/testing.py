"""``detectron2.utils.testing``: ``modet.structures.testing``, ``modet.core.config.testing``, ``modet.model_zoo.testing`` (and ``convert_scripted_instances`` of ``modet.export.torchscript``) under detectron2's module path (the same objects)."""

from modet.core.config.testing import *  # noqa: F403
from modet.export.torchscript import convert_scripted_instances  # noqa: F401
from modet.model_zoo.testing import *  # noqa: F403
from modet.structures.testing import *  # noqa: F403
