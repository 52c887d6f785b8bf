"""Thin wrappers around ``torch.nn`` layers and functions, with detectron2's extra features.

``Conv2d`` takes ``norm`` and ``activation``; the helpers keep tracing and empty tensors
working the way detectron2 code expects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from modet.ops.winograd import winograd_conv3x3
from modet.structures.tracing import is_exporting

__all__ = [
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Linear",
    "cat",
    "cross_entropy",
    "empty_input_loss_func_wrapper",
    "interpolate",
    "is_exporting",
    "move_device_like",
    "nonzero_tuple",
    "shapes_to_tensor",
]


def shapes_to_tensor(x: Sequence[int | torch.Tensor], device: torch.device | None = None) -> torch.Tensor:
    """Turn a list of ints (or scalar tensors while tracing) into a 1-d tensor."""
    if torch.jit.is_tracing():
        tensors = [t for t in x if isinstance(t, torch.Tensor)]
        if len(tensors) != len(x):
            raise TypeError("shapes_to_tensor: every element of `x` must be a Tensor while tracing")
        stacked = torch.stack(tensors)
        return stacked if stacked.device == device or device is None else stacked.to(device=device)
    return torch.as_tensor(x, device=device)


def cat(tensors: Sequence[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """``torch.cat`` that skips the copy when there is a single tensor."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"cat: `tensors` must be a list or tuple of tensors, got {type(tensors).__name__}")
    if len(tensors) == 1:
        return tensors[0]
    return torch.cat(tensors, dim)


