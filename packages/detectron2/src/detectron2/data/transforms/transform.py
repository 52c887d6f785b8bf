"""``detectron2.data.transforms.transform``: ``modet.data.transforms.transform``, ``.photometric``, ``.warp`` under detectron2's module path (the same objects)."""

from modet.data.transforms.photometric import *  # noqa: F403
from modet.data.transforms.transform import *  # noqa: F403
from modet.data.transforms.warp import *  # noqa: F403
