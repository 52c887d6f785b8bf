"""RegNet and AnyNet backbones (:paper:`dds`, :paper:`scaling`) in pycls's module layout.

Module and parameter names are pycls's as detectron2 keeps them (``stem.conv``, ``s1.b1.f.a_bn``,
``s2.b1.proj``, ``f.se.f_ex.0``…), so pycls and detectron2 RegNet checkpoints load unchanged.
Outputs are ``"stem"`` and the stages ``"s1"``, ``"s2"``…; strides multiply along the way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn

from modet.ops import CNNBlockBase, ShapeSpec, get_norm

from .backbone import Backbone

__all__ = [
    "AnyNet",
    "RegNet",
    "ResBasicBlock",
    "ResBottleneckBlock",
    "ResStem",
    "SimpleStem",
    "VanillaBlock",
]

Norm = str | Callable[[int], nn.Module]
Activation = Callable[[], nn.Module]


def conv2d(w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1, bias: bool = False) -> nn.Conv2d:
    """A k x k convolution padded to keep the size (before striding); k must be odd."""
    if k % 2 != 1:
        raise ValueError(f"RegNet convolutions need an odd kernel size, got {k}")
    return nn.Conv2d(w_in, w_out, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=bias)


def gap2d() -> nn.Module:
    """Global average pooling to 1 x 1."""
    return nn.AdaptiveAvgPool2d((1, 1))


def pool2d(k: int, *, stride: int = 1) -> nn.Module:
    """A k x k max pooling padded to keep the size (before striding); k must be odd."""
    if k % 2 != 1:
        raise ValueError(f"RegNet pooling needs an odd kernel size, got {k}")
    return nn.MaxPool2d(k, stride=stride, padding=(k - 1) // 2)


def init_weights(m: nn.Module) -> None:
    """pycls's ResNet-style initialisation: He-normal convs (fan-out), unit BatchNorm, small linear layers."""
    if isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
        m.weight.data.normal_(mean=0.0, std=math.sqrt(2.0 / fan_out))
    elif isinstance(m, nn.BatchNorm2d):
        m.weight.data.fill_(1.0)
        m.bias.data.zero_()
    elif isinstance(m, nn.Linear):
        m.weight.data.normal_(mean=0.0, std=0.01)
        m.bias.data.zero_()


class _Sequence(CNNBlockBase):
    """A block whose children run one after the other."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


class ResStem(_Sequence):
    """ResNet's ImageNet stem: 7x7 conv (stride 2), norm, activation, 3x3 max pool (stride 2)."""

    def __init__(self, w_in: int, w_out: int, norm: Norm, activation_class: Activation) -> None:
        super().__init__(w_in, w_out, 4)
        self.conv = conv2d(w_in, w_out, 7, stride=2)
        self.bn = get_norm(norm, w_out)
        self.af = activation_class()
        self.pool = pool2d(3, stride=2)


class SimpleStem(_Sequence):
    """RegNet's stem: 3x3 conv (stride 2), norm, activation."""

    def __init__(self, w_in: int, w_out: int, norm: Norm, activation_class: Activation) -> None:
        super().__init__(w_in, w_out, 2)
        self.conv = conv2d(w_in, w_out, 3, stride=2)
        self.bn = get_norm(norm, w_out)
        self.af = activation_class()


