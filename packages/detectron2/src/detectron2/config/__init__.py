"""``detectron2.config``: ``modet.core.config`` under detectron2's module path (the same objects)."""

from modet.core.config import *  # noqa: F403

# `detectron2.config.instantiate` is both a submodule and a function, as in detectron2. Loading the
# submodule in this package's import keeps the name the function: a first import of the submodule
# later on would rebind it to the module.
from .instantiate import instantiate  # noqa: F401
