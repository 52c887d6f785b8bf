"""``BACKBONE_REGISTRY`` and ``build_backbone``: backbones by ``cfg.MODEL.BACKBONE.NAME``."""

from __future__ import annotations

from modet.core.config import CfgNode
from modet.core.registry import Registry
from modet.ops import ShapeSpec

from .backbone import Backbone

__all__ = ["BACKBONE_REGISTRY", "build_backbone"]

BACKBONE_REGISTRY = Registry("backbone", "BACKBONE")


def build_backbone(cfg: CfgNode, input_shape: ShapeSpec | None = None) -> Backbone:
    """The backbone named by ``cfg.MODEL.BACKBONE.NAME``; input channels default to len(PIXEL_MEAN)."""
    if input_shape is None:
        input_shape = ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN))
    backbone = BACKBONE_REGISTRY.get(cfg.MODEL.BACKBONE.NAME)(cfg, input_shape)
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"backbone builder {cfg.MODEL.BACKBONE.NAME!r} returned {type(backbone).__name__}, not a Backbone"
        )
    return backbone
