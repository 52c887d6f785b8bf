"""``detectron2.engine``: ``modet.engine`` under detectron2's module path (the same objects)."""

from modet.engine import *  # noqa: F403

# `detectron2.engine.launch` is both a submodule and a function, as in detectron2. Loading the
# submodule in this package's import keeps the name the function: a first import of the submodule
# later on would rebind it to the module.
from .launch import launch  # noqa: F401
