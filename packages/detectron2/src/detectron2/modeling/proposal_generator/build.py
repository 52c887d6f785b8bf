"""``detectron2.modeling.proposal_generator.build``: ``modet.modeling.proposal_generator.build`` under detectron2's module path (the same objects)."""

from modet.modeling.proposal_generator.build import *  # noqa: F403
