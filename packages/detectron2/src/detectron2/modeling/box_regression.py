"""``detectron2.modeling.box_regression``: ``modet.modeling.box_regression`` under detectron2's module path (the same objects)."""

from modet.modeling.box_regression import *  # noqa: F403
