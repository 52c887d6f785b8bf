"""Backbones: the ``Backbone`` base, ResNet/ResNeXt, RegNet, FPN, and ``build_backbone``."""

from .backbone import Backbone
from .build import BACKBONE_REGISTRY, build_backbone
from .fpn import FPN, LastLevelMaxPool, LastLevelP6P7, build_resnet_fpn_backbone, build_retinanet_resnet_fpn_backbone
from .regnet import RegNet
from .resnet import (
    BasicBlock,
    BasicStem,
    BottleneckBlock,
    DeformBottleneckBlock,
    ResNet,
    ResNetBlockBase,
    build_resnet_backbone,
    make_stage,
)

__all__ = [
    "BACKBONE_REGISTRY",
    "FPN",
    "Backbone",
    "BasicBlock",
    "BasicStem",
    "BottleneckBlock",
    "DeformBottleneckBlock",
    "LastLevelMaxPool",
    "LastLevelP6P7",
    "RegNet",
    "ResNet",
    "ResNetBlockBase",
    "build_backbone",
    "build_resnet_backbone",
    "build_resnet_fpn_backbone",
    "build_retinanet_resnet_fpn_backbone",
    "make_stage",
]
