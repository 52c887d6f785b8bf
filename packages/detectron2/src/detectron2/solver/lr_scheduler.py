"""``detectron2.solver.lr_scheduler``: ``modet.engine.solver.lr_scheduler`` under detectron2's module path (the same objects)."""

from modet.engine.solver.lr_scheduler import *  # noqa: F403
