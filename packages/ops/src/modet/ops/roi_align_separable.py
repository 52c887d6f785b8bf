"""ROIAlign as two small matrix products per region, for CPU inference.

ROIAlign averages bilinear samples on a grid in each bin. A bilinear weight is a weight along y
times one along x, and the grid is sample rows times sample columns, so a region's pooling is
``Wy @ F @ Wx.T`` per channel: ``Wy`` (bins x rows) and ``Wx`` (bins x columns) hold the summed
sample weights of each bin. Here that runs as batched matrix products over each region's window
of the feature map (channels last), in place of torchvision's CPU kernel, which reads four pixels
per sample and channel on one thread. The definition is torchvision's, edge rules included
(a sample more than one pixel outside the map counts as zero, the last row and column clamp);
results differ from it by float rounding only (the sums are taken in another order).
"""

from __future__ import annotations

import torch

__all__ = ["separable_roi_align", "separable_roi_align_applies"]

# Window sides are rounded up to one of these, beyond them to a multiple of 32, so that regions of
# about one size share one batched product.
_WINDOW_SIDES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
# Most floats gathered into windows at once (16 MB: buffers this small are reused, not mapped anew).
_MAX_GATHERED = 4 * 1024 * 1024
# Most regions pooled at once (their per-axis weights are regions x bins x the map's side).
_MAX_REGIONS = 4096
# Most samples per bin and axis: beyond, the dense weights would not pay (torchvision's kernel runs).
_MAX_GRID = 64


def separable_roi_align_applies(
    rois: torch.Tensor, output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int
) -> bool:
    """Whether the regions are finite and have few enough samples per bin for this path."""
    if sampling_ratio > _MAX_GRID:
        return False
    if len(rois) == 0:
        return True
    if not bool(torch.isfinite(rois).all()):
        return False
    if sampling_ratio > 0:  # a fixed grid, whatever the regions' sizes
        return True
    sides = (rois[:, 3:5] - rois[:, 1:3]).abs().amax(dim=0) * spatial_scale
    return bool(sides[1] / output_size[0] <= _MAX_GRID - 1 and sides[0] / output_size[1] <= _MAX_GRID - 1)


