"""``detectron2.solver``: ``modet.engine.solver`` under detectron2's module path (the same objects)."""

from modet.engine.solver import *  # noqa: F403
