"""Deformable convolutions (v1 and modulated v2) with detectron2's modules on torchvision.ops."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

__all__ = ["DeformConv", "ModulatedDeformConv"]


def _output_hw(module: _DeformConvBase, x: torch.Tensor) -> list[int]:
    padding, dilation, stride = _pair(module.padding), _pair(module.dilation), _pair(module.stride)
    return [
        (size + 2 * pad - (dil * (k - 1) + 1)) // s + 1
        for size, pad, dil, k, s in zip(x.shape[-2:], padding, dilation, module.kernel_size, stride)
    ]


def _check_deform_inputs(
    module: _DeformConvBase, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None
) -> None:
    name = type(module).__name__
    if x.dim() != 4:
        raise ValueError(f"{name}: `x` must have shape (N, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] != module.in_channels:
        raise ValueError(f"{name}: `x` has {x.shape[1]} channels, expected in_channels={module.in_channels}")
    taps = module.kernel_size[0] * module.kernel_size[1] * module.deformable_groups
    out_hw = _output_hw(module, x)
    expected = (x.shape[0], 2 * taps, *out_hw)
    if tuple(offset.shape) != expected:
        raise ValueError(
            f"{name}: `offset` must have shape {expected} (2 * deformable_groups * kh * kw channels), "
            f"got {tuple(offset.shape)}"
        )
    if mask is not None and tuple(mask.shape) != (x.shape[0], taps, *out_hw):
        raise ValueError(
            f"{name}: `mask` must have shape {(x.shape[0], taps, *out_hw)} (deformable_groups * kh * kw channels), "
            f"got {tuple(mask.shape)}"
        )


class _DeformConvBase(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int | tuple[int, int],
        dilation: int | tuple[int, int],
        groups: int,
        deformable_groups: int,
        norm: nn.Module | None,
        activation: Callable | None,
    ):
        super().__init__()
        if in_channels % groups != 0:
            raise ValueError(f"in_channels {in_channels} cannot be divisible by groups {groups}")
        if out_channels % groups != 0:
            raise ValueError(f"out_channels {out_channels} cannot be divisible by groups {groups}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.deformable_groups = deformable_groups
        self.norm = norm
        self.activation = activation
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")

    def _run(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None, bias) -> torch.Tensor:
        _check_deform_inputs(self, x, offset, mask)
        if x.numel() == 0:
            # Keep the output shape (and the graph) right for empty batches.
            out = x.new_zeros(x.shape[0], self.out_channels, *_output_hw(self, x)) + x.sum() * 0
        else:
            out = deform_conv2d(
                x,
                offset,
                self.weight,
                bias,
                stride=_pair(self.stride),
                padding=_pair(self.padding),
                dilation=_pair(self.dilation),
                mask=mask,
            )
        if self.norm is not None:
            out = self.norm(out)
        if self.activation is not None:
            out = self.activation(out)
        return out

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"deformable_groups={self.deformable_groups}, bias={getattr(self, 'bias', None) is not None}"
        )


class DeformConv(_DeformConvBase):
    """Deformable convolution v1 (Dai et al., 2017): ``forward(x, offset)``.

    ``offset`` has 2 * deformable_groups * kh * kw channels, (dy, dx) per kernel tap, in the
    layout detectron2's and torchvision's kernels share. No bias, as in detectron2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        deformable_groups: int = 1,
        bias: bool = False,
        norm: nn.Module | None = None,
        activation: Callable | None = None,
    ):
        if bias:
            raise ValueError("DeformConv does not support bias=True (as in detectron2); use ModulatedDeformConv")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            _pair(stride),
            _pair(padding),
            _pair(dilation),
            groups,
            deformable_groups,
            norm,
            activation,
        )
        self.bias = None

    def forward(self, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        return self._run(x, offset, None, None)


class ModulatedDeformConv(_DeformConvBase):
    """Modulated deformable convolution v2 (Zhu et al., 2019): ``forward(x, offset, mask)``.

    ``mask`` has deformable_groups * kh * kw channels (usually a sigmoid output).
    """

    bias: nn.Parameter | None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        deformable_groups: int = 1,
        bias: bool = True,
        norm: nn.Module | None = None,
        activation: Callable | None = None,
    ):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            deformable_groups,
            norm,
            activation,
        )
        self.with_bias = bias
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_channels))
        else:
            self.bias = None

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self._run(x, offset, mask, self.bias)
