"""``detectron2.modeling.proposal_generator``: ``modet.modeling.proposal_generator`` under detectron2's module path (the same objects)."""

from modet.modeling.proposal_generator import *  # noqa: F403
