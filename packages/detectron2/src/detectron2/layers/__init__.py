"""``detectron2.layers``: ``modet.ops`` under detectron2's module path (the same objects)."""

from modet.ops import *  # noqa: F403

# `nms`, `roi_align` and `roi_align_rotated` are both submodules and functions, as in detectron2.
# Loading the submodules in this package's import keeps each name the function: a first import of
# the submodule later on would rebind it to the module.
from .nms import nms  # noqa: F401
from .roi_align import roi_align  # noqa: F401
from .roi_align_rotated import roi_align_rotated  # noqa: F401
