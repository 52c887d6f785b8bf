"""``detectron2.utils.comm`` at the path detectron2 users look for: the helpers of ``modet.core.comm``."""

import modet.core.comm
from modet.core.comm import *  # noqa: F403  (the same objects, one list of names)

__all__ = list(modet.core.comm.__all__)
