"""``ROIAlignRotated`` in pure, differentiable PyTorch, with detectron2's sampling convention.

Each rotated box (batch_index, x_ctr, y_ctr, width, height, angle_degrees) is divided into
output_size bins; each bin averages bilinear samples on a regular grid inside it, rotated
counter-clockwise by the angle around the box centre. As in detectron2's kernel, the box
centre is shifted by -0.5 after scaling (the "aligned" pixel model), samples farther than one
pixel outside the map contribute 0, and samples in that one-pixel border are clamped to it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from .roi_align import check_roi_inputs

__all__ = ["ROIAlignRotated", "roi_align_rotated"]


def _bilinear_corners(y: torch.Tensor, x: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel indices (..., 4) and weights (..., 4) of the bilinear corners of points (y, x).

    Points outside [-1, height] x [-1, width] get weight 0; points between -1 and 0 (or past
    the last pixel) are clamped to the border pixel, exactly as detectron2's kernel does.
    """
    inside = (y >= -1.0) & (y <= height) & (x >= -1.0) & (x <= width)
    y = y.clamp(min=0)
    x = x.clamp(min=0)
    y_low = y.floor().clamp(max=height - 1)
    x_low = x.floor().clamp(max=width - 1)
    y_at_edge = y_low >= height - 1
    x_at_edge = x_low >= width - 1
    y = torch.where(y_at_edge, y_low, y)
    x = torch.where(x_at_edge, x_low, x)
    y_high = torch.where(y_at_edge, y_low, y_low + 1)
    x_high = torch.where(x_at_edge, x_low, x_low + 1)
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    weights = torch.stack([hy * hx, hy * lx, ly * hx, ly * lx], dim=-1) * inside.unsqueeze(-1)
    y_low, y_high, x_low, x_high = (t.long() for t in (y_low, y_high, x_low, x_high))
    indices = torch.stack(
        [y_low * width + x_low, y_low * width + x_high, y_high * width + x_low, y_high * width + x_high], dim=-1
    )
    return indices, weights


