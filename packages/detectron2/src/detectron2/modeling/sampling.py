"""``detectron2.modeling.sampling``: ``modet.modeling.sampling`` under detectron2's module path (the same objects)."""

from modet.modeling.sampling import *  # noqa: F403
