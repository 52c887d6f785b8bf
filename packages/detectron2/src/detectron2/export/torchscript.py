"""``detectron2.export.torchscript``: ``modet.export.torchscript`` under detectron2's module path (the same objects)."""

from modet.export.torchscript import *  # noqa: F403
