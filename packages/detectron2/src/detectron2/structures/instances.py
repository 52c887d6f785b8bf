"""``detectron2.structures.instances``: ``modet.structures.instances`` under detectron2's module path (the same objects)."""

from modet.structures.instances import *  # noqa: F403