def empty_input_loss_func_wrapper(loss_func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Wrap a loss so that a mean over an empty target is 0 (connected to the graph), not NaN."""

    def wrapped_loss_func(input, target, *, reduction="mean", **kwargs):
        if target.numel() == 0 and reduction == "mean":
            return input.sum() * 0.0
        return loss_func(input, target, reduction=reduction, **kwargs)

    wrapped_loss_func.__name__ = getattr(loss_func, "__name__", "wrapped_loss_func")
    wrapped_loss_func.__doc__ = "Same as `loss_func`, but returns 0 (instead of nan) for empty inputs."
    return wrapped_loss_func


cross_entropy = empty_input_loss_func_wrapper(F.cross_entropy)


class Conv2d(nn.Conv2d):
    """``torch.nn.Conv2d`` with optional ``norm`` (a module) and ``activation`` (a callable).

    The norm runs before the activation. The norm is a submodule named ``norm`` so that
    state_dict keys match detectron2's (``conv.norm.weight``...). ``winograd=True`` lets a 3x3
    stride-1 convolution run NNPACK's Winograd transform in CPU inference (see ``_convolve``).
    """

    def __init__(
        self,
        *args,
        norm: nn.Module | None = None,
        activation: Callable | None = None,
        winograd: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation
        self.winograd = winograd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"Conv2d expects input of shape (N, C, H, W), got shape {tuple(x.shape)}")
        if self.training and isinstance(self.norm, nn.SyncBatchNorm) and x.numel() == 0:
            raise ValueError("SyncBatchNorm does not support empty inputs in training")
        fixed_affine = getattr(self.norm, "scale_and_shift", None)
        if fixed_affine is not None:
            # A frozen norm is a fixed per-channel affine map: folded into the convolution it
            # costs no pass over the output (same result up to float rounding).
            scale, shift = fixed_affine()
            if scale.shape[0] != self.out_channels:
                raise ValueError(f"Conv2d with {self.out_channels} output channels has a norm of {scale.shape[0]}")
            weight = self.weight * scale.reshape(-1, 1, 1, 1).to(self.weight.dtype)
            bias = shift if self.bias is None else self.bias * scale + shift
            x = self._convolve(x, weight, bias.to(weight.dtype))
        else:
            x = self._convolve(x, self.weight, self.bias)
            if self.norm is not None:
                x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def _convolve(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        padding = self.padding
        if self.winograd and not isinstance(padding, str):
            # Winograd's transform: 2-4x fewer multiplications for 3x3 stride-1 kernels, the same
            # result up to float rounding (about 1e-5 relative); torch itself prefers oneDNN. modet's
            # heads and FPN turn it on; a ResNet does not: through its fifty layers the rounding
            # grows until proposal corners move by more than 1e-2 px.
            algorithm = _winograd_algorithm(x, weight, self)
            if algorithm == "modet":
                return winograd_conv3x3(x, weight, bias, (padding[0], padding[1]))
            if algorithm == "nnpack":
                return _nnpack_convolution(x, weight, bias, list(padding))
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def _nnpack_convolution(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: list[int]
) -> torch.Tensor:
    """NNPACK's convolution, image by image on image-sized maps: its batch algorithm is about 3x
    slower there than its single-image one (and rounds otherwise, so a batch gave other numbers
    than its images alone). Batches of small region maps (the heads' 14x14) stay one call."""
    x = x.contiguous()  # NNPACK reads NCHW
    if x.shape[0] > 1 and x.shape[-2] * x.shape[-1] >= _LARGE_MAP_AREA:
        return torch.cat(
            [torch._nnpack_spatial_convolution(image, weight, bias, padding, [1, 1]) for image in x.split(1)]
        )
    return torch._nnpack_spatial_convolution(x, weight, bias, padding, [1, 1])


def _winograd_algorithm(x: torch.Tensor, weight: torch.Tensor, conv: nn.Conv2d) -> str | None:
    """Which Winograd convolution beats oneDNN's here: modet's own (``winograd_conv3x3``), NNPACK's,
    or none (``None``). Only for a 3x3, stride-1, ungrouped fp32 convolution in eager CPU
    inference, outside autocast."""
    applies = (
        eager_cpu_inference(x, weight)  # first: a graph capture must not see the size tests below
        and weight.shape[2:] == (3, 3)
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and x.dtype == torch.float32
        and x.shape[0] > 0
        and not torch.is_autocast_enabled("cpu")
    )
    if not applies:
        return None
    if _cpu_capability() == "AVX512":
        return "modet" if _modet_winograd_pays(x, weight) else None
    return "nnpack" if torch.backends.nnpack.is_available() else None


# Measured on 2 threads (torch 2.14, 2026-12-01, Intel Xeon with AVX-512, bench_winograd.py):
# modet's F(4x4, 3x3) takes 0.4-0.85x oneDNN's time and 0.6-0.9x NNPACK's on FPN's P2 to P5 and
# on batches of 14x14 regions with 256 channels or more (0.98x at 128); with 36 output channels
# (RetinaNet's box deltas, 1.0x) or on a map of 20 tiles (P6, 1.8x) its transforms cost more than
# they save. On an AVX2 CPU NNPACK beats oneDNN at every size (2.5-3x on FPN levels, AMD EPYC).
_LARGE_MAP_AREA = 64 * 64
_MODET_WINOGRAD_MIN_TILES = 48
_MODET_WINOGRAD_MIN_CHANNELS = 128


def _modet_winograd_pays(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether modet's Winograd convolution is faster than oneDNN's for this map and kernel."""
    tiles = x.shape[0] * -(-x.shape[-2] // 4) * -(-x.shape[-1] // 4)
    return (
        tiles >= _MODET_WINOGRAD_MIN_TILES
        and weight.shape[0] >= _MODET_WINOGRAD_MIN_CHANNELS
        and weight.shape[1] >= _MODET_WINOGRAD_MIN_CHANNELS
    )


@functools.cache
def _cpu_capability() -> str:
    return torch.backends.cpu.get_cpu_capability()


def channels_last_pays(x: torch.Tensor, conv: nn.Module) -> bool:
    """Whether convolution ``conv`` on ``x`` is CPU inference that runs faster on channels-last
    input: oneDNN's convolutions of region batches (the heads' 14x14) are 5-15% faster so, and
    modet's Winograd works channels-last; only NNPACK's Winograd path wants NCHW."""
    if not isinstance(conv, nn.Conv2d) or not eager_cpu_inference(x, conv.weight):
        return False
    return not (isinstance(conv, Conv2d) and conv.winograd and _winograd_algorithm(x, conv.weight, conv) == "nnpack")


def eager_cpu_inference(*tensors: torch.Tensor) -> bool:
    """CPU tensors that autograd does not track, run eagerly (not traced, scripted, compiled or
    exported): where modet may pick a faster CPU kernel that graphs and gradients would not see."""
    return (
        all(t.device.type == "cpu" for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.compiler.is_compiling()
        and not is_exporting()
    )


# torch handles empty tensors in these natively since 1.5; detectron2 exports them unchanged.
ConvTranspose2d = nn.ConvTranspose2d
BatchNorm2d = nn.BatchNorm2d
Linear = nn.Linear
interpolate = F.interpolate


def nonzero_tuple(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``x.nonzero(as_tuple=True)``, also for 0-d tensors and under scripting."""
    if x.dim() == 0:
        return x.unsqueeze(0).nonzero().unbind(1)
    return x.nonzero(as_tuple=True)


def move_device_like(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Move ``src`` to ``dst``'s device (a no-op when they already match)."""
    return src.to(dst.device)
