"""What this distribution registers with modet: the head, by name, and its config keys."""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode, section
from modet.core.registry import ComponentRegistry


@hookimpl
def modet_register_components(registry: ComponentRegistry) -> None:
    # Lazy: the head's module (and torch) load only when a config names it.
    registry.register_lazy("roi_box_head", "LightConvFCHead", "modet_lighthead.head:LightConvFCHead")


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    head = section(cfg, "MODEL.ROI_LIGHT_HEAD")
    head.CONV_DIM = 64
    head.NUM_CONV = 2
    head.FC_DIM = 256
    # "" for none, or any name modet.ops.get_norm knows ("GN", "BN", "FrozenBN"…).
    head.NORM = ""
