"""``detectron2.utils.file_io``: ``modet.checkpoint.path_manager`` under detectron2's module path (the same objects)."""

from modet.checkpoint.path_manager import *  # noqa: F403
