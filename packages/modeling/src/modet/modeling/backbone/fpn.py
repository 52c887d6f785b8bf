"""Feature Pyramid Network on a bottom-up backbone, with detectron2's module names and order of operations."""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import nn
from torch.nn import functional as F

from modet.core.config import CfgNode
from modet.ops import Conv2d, ShapeSpec, get_norm
from modet.ops.weight_init import c2_xavier_fill

from .backbone import Backbone, required_size
from .resnet import ResNet, build_resnet_backbone

__all__ = [
    "FPN",
    "LastLevelMaxPool",
    "LastLevelP6P7",
    "build_resnet_fpn_backbone",
    "build_retinanet_resnet_fpn_backbone",
]


class TopBlock(Protocol):
    """What FPN needs of its ``top_block`` (an nn.Module such as LastLevelMaxPool): it adds
    ``num_levels`` outputs computed from the feature named ``in_feature``."""

    num_levels: int
    in_feature: str

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]: ...


def _check_strides_log2_contiguous(strides: list[int]) -> None:
    for i, stride in enumerate(strides[1:], 1):
        if stride != 2 * strides[i - 1]:
            raise ValueError(f"FPN input strides must double from one level to the next, got {strides}")


class FPN(Backbone):
    """Lateral 1x1 convs, a top-down pathway (nearest 2x upsampling), 3x3 output convs, an optional top block.

    Outputs are named ``p<log2(stride)>``: ``p2``…``p5`` (+ ``p6`` or ``p6``, ``p7`` from the top block).
    """

    def __init__(
        self,
        bottom_up: Backbone,
        in_features: list[str],
        out_channels: int,
        norm: str = "",
        top_block: TopBlock | None = None,
        fuse_type: str = "sum",
        square_pad: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(bottom_up, Backbone):
            raise TypeError(f"FPN bottom_up must be a Backbone, got {type(bottom_up).__name__}")
        if not in_features:
            raise ValueError("FPN needs in_features (MODEL.FPN.IN_FEATURES is empty)")
        if fuse_type not in ("avg", "sum"):
            raise ValueError(f"FPN fuse_type must be 'sum' or 'avg', got {fuse_type!r}")
        input_shapes = bottom_up.output_shape()
        missing = [f for f in in_features if f not in input_shapes]
        if missing:
            raise ValueError(
                f"FPN in_features {missing} are not outputs of the bottom-up network {sorted(input_shapes)}"
            )
        strides = [required_size(input_shapes[f].stride, f"FPN: stride of feature {f!r}") for f in in_features]
        _check_strides_log2_contiguous(strides)

        lateral_convs, output_convs = [], []
        use_bias = norm == ""
        for feature, stride in zip(in_features, strides):
            lateral_conv = Conv2d(
                input_shapes[feature].channels,
                out_channels,
                kernel_size=1,
                bias=use_bias,
                norm=get_norm(norm, out_channels),
            )
            output_conv = Conv2d(
                out_channels,
                out_channels,
                kernel_size=3,
                stride=1,
                padding=1,
                bias=use_bias,
                norm=get_norm(norm, out_channels),
                winograd=True,
            )
            c2_xavier_fill(lateral_conv)
            c2_xavier_fill(output_conv)
            stage = int(math.log2(stride))
            self.add_module(f"fpn_lateral{stage}", lateral_conv)
            self.add_module(f"fpn_output{stage}", output_conv)
            lateral_convs.append(lateral_conv)
            output_convs.append(output_conv)
        # Top-down order (coarsest first); plain lists, the modules are registered above.
        self.lateral_convs = lateral_convs[::-1]
        self.output_convs = output_convs[::-1]
        self.top_block = top_block
        self.in_features = tuple(in_features)
        self.bottom_up = bottom_up

        self._out_feature_strides = {f"p{int(math.log2(s))}": s for s in strides}
        if self.top_block is not None:
            last_stage = int(math.log2(strides[-1]))
            for s in range(last_stage, last_stage + self.top_block.num_levels):
                self._out_feature_strides[f"p{s + 1}"] = 2 ** (s + 1)
        self._out_features = list(self._out_feature_strides)
        self._out_feature_channels = {k: out_channels for k in self._out_features}
        self._size_divisibility = strides[-1]
        self._square_pad = square_pad
        self._fuse_type = fuse_type

    @property
    def size_divisibility(self) -> int:
        return self._size_divisibility

    @property
    def padding_constraints(self) -> dict[str, int]:
        return {"square_size": self._square_pad}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # A ResNet's channels-last features (CPU inference) go to the lateral convolutions as they
        # are, which run faster so; the outputs keep the memory layout their convolutions gave
        # them (channels-last from modet's Winograd), which the heads and poolers read fastest.
        # (A subclass with its own forward may not take the keyword.)
        if type(self.bottom_up).forward is ResNet.forward:
            bottom_up_features = self.bottom_up(x, keep_channels_last=True)
        else:
            bottom_up_features = self.bottom_up(x)
        prev_features = self.lateral_convs[0](bottom_up_features[self.in_features[-1]])
        results = [self.output_convs[0](prev_features)]
        for idx in range(1, len(self.lateral_convs)):
            features = bottom_up_features[self.in_features[-idx - 1]]
            top_down_features = F.interpolate(prev_features, scale_factor=2.0, mode="nearest")
            prev_features = self.lateral_convs[idx](features) + top_down_features
            if self._fuse_type == "avg":
                prev_features = prev_features / 2
            results.insert(0, self.output_convs[idx](prev_features))
        if self.top_block is not None:
            if self.top_block.in_feature in bottom_up_features:
                top_block_input = bottom_up_features[self.top_block.in_feature]
            else:
                top_block_input = results[self._out_features.index(self.top_block.in_feature)]
            results.extend(self.top_block(top_block_input))
        return dict(zip(self._out_features, results))


class LastLevelMaxPool(nn.Module):
    """P6 by subsampling P5 (max pool, kernel 1, stride 2), as in the FPN paper for RPN."""

    def __init__(self) -> None:
        super().__init__()
        self.num_levels = 1
        self.in_feature = "p5"

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [F.max_pool2d(x, kernel_size=1, stride=2, padding=0)]


class LastLevelP6P7(nn.Module):
    """P6 and P7 by stride-2 3x3 convs (RetinaNet); P7 takes ReLU(P6)."""

    def __init__(self, in_channels: int, out_channels: int, in_feature: str = "res5") -> None:
        super().__init__()
        self.num_levels = 2
        self.in_feature = in_feature
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)
        for module in (self.p6, self.p7):
            c2_xavier_fill(module)

    def forward(self, c5: torch.Tensor) -> list[torch.Tensor]:
        p6 = self.p6(c5)
        p7 = self.p7(F.relu(p6))
        return [p6, p7]


def build_resnet_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """ResNet + FPN with P6 by max pooling (Faster/Mask R-CNN)."""
    return FPN(
        bottom_up=build_resnet_backbone(cfg, input_shape),
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )


def build_retinanet_resnet_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """ResNet + FPN with P6/P7 convs on res5 (RetinaNet)."""
    bottom_up = build_resnet_backbone(cfg, input_shape)
    out_channels = cfg.MODEL.FPN.OUT_CHANNELS
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=out_channels,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelP6P7(
            required_size(bottom_up.output_shape()["res5"].channels, "FPN: channels of feature 'res5'"), out_channels
        ),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
