"""``detectron2.modeling.proposal_generator.rpn``: ``modet.modeling.proposal_generator.rpn`` under detectron2's module path (the same objects)."""

from modet.modeling.proposal_generator.rpn import *  # noqa: F403
