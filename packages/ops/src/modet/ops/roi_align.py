"""``ROIAlign`` with detectron2's semantics (``aligned=True`` by default) on torchvision.ops."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import roi_align

from .roi_align_separable import separable_roi_align, separable_roi_align_applies
from .wrappers import eager_cpu_inference

__all__ = ["ROIAlign", "roi_align"]


def check_roi_inputs(input: torch.Tensor, rois: torch.Tensor, roi_dim: int, op: str) -> None:
    """Raise a clear error for ROI-pooling inputs of the wrong shape or type."""
    if not isinstance(input, torch.Tensor) or input.dim() != 4:
        shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
        raise ValueError(f"{op}: `input` must be a tensor of shape (N, C, H, W), got {shape}")
    if not isinstance(rois, torch.Tensor) or rois.dim() != 2 or rois.shape[1] != roi_dim:
        shape = tuple(rois.shape) if isinstance(rois, torch.Tensor) else type(rois).__name__
        raise ValueError(f"{op}: `rois` must be a tensor of shape (K, {roi_dim}) (batch index first), got {shape}")
    if not (input.is_floating_point() or input.is_quantized):
        raise TypeError(f"{op}: `input` must be a floating point tensor, got {input.dtype}")


class ROIAlign(nn.Module):
    """ROIAlign pooling of boxes (batch_index, x0, y0, x1, y1) from an NCHW feature map.

    Args:
        output_size: (h, w) of each pooled region, or an int for a square.
        spatial_scale: multiplies box coordinates to get feature-map coordinates.
        sampling_ratio: samples per bin along each axis; 0 samples adaptively
            (ceil(roi_size / output_size)).
        aligned: if True (detectron2's default, unlike torchvision's), box coordinates are
            shifted by -0.5 after scaling, so a continuous coordinate c has neighbouring
            pixels floor(c - 0.5) and ceil(c - 0.5) (pixel i is centred at i + 0.5). False
            reproduces the legacy Detectron op.
    """

    def __init__(
        self,
        output_size: int | tuple[int, int] | list[int],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool = True,
    ):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Pool ``rois`` (K, 5) from ``input`` (N, C, H, W) into (K, C, *output_size)."""
        check_roi_inputs(input, rois, 5, "ROIAlign")
        if input.is_quantized:
            input = input.dequantize()
        if input.dtype in (torch.float16, torch.bfloat16) and torch.is_autocast_enabled(input.device.type):
            # As torchvision's autocast does, pool in float32 and return the features' dtype; but
            # from float32 boxes (detectron2 rounds them to the features' dtype: a bfloat16 corner
            # is off by up to 2 px at 500 px).
            return self.forward(input.float(), rois.float()).to(input.dtype)
        rois = rois.to(dtype=input.dtype)
        output_size = _pair(self.output_size)
        if (
            eager_cpu_inference(input, rois)
            and input.dtype in (torch.float32, torch.float64)
            and separable_roi_align_applies(rois, output_size, self.spatial_scale, self.sampling_ratio)
        ):
            # Batched matrix products on all of torch's threads (see roi_align_separable).
            return separable_roi_align(input, rois, output_size, self.spatial_scale, self.sampling_ratio, self.aligned)
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned})"
        )
