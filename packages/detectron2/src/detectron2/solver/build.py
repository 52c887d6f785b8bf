"""``detectron2.solver.build``: ``modet.engine.solver.build`` under detectron2's module path (the same objects)."""

from modet.engine.solver.build import *  # noqa: F403
from modet.engine.solver.build import expand_param_groups as _expand_param_groups  # noqa: F401 (detectron2's spelling)
