"""``detectron2.modeling.proposal_generator.proposal_utils``: ``modet.modeling.proposal_generator.proposal_utils`` under detectron2's module path (the same objects)."""

from modet.modeling.proposal_generator.proposal_utils import *  # noqa: F403