def _sampling_entries(
    rois: torch.Tensor,
    roi_ids: torch.Tensor,
    height: int,
    width: int,
    pooled_h: int,
    pooled_w: int,
    grid_h: int,
    grid_w: int,
    spatial_scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sparse (output bin, input pixel, weight) entries of rois (k, 6) that all use a grid_h x grid_w grid.

    Output bins are numbered (roi_id * pooled_h + ph) * pooled_w + pw over all ROIs; input
    pixels (batch_index * H + y) * W + x. Each bin averages grid_h * grid_w bilinear samples.
    """
    dtype, device = rois.dtype, rois.device
    batch_index = rois[:, 0].long()
    center_x = rois[:, 1] * spatial_scale - 0.5
    center_y = rois[:, 2] * spatial_scale - 0.5
    roi_w = rois[:, 3] * spatial_scale
    roi_h = rois[:, 4] * spatial_scale
    theta = rois[:, 5] * (math.pi / 180.0)
    bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w

    # Sample coordinates relative to the box centre, before rotation: (k, ph, gh) and (k, pw, gw).
    bins_y = torch.arange(pooled_h, dtype=dtype, device=device)
    bins_x = torch.arange(pooled_w, dtype=dtype, device=device)
    steps_y = torch.arange(grid_h, dtype=dtype, device=device) + 0.5
    steps_x = torch.arange(grid_w, dtype=dtype, device=device) + 0.5
    yy = (-roi_h / 2)[:, None, None] + bins_y[None, :, None] * bin_h[:, None, None]
    yy = yy + steps_y[None, None, :] * bin_h[:, None, None] / grid_h
    xx = (-roi_w / 2)[:, None, None] + bins_x[None, :, None] * bin_w[:, None, None]
    xx = xx + steps_x[None, None, :] * bin_w[:, None, None] / grid_w
    # Broadcast to (k, ph, pw, gh, gw) and rotate counter-clockwise around the centre.
    yy = yy[:, :, None, :, None]
    xx = xx[:, None, :, None, :]
    cos_t = torch.cos(theta)[:, None, None, None, None]
    sin_t = torch.sin(theta)[:, None, None, None, None]
    y = yy * cos_t - xx * sin_t + center_y[:, None, None, None, None]
    x = yy * sin_t + xx * cos_t + center_x[:, None, None, None, None]

    pixels, weights = _bilinear_corners(y, x, height, width)
    pixels = pixels + (batch_index * (height * width))[:, None, None, None, None, None]
    weights = weights / (grid_h * grid_w)
    bins = roi_ids[:, None, None] * (pooled_h * pooled_w) + torch.arange(pooled_h * pooled_w, device=device).reshape(
        1, pooled_h, pooled_w
    )
    bins = bins[:, :, :, None, None, None].expand_as(pixels)
    return bins.reshape(-1), pixels.reshape(-1), weights.reshape(-1)


def roi_align_rotated(
    input: torch.Tensor,
    rois: torch.Tensor,
    output_size: int | tuple[int, int] | list[int],
    spatial_scale: float,
    sampling_ratio: int,
) -> torch.Tensor:
    """ROIAlign of rotated boxes ``rois`` (K, 6) from ``input`` (N, C, H, W) -> (K, C, *output_size).

    Differentiable with respect to ``input`` (not ``rois``, like detectron2's op).
    ``sampling_ratio`` > 0 fixes the samples per bin along each axis; 0 uses
    ceil(roi_size / output_size) per box, as detectron2 does.
    """
    check_roi_inputs(input, rois, 6, "roi_align_rotated")
    pooled_h, pooled_w = _pair(output_size)
    batch, channels, height, width = input.shape
    if rois.shape[0] == 0:
        # An empty result that still belongs to input's graph.
        return input.reshape(-1)[:0].reshape(0, channels, pooled_h, pooled_w)
    coord_dtype = torch.promote_types(input.dtype, torch.float32)
    rois = rois.detach().to(device=input.device, dtype=coord_dtype)
    batch_index = rois[:, 0]
    if bool(((batch_index < 0) | (batch_index >= batch) | (batch_index != batch_index.round())).any()):
        raise ValueError(f"roi_align_rotated: `rois[:, 0]` must hold integer batch indices in [0, {batch})")
    roi_w = rois[:, 3] * spatial_scale
    roi_h = rois[:, 4] * spatial_scale
    if bool(((roi_w < 0) | (roi_h < 0)).any()):
        raise ValueError("roi_align_rotated: `rois` must have non-negative width and height (columns 3 and 4)")

    if sampling_ratio > 0:
        grid = torch.full((rois.shape[0], 2), sampling_ratio, dtype=torch.long, device=rois.device)
    else:
        grid = torch.stack([torch.ceil(roi_h / pooled_h), torch.ceil(roi_w / pooled_w)], dim=1).long()
    # Pooling is linear in the input: one sparse (bins x pixels) matrix times the (pixels x C)
    # features. Boxes sharing a sample grid build their entries together; the loop runs over
    # distinct grids, not boxes.
    grids, group_of_roi = torch.unique(grid, dim=0, return_inverse=True)
    entries = []
    for group, (grid_h, grid_w) in enumerate(grids.tolist()):
        if grid_h == 0 or grid_w == 0:  # zero-size boxes: no samples, detectron2 outputs 0
            continue
        members = torch.nonzero(group_of_roi == group).squeeze(1)
        entries.append(
            _sampling_entries(rois[members], members, height, width, pooled_h, pooled_w, grid_h, grid_w, spatial_scale)
        )
    num_bins = rois.shape[0] * pooled_h * pooled_w
    features = input.permute(0, 2, 3, 1).reshape(batch * height * width, channels)
    if entries:
        bins, pixels, weights = (torch.cat(parts) for parts in zip(*entries))
    else:
        bins = pixels = torch.zeros(0, dtype=torch.long, device=input.device)
        weights = torch.zeros(0, dtype=coord_dtype, device=input.device)
    sampling = torch.sparse_coo_tensor(
        torch.stack([bins, pixels]),
        weights.to(input.dtype),
        (num_bins, batch * height * width),
        check_invariants=False,
    )
    pooled = torch.sparse.mm(sampling, features)
    return pooled.reshape(rois.shape[0], pooled_h, pooled_w, channels).permute(0, 3, 1, 2)


class ROIAlignRotated(nn.Module):
    """ROIAlign for rotated boxes (batch_index, x_ctr, y_ctr, width, height, angle_degrees).

    Args:
        output_size: (h, w) of each pooled region, or an int for a square.
        spatial_scale: multiplies box coordinates to get feature-map coordinates.
        sampling_ratio: samples per bin along each axis; 0 samples adaptively.
    """

    def __init__(self, output_size: int | tuple[int, int] | list[int], spatial_scale: float, sampling_ratio: int):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Pool ``rois`` (K, 6) from ``input`` (N, C, H, W) into (K, C, *output_size)."""
        check_roi_inputs(input, rois, 6, "ROIAlignRotated")
        orig_dtype = input.dtype
        if orig_dtype in (torch.float16, torch.bfloat16):
            input = input.float()
        output = roi_align_rotated(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio)
        return output.to(dtype=orig_dtype)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio})"
        )
