"""Keypoint annotations and the conversions between keypoints and Mask R-CNN heatmaps."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from .tracing import is_exporting

# Bound on the elements of one batched bicubic resize in heatmaps_to_keypoints (~256 MB of float32).
_MAX_RESIZE_ELEMENTS = 1 << 26


class Keypoints:
    """Keypoint annotations as an (N, K, 3) float32 tensor of (x, y, visibility).

    Visibility follows COCO: 0 = not labeled (x = y = 0), 1 = labeled but not visible, 2 = visible.
    """

    def __init__(self, keypoints: torch.Tensor | np.ndarray | list):
        device = keypoints.device if isinstance(keypoints, torch.Tensor) else torch.device("cpu")
        keypoints = torch.as_tensor(keypoints, dtype=torch.float32, device=device)
        if keypoints.dim() != 3 or keypoints.shape[2] != 3:
            raise ValueError(f"Keypoints expects a tensor of shape (N, K, 3), got shape {tuple(keypoints.shape)}")
        self.tensor = keypoints

    def __len__(self) -> int:
        return self.tensor.size(0)

    def to(self, *args: Any, **kwargs: Any) -> Keypoints:
        return type(self)(self.tensor.to(*args, **kwargs))

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def to_heatmap(self, boxes: torch.Tensor, heatmap_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One-hot heatmap training targets inside Nx4 ``boxes``: (N, K) flat indices and (N, K) validity."""
        return _keypoints_to_heatmap(self.tensor, boxes, heatmap_size)

    def __getitem__(self, item: int | slice | torch.Tensor) -> Keypoints:
        """Index by int (one instance), slice, bool mask or index tensor; may share storage."""
        if isinstance(item, int):
            return Keypoints(self.tensor[item].unsqueeze(0))
        return Keypoints(self.tensor[item])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_instances={len(self.tensor)})"

    @staticmethod
    def cat(keypoints_list: list[Keypoints]) -> Keypoints:
        """Concatenate a non-empty list of Keypoints."""
        if not isinstance(keypoints_list, (list, tuple)) or len(keypoints_list) == 0:
            raise ValueError("Keypoints.cat expects a non-empty list of Keypoints")
        for i, kpts in enumerate(keypoints_list):
            if not isinstance(kpts, Keypoints):
                raise TypeError(f"Keypoints.cat: element {i} is a {type(kpts).__name__}, not Keypoints")
        return type(keypoints_list[0])(torch.cat([k.tensor for k in keypoints_list], dim=0))


