"""``detectron2.solver.build``: ``modet.engine.solver.build`` under detectron2's module path (the same objects)."""

from modet.engine.solver.build import *  # noqa: F403
