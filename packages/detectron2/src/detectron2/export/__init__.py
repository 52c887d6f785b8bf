"""``detectron2.export``: ``modet.export`` under detectron2's module path (the same objects)."""

from modet.export import *  # noqa: F403
from modet.export.torchscript import *  # noqa: F403