def separable_roi_align(
    input: torch.Tensor,
    rois: torch.Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """torchvision's ``roi_align`` on (N, C, H, W) ``input`` and (K, 5) ``rois``, without autograd
    (and without autocast: the products run in the input's dtype)."""
    channels, height, width = input.shape[1:]
    if len(rois) == 0 or height == 0 or width == 0:
        return input.new_zeros((len(rois), channels, *output_size))
    with torch.autocast(input.device.type, enabled=False):
        features = input.permute(0, 2, 3, 1).contiguous()  # (N, H, W, C): one row per pixel
        # The weights span whole axes: at most _MAX_REGIONS regions at a time bound their memory.
        parts = [
            _pool_regions(features, part, output_size, spatial_scale, sampling_ratio, aligned)
            for part in rois.split(_MAX_REGIONS)
        ]
    pooled = parts[0] if len(parts) == 1 else torch.cat(parts)
    return pooled.permute(0, 3, 1, 2).contiguous()


def _pool_regions(
    features: torch.Tensor,
    rois: torch.Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """(R, bins_h, bins_w, C) pooled ``rois`` from ``features`` (N, H, W, C)."""
    height, width, channels = features.shape[1:]
    boxes = rois[:, 1:] * spatial_scale - (0.5 if aligned else 0.0)
    y = _axis_weights(boxes[:, 1], boxes[:, 3], output_size[0], height, sampling_ratio, aligned)
    x = _axis_weights(boxes[:, 0], boxes[:, 2], output_size[1], width, sampling_ratio, aligned)
    images = rois[:, 0].to(torch.int64)
    pooled = features.new_zeros((len(rois), *output_size, channels))
    # Regions with windows of one size are pooled together.
    window_key = y.side * (width + 1) + x.side
    for key in window_key.unique().tolist():
        members = (window_key == key).nonzero().flatten()
        side_h, side_w = divmod(key, width + 1)
        for part in members.split(max(1, _MAX_GATHERED // (side_h * side_w * channels))):
            pooled[part] = _pool_windows(features, images[part], y.window(part, side_h), x.window(part, side_w))
    return pooled


class _AxisWeights:
    """Along one axis, per region: summed sample weights of each bin over the whole axis, (R, bins,
    size), and the window holding every pixel with a weight (its first pixel and side)."""

    def __init__(self, weights: torch.Tensor, first: torch.Tensor, side: torch.Tensor):
        self.weights, self.first, self.side = weights, first, side

    def window(self, regions: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixel indices (r, side), weights (r, bins, side)) of these regions' windows."""
        size = self.weights.shape[2]
        first = self.first[regions].clamp(max=size - side)
        pixels = first[:, None] + torch.arange(side, device=first.device)
        weights = self.weights[regions].gather(2, pixels[:, None, :].expand(-1, self.weights.shape[1], -1))
        return pixels, weights


def _axis_weights(
    start: torch.Tensor, end: torch.Tensor, bins: int, size: int, sampling_ratio: int, aligned: bool
) -> _AxisWeights:
    length = end - start
    if not aligned:
        length = length.clamp(min=1.0)
    bin_size = length / bins
    if sampling_ratio > 0:
        grid = torch.full(length.shape, sampling_ratio, dtype=torch.int64, device=length.device)
    else:
        grid = torch.ceil(length / bins).to(torch.int64)
    samples = max(int(grid.max()), 1)
    sample = torch.arange(samples, device=start.device).to(start.dtype)
    bin_index = torch.arange(bins, device=start.device).to(start.dtype)
    # (R, bins, samples) positions, in the order of operations of torchvision's kernel
    grid_f = grid.to(start.dtype)[:, None, None]
    divisor = grid_f.clamp(min=1.0)  # a grid of 0 has no samples: any finite position will do
    position = (start[:, None, None] + bin_index[:, None] * bin_size[:, None, None]) + (sample + 0.5) * bin_size[
        :, None, None
    ] / divisor
    used = (sample < grid_f) & (position >= -1.0) & (position <= size)
    position = position.clamp(min=0.0)
    low = position.to(torch.int64)
    last = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(last, low, low + 1)
    high_weight = torch.where(last, 0.0, position - low.to(position.dtype))
    # The bin's average over its grid: each axis takes one factor of the sample count.
    per_sample = used.to(start.dtype) / divisor
    weights = start.new_zeros((len(start), bins, size))
    weights.scatter_add_(2, low, (1.0 - high_weight) * per_sample)
    weights.scatter_add_(2, high, high_weight * per_sample)
    any_used = used.flatten(1).any(dim=1)
    first = torch.where(used, low, size).flatten(1).amin(dim=1).where(any_used, 0)
    last_pixel = torch.where(used, high, -1).flatten(1).amax(dim=1).where(any_used, 0)
    return _AxisWeights(weights, first, _window_side(last_pixel - first + 1, size))


def _window_side(span: torch.Tensor, size: int) -> torch.Tensor:
    """The window side for each span: the next of _WINDOW_SIDES, a multiple of 32 beyond, at most ``size``."""
    sides = torch.tensor(_WINDOW_SIDES, device=span.device)
    rounded = sides[torch.searchsorted(sides, span.clamp(max=_WINDOW_SIDES[-1]))]
    rounded = torch.where(span > _WINDOW_SIDES[-1], (span + 31) // 32 * 32, rounded)
    return rounded.clamp(max=size)


def _pool_windows(
    features: torch.Tensor,
    images: torch.Tensor,
    y: tuple[torch.Tensor, torch.Tensor],
    x: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """(r, bins_h, bins_w, C) pooled regions from their windows of ``features`` (N, H, W, C); the
    longer side is contracted first, so that the second product is the small one."""
    (rows, weights_y), (columns, weights_x) = y, x
    _, height, width, channels = features.shape
    regions, pixels = len(images), features.view(-1, channels)
    if rows.shape[1] >= columns.shape[1]:
        index = (images[:, None, None] * height + rows[:, :, None]) * width + columns[:, None, :]
        window = pixels.index_select(0, index.flatten())  # (r * h * w, C)
        along_y = torch.bmm(weights_y, window.view(regions, rows.shape[1], -1))  # (r, bins_h, w * C)
        along_y = along_y.view(regions, -1, columns.shape[1], channels)
        return torch.matmul(weights_x.unsqueeze(1), along_y)  # (r, bins_h, bins_w, C)
    index = (images[:, None, None] * height + rows[:, None, :]) * width + columns[:, :, None]
    window = pixels.index_select(0, index.flatten())  # (r * w * h, C)
    along_x = torch.bmm(weights_x, window.view(regions, columns.shape[1], -1))  # (r, bins_w, h * C)
    along_x = along_x.view(regions, -1, rows.shape[1], channels)
    return torch.matmul(weights_y.unsqueeze(1), along_x).transpose(1, 2)
