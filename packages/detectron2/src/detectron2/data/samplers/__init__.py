"""``detectron2.data.samplers``: ``modet.data.samplers`` under detectron2's module path (the same objects)."""

from modet.data.samplers import *  # noqa: F403