def _keypoints_to_heatmap(
    keypoints: torch.Tensor, rois: torch.Tensor, heatmap_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode (N, K, 3) keypoints inside Nx4 XYXY ``rois`` as flat heatmap indices.

    Continuous coordinates in [x1, x2) map to discrete cells [0, heatmap_size - 1] with
    d = floor(c) (Heckbert 1990); a keypoint exactly on the right/bottom edge goes to the last cell.

    Returns:
        heatmaps: (N, K) long indices in [0, heatmap_size**2 - 1] (0 where invalid).
        valid: (N, K) long, 1 where the keypoint is visible and inside its roi.
    """
    if rois.numel() == 0:
        return rois.new().long(), rois.new().long()
    offset_x = rois[:, 0][:, None]
    offset_y = rois[:, 1][:, None]
    scale_x = (heatmap_size / (rois[:, 2] - rois[:, 0]))[:, None]
    scale_y = (heatmap_size / (rois[:, 3] - rois[:, 1]))[:, None]

    x = keypoints[..., 0]
    y = keypoints[..., 1]
    x_boundary_inds = x == rois[:, 2][:, None]
    y_boundary_inds = y == rois[:, 3][:, None]

    x = ((x - offset_x) * scale_x).floor().long()
    y = ((y - offset_y) * scale_y).floor().long()
    x[x_boundary_inds] = heatmap_size - 1
    y[y_boundary_inds] = heatmap_size - 1

    valid_loc = (x >= 0) & (y >= 0) & (x < heatmap_size) & (y < heatmap_size)
    vis = keypoints[..., 2] > 0
    valid = (valid_loc & vis).long()
    heatmaps = (y * heatmap_size + x) * valid
    return heatmaps, valid


def heatmaps_to_keypoints(maps: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """Keypoint locations from (R, K, H, W) heatmap logits predicted inside (R, 4) XYXY ``rois``.

    Each ROI's heatmaps are resized bicubically to the ROI's size (ceil of its width and height,
    at least 1); the location is the argmax pixel's center (d + 0.5), scaled back to the ROI.

    Returns:
        (R, K, 4) tensor of (x, y, logit, score): the logit is the maximum of the resized map;
        the score is its softmax over the resized ROI, normalised by the pooled-resolution
        partition sum so that objects of different sizes have comparable scores.
    """
    maps = maps.detach()
    rois = rois.detach()
    if maps.dim() != 4:
        raise ValueError(f"heatmaps_to_keypoints: maps must have shape (R, K, H, W), got {tuple(maps.shape)}")
    if rois.dim() != 2 or rois.shape[-1] != 4 or rois.shape[0] != maps.shape[0]:
        raise ValueError(f"heatmaps_to_keypoints: rois must have shape ({maps.shape[0]}, 4), got {tuple(rois.shape)}")
    offset_x = rois[:, 0]
    offset_y = rois[:, 1]
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    widths_ceil = widths.ceil()
    heights_ceil = heights.ceil()
    width_corrections = widths / widths_ceil
    height_corrections = heights / heights_ceil

    if is_exporting():
        return _heatmaps_to_keypoints_all_rois(
            maps, rois, widths_ceil, heights_ceil, width_corrections, height_corrections
        )
    num_rois, num_keypoints = maps.shape[:2]
    xy_preds = maps.new_zeros(num_rois, num_keypoints, 4)
    if num_rois == 0:
        return xy_preds

    # ROIs of equal output size are resized together; the loop runs over distinct sizes
    # (at most one iteration per ROI, as in detectron2).
    sizes = torch.stack([heights_ceil, widths_ceil], dim=1).long().cpu()
    unique_sizes, group_of_roi = torch.unique(sizes, dim=0, return_inverse=True)
    for g, (out_h, out_w) in enumerate(unique_sizes.tolist()):
        members = torch.nonzero(group_of_roi == g).squeeze(1).to(maps.device)
        per_batch = max(1, _MAX_RESIZE_ELEMENTS // max(1, num_keypoints * out_h * out_w))
        for batch in members.split(per_batch):
            xy_preds[batch] = _decode_group(
                maps[batch], out_h, out_w, offset_x[batch], offset_y[batch],
                width_corrections[batch], height_corrections[batch],
            )  # fmt: skip
    return xy_preds


def _decode_group(
    maps: torch.Tensor,
    out_h: int,
    out_w: int,
    offset_x: torch.Tensor,
    offset_y: torch.Tensor,
    width_corrections: torch.Tensor,
    height_corrections: torch.Tensor,
) -> torch.Tensor:
    """heatmaps_to_keypoints for G ROIs sharing one output size: (G, K, H, W) -> (G, K, 4)."""
    roi_map = F.interpolate(maps, size=(out_h, out_w), mode="bicubic", align_corners=False)
    flat = roi_map.flatten(2)  # (G, K, out_h * out_w)
    pos = flat.argmax(dim=2)  # first maximum, like detectron2
    max_logit = flat.gather(2, pos[..., None]).squeeze(2)
    # softmax value at the argmax, normalised over the pooled map: exp(0) / sum exp(maps - max)
    partition = (maps - max_logit[..., None, None]).exp_().sum(dim=(2, 3))
    score = 1.0 / partition

    x_int = pos % out_w
    y_int = torch.div(pos - x_int, out_w, rounding_mode="floor")
    x = (x_int.float() + 0.5) * width_corrections[:, None]
    y = (y_int.float() + 0.5) * height_corrections[:, None]
    return torch.stack([x + offset_x[:, None], y + offset_y[:, None], max_logit, score], dim=2)


def _cubic_weights(t: torch.Tensor) -> list[torch.Tensor]:
    """The 4 bicubic interpolation weights (A = -0.75, as torch's) of fractional offsets ``t``."""
    a = -0.75

    def near(x: torch.Tensor) -> torch.Tensor:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: torch.Tensor) -> torch.Tensor:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


def _source_taps(out_index: torch.Tensor, out_size: torch.Tensor, in_size: int):
    """Source indices (4 tensors) and weights (4 tensors) of bicubic resizing, align_corners=False."""
    scale = in_size / out_size.to(torch.float32)
    real = scale * (out_index.to(torch.float32) + 0.5) - 0.5
    start = real.floor()
    weights = _cubic_weights(real - start)
    indices = [(start + (k - 1)).clamp(0, in_size - 1).long() for k in range(4)]
    return indices, weights


def _heatmaps_to_keypoints_all_rois(
    maps: torch.Tensor,
    rois: torch.Tensor,
    widths_ceil: torch.Tensor,
    heights_ceil: torch.Tensor,
    width_corrections: torch.Tensor,
    height_corrections: torch.Tensor,
) -> torch.Tensor:
    """heatmaps_to_keypoints with no loop and no data-dependent Python int, for exported graphs.

    Every ROI's resized maps are computed at once over the concatenated pixels of all ROIs:
    first along x (the ``ow`` columns of each ROI), then along y, as torch's bicubic resize does;
    then the first maximum of each ROI and keypoint. Same result as the eager path up to float
    rounding; memory is (sum of ROI areas) x keypoints floats.
    """
    num_rois, num_keypoints, in_h, in_w = maps.shape
    out_w, out_h = widths_ceil.long(), heights_ceil.long()
    roi_ids = torch.arange(num_rois, device=maps.device)

    # Along x: (columns of all ROIs, K, in_h).
    num_columns = out_w.sum().item()  # an int (symbolic under torch.export)
    column_roi = torch.repeat_interleave(roi_ids, out_w)  # (no output_size: ONNX has no form of it)
    column_start = out_w.cumsum(0) - out_w
    column_x = torch.arange(num_columns, device=maps.device) - column_start[column_roi]
    x_indices, x_weights = _source_taps(column_x, out_w[column_roi], in_w)
    columns = maps[column_roi, :, :, x_indices[0]] * x_weights[0][:, None, None]
    for k in range(1, 4):
        columns = columns + maps[column_roi, :, :, x_indices[k]] * x_weights[k][:, None, None]

    # Along y: (pixels of all ROIs, K), ROI by ROI in row-major order.
    areas = out_h * out_w
    num_pixels = areas.sum().item()
    pixel_roi = torch.repeat_interleave(roi_ids, areas)
    position = torch.arange(num_pixels, device=maps.device) - (areas.cumsum(0) - areas)[pixel_roi]
    pixel_w = out_w[pixel_roi]
    pixel_x = position % pixel_w
    pixel_y = torch.div(position - pixel_x, pixel_w, rounding_mode="floor")
    pixel_column = column_start[pixel_roi] + pixel_x
    y_indices, y_weights = _source_taps(pixel_y, out_h[pixel_roi], in_h)
    values = columns[pixel_column, :, y_indices[0]] * y_weights[0][:, None]
    for k in range(1, 4):
        values = values + columns[pixel_column, :, y_indices[k]] * y_weights[k][:, None]

    # First maximum of each (ROI, keypoint), in row-major order like argmax.
    index = pixel_roi[:, None].expand(-1, num_keypoints)
    max_logit = maps.new_full((num_rois, num_keypoints), float("-inf")).scatter_reduce(0, index, values, "amax")
    is_max = values == max_logit[pixel_roi]
    candidates = torch.where(is_max, position[:, None], torch.full_like(position[:, None], num_pixels))
    pos = torch.full_like(max_logit, num_pixels, dtype=torch.long).scatter_reduce(0, index, candidates, "amin")

    partition = (maps - max_logit[..., None, None]).exp().sum(dim=(2, 3))
    x_int = pos % out_w[:, None]
    y_int = torch.div(pos - x_int, out_w[:, None], rounding_mode="floor")
    x = (x_int.float() + 0.5) * width_corrections[:, None]
    y = (y_int.float() + 0.5) * height_corrections[:, None]
    return torch.stack([x + rois[:, 0, None], y + rois[:, 1, None], max_logit, 1.0 / partition], dim=2)
