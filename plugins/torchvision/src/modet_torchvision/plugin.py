"""What modet-torchvision registers: backbones, torchvision's anchors, config keys, a checkpoint format."""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode, section
from modet.core.registry import ComponentRegistry

_PKG = "modet_torchvision"


@hookimpl
def modet_register_components(registry: ComponentRegistry) -> None:
    registry.register_lazy("backbone", "build_torchvision_backbone", f"{_PKG}.backbones:build_torchvision_backbone")
    registry.register_lazy(
        "backbone", "build_torchvision_fpn_backbone", f"{_PKG}.backbones:build_torchvision_fpn_backbone"
    )
    registry.register_lazy(
        "backbone", "build_retinanet_resnet_fpn_p5_backbone", f"{_PKG}.compat:build_retinanet_resnet_fpn_p5_backbone"
    )
    registry.register_lazy(
        "anchor_generator", "TorchvisionAnchorGenerator", f"{_PKG}.compat:TorchvisionAnchorGenerator"
    )


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    tv = section(cfg, "MODEL.TORCHVISION")
    # any torchvision.models name of a ResNet/ResNeXt, MobileNetV3, RegNet, ConvNeXt, EfficientNet or Swin
    tv.ARCH = "resnet50"
    tv.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    # "FrozenBN" freezes batch statistics as detectron2 does for fine-tuning; "BN" trains them
    tv.NORM = "FrozenBN"


@hookimpl
def modet_checkpoint_formats() -> list:
    # deferred: every `modet` command imports this plugin; the format loads when it is used
    from .formats import TORCHVISION_DETECTION_FORMAT

    return [TORCHVISION_DETECTION_FORMAT]
