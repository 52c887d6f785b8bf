"""``PROPOSAL_GENERATOR_REGISTRY`` and ``build_proposal_generator``."""

from __future__ import annotations

from torch import nn

from modet.core.config import CfgNode
from modet.core.registry import Registry
from modet.ops import ShapeSpec

__all__ = ["PROPOSAL_GENERATOR_REGISTRY", "build_proposal_generator"]

PROPOSAL_GENERATOR_REGISTRY = Registry("proposal_generator", "PROPOSAL_GENERATOR")


def build_proposal_generator(cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> nn.Module | None:
    """The generator named by ``cfg.MODEL.PROPOSAL_GENERATOR.NAME``; None for "PrecomputedProposals"."""
    name = cfg.MODEL.PROPOSAL_GENERATOR.NAME
    if name == "PrecomputedProposals":
        return None
    return PROPOSAL_GENERATOR_REGISTRY.get(name)(cfg, input_shape)
