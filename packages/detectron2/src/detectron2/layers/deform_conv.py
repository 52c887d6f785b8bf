"""``detectron2.layers.deform_conv``: ``modet.ops.deform_conv`` under detectron2's module path (the same objects)."""

from modet.ops.deform_conv import *  # noqa: F403
