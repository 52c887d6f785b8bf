"""torchvision's classification networks as modet ``Backbone``s.

Every family is cut into stages where its stride doubles, and the last module at strides 4,
8, 16 and 32 gives ``res2``…``res5`` — the names detectron2's FPN and heads expect, so a
config swaps ResNet for ConvNeXt by changing ``MODEL.TORCHVISION.ARCH`` only.
"""

from __future__ import annotations

from typing import Any

import torch
import torchvision
from torch import nn

from modet.core.config import CfgNode
from modet.modeling.backbone import FPN, Backbone
from modet.modeling.backbone.fpn import LastLevelMaxPool
from modet.ops import FrozenBatchNorm2d, ShapeSpec

STAGE_NAMES = {4: "res2", 8: "res3", 16: "res4", 32: "res5"}
_PROBE_SIZE = 64


def _family(arch: str) -> str:
    for prefix in ("resnet", "resnext", "wide_resnet", "mobilenet_v3", "regnet", "convnext", "efficientnet", "swin"):
        if arch.startswith(prefix):
            return "resnet" if prefix in ("resnext", "wide_resnet") else prefix
    raise ValueError(
        f"MODEL.TORCHVISION.ARCH {arch!r} is not a supported torchvision backbone; use a ResNet/ResNeXt, "
        "MobileNetV3, RegNet, ConvNeXt, EfficientNet or Swin architecture name"
    )


def _layers(model: Any, family: str) -> list[nn.Module]:
    """The network as a flat sequence whose outputs can be tapped (``model``: a torchvision
    classifier, whose attributes depend on its family)."""
    if family == "resnet":
        stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
        return [stem, model.layer1, model.layer2, model.layer3, model.layer4]
    if family == "regnet":
        return [model.stem, *model.trunk_output]
    return list(model.features)


class _ToChannelsFirst(nn.Module):
    """Swin works on (N, H, W, C); modet's heads on (N, C, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)


class _ToChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class TorchvisionBackbone(Backbone):
    """A torchvision classifier's feature layers, returning ``res2``…``res5`` (those asked for)."""

    def __init__(self, arch: str, out_features: list[str], norm: str = "FrozenBN", freeze_at: int = 0) -> None:
        super().__init__()
        family = _family(arch)
        try:
            builder = getattr(torchvision.models, arch)
        except AttributeError:
            raise ValueError(f"torchvision.models has no architecture {arch!r}") from None
        model = builder(weights=None)
        if norm == "FrozenBN":
            model = FrozenBatchNorm2d.convert_frozen_batchnorm(model)
        elif norm not in ("BN", ""):
            raise ValueError(f"MODEL.TORCHVISION.NORM must be 'FrozenBN' or 'BN', got {norm!r}")
        self.arch = arch
        self._channels_last = family == "swin"
        layers = _layers(model, family)
        self._stages, shapes = self._split_into_stages(layers)
        unknown = [f for f in out_features if f not in shapes]
        if unknown:
            raise ValueError(f"MODEL.TORCHVISION.OUT_FEATURES {unknown} not in {arch}'s outputs {sorted(shapes)}")
        self._out_features = list(out_features)
        self._out_feature_channels = {name: shapes[name][0] for name in out_features}
        self._out_feature_strides = {name: shapes[name][1] for name in out_features}
        last = max(list(STAGE_NAMES.values()).index(f) for f in out_features)
        self.stages = nn.ModuleDict(dict(list(self._stages.items())[: last + 1]))
        self.freeze(freeze_at)

    def _split_into_stages(
        self, layers: list[nn.Module]
    ) -> tuple[dict[str, nn.Sequential], dict[str, tuple[int, int]]]:
        """Group layers into res2..res5 by probing the stride of each layer's output once; returns the
        stages and the (channels, stride) of each."""
        probe = torch.zeros(1, 3, _PROBE_SIZE, _PROBE_SIZE)
        strides, channels = [], []
        modes = [layer.training for layer in layers]
        with torch.no_grad():
            for layer in layers:
                probe = layer.eval()(probe)
                height, width_channels = (
                    (probe.shape[1], probe.shape[3]) if self._channels_last else probe.shape[2:0:-1]
                )
                strides.append(_PROBE_SIZE // height)
                channels.append(int(width_channels))
        for layer, mode in zip(layers, modes):
            layer.train(mode)
        stages: dict[str, nn.Sequential] = {}
        shapes: dict[str, tuple[int, int]] = {}
        start = 0
        for i, stride in enumerate(strides):
            ends_here = i + 1 == len(strides) or strides[i + 1] != stride
            if stride not in STAGE_NAMES or not ends_here:
                continue
            modules = layers[start : i + 1]
            if self._channels_last:
                modules = ([_ToChannelsLast()] if stages else []) + modules + [_ToChannelsFirst()]
            stages[STAGE_NAMES[stride]] = nn.Sequential(*modules)
            shapes[STAGE_NAMES[stride]] = (channels[i], stride)
            start = i + 1
        return stages, shapes

    def freeze(self, freeze_at: int = 0) -> TorchvisionBackbone:
        """Freeze the first ``freeze_at`` stages (1 = up to res2), as ResNet's FREEZE_AT does."""
        for index, stage in enumerate(self.stages.values(), start=1):
            if index < freeze_at:
                for p in stage.parameters():
                    p.requires_grad_(False)
        return self

    @property
    def size_divisibility(self) -> int:
        return 32

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{self.arch} backbone takes (N, 3, H, W) images, got shape {tuple(x.shape)}")
        outputs = {}
        for name, stage in self.stages.items():
            x = stage(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
            for name in self._out_features
        }


def build_torchvision_backbone(cfg: CfgNode, input_shape: ShapeSpec | None = None) -> TorchvisionBackbone:
    tv = cfg.MODEL.TORCHVISION
    return TorchvisionBackbone(tv.ARCH, list(tv.OUT_FEATURES), norm=tv.NORM, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


def build_torchvision_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec | None = None) -> FPN:
    """torchvision bottom-up + detectron2's FPN (``MODEL.FPN.*``) with a max-pooled p6."""
    return FPN(
        bottom_up=build_torchvision_backbone(cfg, input_shape),
        in_features=list(cfg.MODEL.FPN.IN_FEATURES),
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