class SE(nn.Module):
    """Squeeze-and-excitation: global pool, 1x1 conv, activation, 1x1 conv, sigmoid gate."""

    def __init__(self, w_in: int, w_se: int, activation_class: Activation) -> None:
        super().__init__()
        self.avg_pool = gap2d()
        self.f_ex = nn.Sequential(
            conv2d(w_in, w_se, 1, bias=True), activation_class(), conv2d(w_se, w_in, 1, bias=True), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.f_ex(self.avg_pool(x))


class VanillaBlock(_Sequence):
    """Two [3x3 conv, norm, activation] without a shortcut."""

    def __init__(
        self, w_in: int, w_out: int, stride: int, norm: Norm, activation_class: Activation, _params: dict[str, Any]
    ) -> None:
        super().__init__(w_in, w_out, stride)
        self.a = conv2d(w_in, w_out, 3, stride=stride)
        self.a_bn = get_norm(norm, w_out)
        self.a_af = activation_class()
        self.b = conv2d(w_out, w_out, 3)
        self.b_bn = get_norm(norm, w_out)
        self.b_af = activation_class()


class BasicTransform(nn.Module):
    """The residual branch of :class:`ResBasicBlock`: [3x3 conv, norm, activation], 3x3 conv, norm."""

    def __init__(
        self, w_in: int, w_out: int, stride: int, norm: Norm, activation_class: Activation, _params: dict[str, Any]
    ) -> None:
        super().__init__()
        self.a = conv2d(w_in, w_out, 3, stride=stride)
        self.a_bn = get_norm(norm, w_out)
        self.a_af = activation_class()
        self.b = conv2d(w_out, w_out, 3)
        self.b_bn = get_norm(norm, w_out)
        if self.b_bn is not None:  # no norm layer when norm is ""
            # pycls's marker of a residual branch's last norm; torch types Module.__setattr__'s value
            # as Tensor | Module, but any value is stored as a plain attribute
            self.b_bn.final_bn = True  # type: ignore[assignment]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


class _Residual(CNNBlockBase):
    """x + f(x) with a 1x1 projection shortcut (``proj``, ``bn``) when the shape changes."""

    f: nn.Module  # the residual branch, set by the subclass
    af: nn.Module  # the activation after the sum, set by the subclass

    def __init__(self, w_in: int, w_out: int, stride: int, norm: Norm, activation_class: Activation) -> None:
        super().__init__(w_in, w_out, stride)
        self.proj: nn.Module | None = None
        self.bn: nn.Module | None = None
        if w_in != w_out or stride != 1:
            self.proj = conv2d(w_in, w_out, 1, stride=stride)
            self.bn = get_norm(norm, w_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        if self.proj is not None:
            shortcut = self.proj(x)
            if self.bn is not None:
                shortcut = self.bn(shortcut)
        return self.af(shortcut + self.f(x))


class ResBasicBlock(_Residual):
    """Residual basic block: x + [3x3, 3x3](x)."""

    def __init__(
        self, w_in: int, w_out: int, stride: int, norm: Norm, activation_class: Activation, params: dict[str, Any]
    ) -> None:
        super().__init__(w_in, w_out, stride, norm, activation_class)
        self.f = BasicTransform(w_in, w_out, stride, norm, activation_class, params)
        self.af = activation_class()


class BottleneckTransform(nn.Module):
    """The residual branch of :class:`ResBottleneckBlock`: 1x1, grouped 3x3 [+ SE], 1x1, each normed."""

    def __init__(
        self, w_in: int, w_out: int, stride: int, norm: Norm, activation_class: Activation, params: dict[str, Any]
    ) -> None:
        super().__init__()
        w_b = round(w_out * params["bot_mul"])
        w_se = round(w_in * params["se_r"])
        groups = w_b // params["group_w"]
        self.a = conv2d(w_in, w_b, 1)
        self.a_bn = get_norm(norm, w_b)
        self.a_af = activation_class()
        self.b = conv2d(w_b, w_b, 3, stride=stride, groups=groups)
        self.b_bn = get_norm(norm, w_b)
        self.b_af = activation_class()
        # The squeeze width follows the block's input width (pycls's convention).
        self.se = SE(w_b, w_se, activation_class) if w_se else None
        self.c = conv2d(w_b, w_out, 1)
        self.c_bn = get_norm(norm, w_out)
        if self.c_bn is not None:
            self.c_bn.final_bn = True  # type: ignore[assignment]  # as b_bn's in BasicTransform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


class ResBottleneckBlock(_Residual):
    """Residual bottleneck block: x + [1x1, grouped 3x3 (+ SE), 1x1](x)."""

    def __init__(
        self, w_in: int, w_out: int, stride: int, norm: Norm, activation_class: Activation, params: dict[str, Any]
    ) -> None:
        super().__init__(w_in, w_out, stride, norm, activation_class)
        self.f = BottleneckTransform(w_in, w_out, stride, norm, activation_class, params)
        self.af = activation_class()


class AnyStage(nn.Module):
    """``d`` blocks ``b1``… of width ``w_out``; the first one strides and changes the width."""

    def __init__(
        self,
        w_in: int,
        w_out: int,
        stride: int,
        d: int,
        block_class: Callable[..., CNNBlockBase],
        norm: Norm,
        activation_class: Activation,
        params: dict[str, Any],
    ) -> None:
        super().__init__()
        for i in range(d):
            self.add_module(f"b{i + 1}", block_class(w_in, w_out, stride, norm, activation_class, params))
            stride, w_in = 1, w_out

    def blocks(self) -> list[CNNBlockBase]:
        """The blocks b1…, in order."""
        return [cast(CNNBlockBase, block) for block in self.children()]  # only block_class's are added

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.children():
            x = block(x)
        return x


class AnyNet(Backbone):
    """AnyNet (:paper:`dds`): a stem, then stages ``s1``… each given its depth, width, stride,
    group width and bottleneck ratio."""

    def __init__(
        self,
        *,
        stem_class: Callable[..., CNNBlockBase],
        stem_width: int,
        block_class: Callable[..., CNNBlockBase],
        depths: list[int],
        widths: list[int],
        group_widths: list[int],
        strides: list[int],
        bottleneck_ratios: list[float],
        se_ratio: float,
        activation_class: Activation,
        freeze_at: int = 0,
        norm: Norm = "BN",
        out_features: list[str] | None = None,
    ) -> None:
        """
        Args:
            stem_class: ``stem_class(3, stem_width, norm, activation_class)`` builds the stem.
            block_class: ``block_class(w_in, w_out, stride, norm, activation_class, params)`` builds a
                block, ``params`` holding ``bot_mul``, ``group_w`` and ``se_r``.
            depths, widths, group_widths, strides, bottleneck_ratios: one value per stage.
            se_ratio: squeeze-and-excitation width over the block input width (0: no SE).
            activation_class: builds an activation module.
            freeze_at: freeze the stem (1) and the first ``freeze_at - 1`` stages (see :meth:`freeze`).
            norm: normalisation of every conv (see :func:`modet.ops.get_norm`).
            out_features: outputs among ``"stem"``, ``"s1"``…; default the last stage.
        """
        super().__init__()
        per_stage: list[list[int] | list[float]] = [depths, widths, strides, bottleneck_ratios, group_widths]
        if len({len(x) for x in per_stage}) != 1:
            raise ValueError(
                "AnyNet needs one value per stage in depths, widths, strides, bottleneck_ratios and group_widths, "
                f"got lengths {[len(x) for x in per_stage]}"
            )
        self.stem = stem_class(3, stem_width, norm, activation_class)

        current_stride = self.stem.stride
        self._out_feature_strides = {"stem": current_stride}
        self._out_feature_channels = {"stem": self.stem.out_channels}
        self.stages_and_names: list[tuple[AnyStage, str]] = []
        prev_w = stem_width
        name = "stem"
        for i, (d, w, s, b, g) in enumerate(zip(depths, widths, strides, bottleneck_ratios, group_widths)):
            params = {"bot_mul": b, "group_w": g, "se_r": se_ratio}
            stage = AnyStage(prev_w, w, s, d, block_class, norm, activation_class, params)
            name = f"s{i + 1}"
            self.add_module(name, stage)
            self.stages_and_names.append((stage, name))
            current_stride = int(current_stride * math.prod(block.stride for block in stage.blocks()))
            self._out_feature_strides[name] = current_stride
            self._out_feature_channels[name] = stage.blocks()[-1].out_channels
            prev_w = w

        self.apply(init_weights)

        self._out_features = list(out_features) if out_features is not None else [name]
        if not self._out_features:
            raise ValueError("AnyNet out_features must not be empty")
        children = [x[0] for x in self.named_children()]
        for out_feature in self._out_features:
            if out_feature not in children:
                raise ValueError(f"AnyNet out_features names {out_feature!r}; available: {', '.join(children)}")
        self.freeze(freeze_at)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``out_features`` of an (N, C, H, W) batch."""
        if x.dim() != 4:
            raise ValueError(f"AnyNet takes an input of shape (N, C, H, W), got {tuple(x.shape)}")
        outputs = {}
        x = self.stem(x)
        if "stem" in self._out_features:
            outputs["stem"] = x
        for stage, name in self.stages_and_names:
            x = stage(x)
            if name in self._out_features:
                outputs[name] = x
        return outputs

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {
            name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
            for name in self._out_features
        }

    def freeze(self, freeze_at: int = 0) -> AnyNet:
        """Freeze the stem (``freeze_at >= 1``) and stages s1… up to ``freeze_at - 1``: no gradients, and
        their BatchNorms become FrozenBatchNorm2d. Returns the model itself."""
        if freeze_at >= 1:
            self.stem.freeze()
        for idx, (stage, _) in enumerate(self.stages_and_names, start=2):
            if freeze_at >= idx:
                for block in stage.blocks():
                    block.freeze()
        return self


def adjust_block_compatibility(
    ws: list[int], bs: list[float], gs: list[int]
) -> tuple[list[int], list[float], list[int]]:
    """Make each stage's width, bottleneck ratio and group width consistent: the bottleneck width
    becomes a multiple of the group width (pycls)."""
    if not len(ws) == len(bs) == len(gs):
        raise ValueError(f"widths, bottleneck ratios and group widths differ in length: {ws}, {bs}, {gs}")
    if not all(w > 0 and b > 0 and g > 0 for w, b, g in zip(ws, bs, gs)):
        raise ValueError(f"widths, bottleneck ratios and group widths must be positive: {ws}, {bs}, {gs}")
    vs = [int(max(1, w * b)) for w, b in zip(ws, bs)]
    gs = [int(min(g, v)) for g, v in zip(gs, vs)]
    ms = [math.lcm(g, int(b)) if b > 1 else g for g, b in zip(gs, bs)]
    vs = [max(m, int(round(v / m) * m)) for v, m in zip(vs, ms)]
    ws = [int(v / b) for v, b in zip(vs, bs)]
    if not all(w * b % g == 0 for w, b, g in zip(ws, bs, gs)):
        raise ValueError(f"could not make widths {ws} x bottlenecks {bs} divisible by group widths {gs}")
    return ws, bs, gs


def generate_regnet_parameters(
    w_a: float, w_0: int, w_m: float, d: int, q: int = 8
) -> tuple[list[int], list[int], int, float, list[int], list[float]]:
    """Per-stage widths and depths of a RegNet (:paper:`dds` §3.3): block j has width w_0 + w_a * j,
    quantised to w_0 * w_m**k rounded to a multiple of ``q``; equal widths form a stage.

    Returns (stage widths, stage depths, number of stages, possible stages, per-block quantised
    widths, per-block continuous widths).
    """
    if not (w_a >= 0 and w_0 > 0 and w_m > 1 and w_0 % q == 0):
        raise ValueError(f"RegNet needs w_a >= 0, w_0 > 0, w_m > 1 and w_0 a multiple of {q}; got {w_a}, {w_0}, {w_m}")
    ws_cont = [j * w_a + w_0 for j in range(d)]
    # round() is round-half-even, like numpy's np.round that pycls uses.
    ks = [round(math.log(w / w_0) / math.log(w_m)) for w in ws_cont]
    ws_all = [round(w_0 * w_m**k / q) * q for k in ks]
    ws = sorted(set(ws_all))
    ds = [ws_all.count(w) for w in ws]
    return ws, ds, len(ws), float(max(ks) + 1), ws_all, ws_cont


class RegNet(AnyNet):
    """RegNet (:paper:`dds`): an :class:`AnyNet` whose stage widths and depths follow from
    (``depth``, ``w_a``, ``w_0``, ``w_m``) and share one stride, group width and bottleneck ratio."""

    def __init__(
        self,
        *,
        stem_class: Callable[..., CNNBlockBase],
        stem_width: int,
        block_class: Callable[..., CNNBlockBase],
        depth: int,
        w_a: float,
        w_0: int,
        w_m: float,
        group_width: int,
        stride: int = 2,
        bottleneck_ratio: float = 1.0,
        se_ratio: float = 0.0,
        activation_class: Activation | None = None,
        freeze_at: int = 0,
        norm: Norm = "BN",
        out_features: list[str] | None = None,
    ) -> None:
        """
        Args:
            depth: total number of blocks.
            w_a, w_0, w_m: the width parameters of :paper:`dds` §3.3 (slope, initial width, quantisation).
            group_width: channels per group of the grouped 3x3 convs.
            stride: of every stage. bottleneck_ratio: bottleneck over block width.
            activation_class: default ``nn.ReLU(inplace=True)``.
            Other arguments are :class:`AnyNet`'s.
        """
        ws, ds = generate_regnet_parameters(w_a, w_0, w_m, depth)[0:2]
        ws, bs, gs = adjust_block_compatibility(ws, [bottleneck_ratio] * len(ws), [group_width] * len(ws))
        super().__init__(
            stem_class=stem_class,
            stem_width=stem_width,
            block_class=block_class,
            depths=ds,
            widths=ws,
            strides=[stride] * len(ws),
            group_widths=gs,
            bottleneck_ratios=bs,
            se_ratio=se_ratio,
            activation_class=activation_class or _relu_inplace,
            freeze_at=freeze_at,
            norm=norm,
            out_features=out_features,
        )


def _relu_inplace() -> nn.Module:
    return nn.ReLU(inplace=True)
