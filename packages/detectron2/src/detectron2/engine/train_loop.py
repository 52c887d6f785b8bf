"""``detectron2.engine.train_loop``: ``modet.engine.train_loop`` under detectron2's module path (the same objects)."""

from modet.engine.train_loop import *  # noqa: F403
