"""``detectron2.modeling.proposal_generator.rrpn``: ``modet.modeling.proposal_generator.rrpn`` under detectron2's module path (the same objects)."""

from modet.modeling.proposal_generator.rrpn import *  # noqa: F403
