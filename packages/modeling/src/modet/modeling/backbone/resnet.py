"""ResNet and ResNeXt backbones with detectron2's module tree (``stem``, ``res2``…``res5``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from modet.core.config import CfgNode
from modet.ops import CNNBlockBase, Conv2d, DeformConv, ModulatedDeformConv, ShapeSpec, get_norm
from modet.ops.weight_init import c2_msra_fill
from modet.ops.wrappers import eager_cpu_inference

from .backbone import Backbone, required_size

__all__ = [
    "BasicBlock",
    "BasicStem",
    "BottleneckBlock",
    "DeformBottleneckBlock",
    "ResNet",
    "ResNetBlockBase",
    "build_resnet_backbone",
    "make_stage",
]

ResNetBlockBase = CNNBlockBase

_BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


def _shortcut(in_channels: int, out_channels: int, stride: int, norm: str | Any) -> Conv2d | None:
    """A 1x1 projection where the block changes width; identity (None) otherwise."""
    if in_channels == out_channels:
        return None
    return Conv2d(
        in_channels, out_channels, kernel_size=1, stride=stride, bias=False, norm=get_norm(norm, out_channels)
    )


def _add_shortcut(block: BasicBlock | _BottleneckBase, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """ReLU(out + shortcut(x)), the shortcut being the identity where the block keeps its width."""
    shortcut = block.shortcut(x) if block.shortcut is not None else x
    out += shortcut  # in place, as detectron2: ``out`` is a fresh convolution or norm output
    return F.relu_(out)


class BasicBlock(CNNBlockBase):
    """Two 3x3 convs with a residual connection (ResNet-18/34)."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, norm: str | Any = "BN") -> None:
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm)
        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            kernel_size=3,
            stride=stride,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        self.conv2 = Conv2d(
            out_channels,
            out_channels,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        for layer in (self.conv1, self.conv2, self.shortcut):
            if layer is not None:
                c2_msra_fill(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = self.conv2(out)
        return _add_shortcut(self, x, out)


class _BottleneckBase(CNNBlockBase):
    """1x1 reduce, 3x3, 1x1 expand, with a residual connection; subclasses choose the 3x3 conv."""

    conv2: nn.Module
    # Set ``self.conv2`` (and any module it needs) for the 3x3 stage; each subclass takes the
    # options of its own 3x3 conv (passed through ``__init__``'s ``conv2_options``).
    _build_conv2: Callable[..., None]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        stride: int,
        num_groups: int,
        norm: str | Any,
        stride_in_1x1: bool,
        dilation: int,
        **conv2_options: Any,
    ) -> None:
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = _shortcut(in_channels, out_channels, stride, norm)
        # MSRA weights put the stride on the first 1x1 conv; Caffe2/torchvision on the 3x3.
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(
            in_channels,
            bottleneck_channels,
            kernel_size=1,
            stride=stride_1x1,
            bias=False,
            norm=get_norm(norm, bottleneck_channels),
        )
        self._build_conv2(
            bottleneck_channels,
            stride=stride_3x3,
            num_groups=num_groups,
            dilation=dilation,
            norm=norm,
            **conv2_options,
        )
        self.conv3 = Conv2d(
            bottleneck_channels, out_channels, kernel_size=1, bias=False, norm=get_norm(norm, out_channels)
        )
        for layer in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if layer is not None:
                c2_msra_fill(layer)

    def _run_conv2(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self._run_conv2(out))
        out = self.conv3(out)
        return _add_shortcut(self, x, out)


class BottleneckBlock(_BottleneckBase):
    """1x1 reduce, 3x3 (grouped, dilated), 1x1 expand, with a residual connection (ResNet-50+)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        stride: int = 1,
        num_groups: int = 1,
        norm: str | Any = "BN",
        stride_in_1x1: bool = False,
        dilation: int = 1,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            bottleneck_channels=bottleneck_channels,
            stride=stride,
            num_groups=num_groups,
            norm=norm,
            stride_in_1x1=stride_in_1x1,
            dilation=dilation,
        )

    def _build_conv2(self, channels: int, *, stride: int, num_groups: int, dilation: int, norm: str | Any) -> None:
        self.conv2 = Conv2d(
            channels,
            channels,
            kernel_size=3,
            stride=stride,
            padding=dilation,
            bias=False,
            groups=num_groups,
            dilation=dilation,
            norm=get_norm(norm, channels),
        )


class DeformBottleneckBlock(_BottleneckBase):
    """A bottleneck block whose 3x3 conv is deformable (v1), or modulated deformable (v2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        stride: int = 1,
        num_groups: int = 1,
        norm: str | Any = "BN",
        stride_in_1x1: bool = False,
        dilation: int = 1,
        deform_modulated: bool = False,
        deform_num_groups: int = 1,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            bottleneck_channels=bottleneck_channels,
            stride=stride,
            num_groups=num_groups,
            norm=norm,
            stride_in_1x1=stride_in_1x1,
            dilation=dilation,
            deform_modulated=deform_modulated,
            deform_num_groups=deform_num_groups,
        )
        # Start as a regular convolution: zero offsets.
        nn.init.constant_(self.conv2_offset.weight, 0)
        if self.conv2_offset.bias is not None:
            nn.init.constant_(self.conv2_offset.bias, 0)

    def _build_conv2(
        self,
        channels: int,
        *,
        stride: int,
        num_groups: int,
        dilation: int,
        norm: str | Any,
        deform_modulated: bool,
        deform_num_groups: int,
    ) -> None:
        self.deform_modulated = deform_modulated
        # 2 offsets (dy, dx) per kernel tap, plus one mask value per tap when modulated.
        offset_channels = 27 if self.deform_modulated else 18
        self.conv2_offset = Conv2d(
            channels,
            offset_channels * deform_num_groups,
            kernel_size=3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
        )
        deform_conv = ModulatedDeformConv if self.deform_modulated else DeformConv
        self.conv2 = deform_conv(
            channels,
            channels,
            kernel_size=3,
            stride=stride,
            padding=dilation,
            bias=False,
            groups=num_groups,
            dilation=dilation,
            deformable_groups=deform_num_groups,
            norm=get_norm(norm, channels),
        )

    def _run_conv2(self, x: torch.Tensor) -> torch.Tensor:
        if self.deform_modulated:
            offset_x, offset_y, mask = torch.chunk(self.conv2_offset(x), 3, dim=1)
            offset = torch.cat((offset_x, offset_y), dim=1)
            return self.conv2(x, offset, mask.sigmoid())
        return self.conv2(x, self.conv2_offset(x))


class BasicStem(CNNBlockBase):
    """7x7 stride-2 conv, ReLU and 3x3 stride-2 max pool: stride 4 overall."""

    def __init__(self, in_channels: int = 3, out_channels: int = 64, norm: str | Any = "BN") -> None:
        super().__init__(in_channels, out_channels, 4)
        self.conv1 = Conv2d(
            in_channels,
            out_channels,
            kernel_size=7,
            stride=2,
            padding=3,
            bias=False,
            norm=get_norm(norm, out_channels),
        )
        c2_msra_fill(self.conv1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu_(self.conv1(x))
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class ResNet(Backbone):
    """A stem followed by stages ``res2``…; returns the features named in ``out_features``."""

    def __init__(
        self,
        stem: CNNBlockBase,
        stages: list[list[CNNBlockBase]],
        num_classes: int | None = None,
        out_features: list[str] | tuple[str, ...] | None = None,
        freeze_at: int = 0,
    ) -> None:
        super().__init__()
        self.stem = stem
        self.num_classes = num_classes
        current_stride = self.stem.stride
        self._out_feature_strides = {"stem": current_stride}
        self._out_feature_channels = {"stem": self.stem.out_channels}
        if out_features is not None:
            # Build only the stages up to the deepest requested output.
            num_stages = max({"res2": 1, "res3": 2, "res4": 3, "res5": 4}.get(f, 0) for f in out_features)
            stages = stages[:num_stages]
        stage_names, self.stages = [], []
        name = "stem"
        for i, blocks in enumerate(stages):
            if len(blocks) == 0:
                raise ValueError(f"ResNet stage res{i + 2} has no blocks")
            for block in blocks:
                if not isinstance(block, CNNBlockBase):
                    raise TypeError(f"ResNet blocks must be CNNBlockBase, got {type(block).__name__}")
            name = f"res{i + 2}"
            stage = nn.Sequential(*blocks)
            self.add_module(name, stage)
            stage_names.append(name)
            self.stages.append(stage)
            current_stride *= math.prod(block.stride for block in blocks)
            self._out_feature_strides[name] = current_stride
            self._out_feature_channels[name] = blocks[-1].out_channels
        self.stage_names = tuple(stage_names)
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.linear = nn.Linear(self._out_feature_channels[name], num_classes)
            # Sec 5.1 of "Accurate, Large Minibatch SGD": zero-mean, std 0.01.
            nn.init.normal_(self.linear.weight, std=0.01)
            name = "linear"
        self._out_features = list(out_features) if out_features is not None else [name]
        children = {n for n, _ in self.named_children()}
        for out_feature in self._out_features:
            if out_feature not in children:
                raise ValueError(f"ResNet has no output {out_feature!r}; available: {sorted(children)}")
        self.freeze(freeze_at)

    def forward(self, x: torch.Tensor, *, keep_channels_last: bool = False) -> dict[str, torch.Tensor]:
        """The outputs named in ``out_features``, NCHW; ``keep_channels_last`` leaves them
        channels-last in CPU inference, for a consumer that reads them faster so (FPN)."""
        if x.dim() != 4:
            raise ValueError(f"ResNet takes an input of shape (N, C, H, W), got shape {tuple(x.shape)}")
        outputs = {}
        # oneDNN runs these convolutions faster on channels-last tensors in CPU inference (same
        # arithmetic, other summation order: about 1e-6 relative); what leaves is NCHW as ever.
        # Training keeps NCHW: its losses stay those of detectron2's layout.
        channels_last = not self.training and eager_cpu_inference(x)
        to_nchw = channels_last and not keep_channels_last
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        if "stem" in self._out_features:
            outputs["stem"] = x.contiguous() if to_nchw else x
        for name, stage in zip(self.stage_names, self.stages):
            x = stage(x)
            if name in self._out_features:
                outputs[name] = x.contiguous() if to_nchw else x
        if self.num_classes is not None:
            x = torch.flatten(self.avgpool(x), 1)
            x = self.linear(x)
            if "linear" in self._out_features:
                outputs["linear"] = x
        return outputs

    def freeze(self, freeze_at: int = 0) -> ResNet:
        """Freeze the stem (``freeze_at >= 1``) and stages res2… up to ``freeze_at``; FrozenBN their norms."""
        if freeze_at >= 1:
            self.stem.freeze()
        for index, stage in enumerate(self.stages, start=2):
            if freeze_at >= index:
                for block in stage.children():
                    cast(CNNBlockBase, block).freeze()  # __init__ checked every block is one
        return self

    @staticmethod
    def make_stage(
        block_class: type[CNNBlockBase], num_blocks: int, *, in_channels: int, out_channels: int, **kwargs: Any
    ) -> list[CNNBlockBase]:
        """``num_blocks`` blocks; a ``<arg>_per_block`` list gives each block its own ``<arg>``."""
        blocks = []
        for i in range(num_blocks):
            block_kwargs = {}
            for key, value in kwargs.items():
                if key.endswith("_per_block"):
                    if len(value) != num_blocks:
                        raise ValueError(f"{key} has {len(value)} values for {num_blocks} blocks")
                    new_key = key[: -len("_per_block")]
                    if new_key in kwargs:
                        raise ValueError(f"both {key} and {new_key} were given")
                    block_kwargs[new_key] = value[i]
                else:
                    block_kwargs[key] = value
            blocks.append(block_class(in_channels=in_channels, out_channels=out_channels, **block_kwargs))
            in_channels = out_channels
        return blocks

    @staticmethod
    def make_default_stages(
        depth: int, block_class: type[CNNBlockBase] | None = None, **kwargs: Any
    ) -> list[list[CNNBlockBase]]:
        """The four stages of a standard ResNet of ``depth`` (torchvision widths, stride on the 3x3)."""
        num_blocks_per_stage = _BLOCKS_PER_STAGE[depth]
        if block_class is None:
            block_class = BasicBlock if depth < 50 else BottleneckBlock
        if depth < 50:
            in_channels, out_channels = [64, 64, 128, 256], [64, 128, 256, 512]
        else:
            in_channels, out_channels = [64, 256, 512, 1024], [256, 512, 1024, 2048]
        stages = []
        for n, s, i, o in zip(num_blocks_per_stage, [1, 2, 2, 2], in_channels, out_channels):
            if depth >= 50:
                kwargs["bottleneck_channels"] = o // 4
            stages.append(
                ResNet.make_stage(
                    block_class=block_class,
                    num_blocks=n,
                    stride_per_block=[s] + [1] * (n - 1),
                    in_channels=i,
                    out_channels=o,
                    **kwargs,
                )
            )
        return stages


make_stage = ResNet.make_stage


def build_resnet_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> ResNet:
    """ResNet/ResNeXt from ``cfg.MODEL.RESNETS`` (DEPTH 18/34/50/101/152, groups, dilation, deform)."""
    resnets = cfg.MODEL.RESNETS
    norm = resnets.NORM
    depth = resnets.DEPTH
    if depth not in _BLOCKS_PER_STAGE:
        raise ValueError(f"MODEL.RESNETS.DEPTH must be one of {sorted(_BLOCKS_PER_STAGE)}, got {depth}")
    in_channels = required_size(input_shape.channels, "build_resnet_backbone: input_shape.channels")
    stem = BasicStem(in_channels=in_channels, out_channels=resnets.STEM_OUT_CHANNELS, norm=norm)
    num_groups = resnets.NUM_GROUPS
    bottleneck_channels = num_groups * resnets.WIDTH_PER_GROUP
    in_channels = resnets.STEM_OUT_CHANNELS
    out_channels = resnets.RES2_OUT_CHANNELS
    res5_dilation = resnets.RES5_DILATION
    deform_on_per_stage = resnets.DEFORM_ON_PER_STAGE
    if res5_dilation not in (1, 2):
        raise ValueError(f"MODEL.RESNETS.RES5_DILATION must be 1 or 2, got {res5_dilation}")
    if depth in (18, 34):
        if out_channels != 64:
            raise ValueError("Must set MODEL.RESNETS.RES2_OUT_CHANNELS = 64 for R18/R34")
        if any(deform_on_per_stage):
            raise ValueError("MODEL.RESNETS.DEFORM_ON_PER_STAGE unsupported for R18/R34")
        if res5_dilation != 1:
            raise ValueError("Must set MODEL.RESNETS.RES5_DILATION = 1 for R18/R34")
        if num_groups != 1:
            raise ValueError("Must set MODEL.RESNETS.NUM_GROUPS = 1 for R18/R34")

    stages = []
    for index, stage_index in enumerate(range(2, 6)):
        num_blocks = _BLOCKS_PER_STAGE[depth][index]
        dilation = res5_dilation if stage_index == 5 else 1
        first_stride = 1 if index == 0 or (stage_index == 5 and dilation == 2) else 2
        stage_kwargs: dict[str, Any] = {
            "num_blocks": num_blocks,
            "stride_per_block": [first_stride] + [1] * (num_blocks - 1),
            "in_channels": in_channels,
            "out_channels": out_channels,
            "norm": norm,
        }
        if depth in (18, 34):
            stage_kwargs["block_class"] = BasicBlock
        else:
            stage_kwargs.update(
                bottleneck_channels=bottleneck_channels,
                stride_in_1x1=resnets.STRIDE_IN_1X1,
                dilation=dilation,
                num_groups=num_groups,
            )
            if deform_on_per_stage[index]:
                stage_kwargs.update(
                    block_class=DeformBottleneckBlock,
                    deform_modulated=resnets.DEFORM_MODULATED,
                    deform_num_groups=resnets.DEFORM_NUM_GROUPS,
                )
            else:
                stage_kwargs["block_class"] = BottleneckBlock
        stages.append(ResNet.make_stage(**stage_kwargs))
        in_channels = out_channels
        out_channels *= 2
        bottleneck_channels *= 2
    return ResNet(stem, stages, out_features=resnets.OUT_FEATURES, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)
