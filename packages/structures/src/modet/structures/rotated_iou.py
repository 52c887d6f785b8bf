"""Exact IoU of rotated boxes, vectorised in torch (detectron2's ``layers.pairwise_iou_rotated``).

``pairwise_iou_rotated`` rounds float32 as detectron2 does (:mod:`.rotated_iou_exact`), so that
ties between equal IoUs fall as in detectron2. ``rotated_intersection_area`` is the kernel of
float64 input and of callers that only compare IoUs with a threshold (rotated NMS), and faster:
each pair's intersection is the convex polygon left after clipping one rectangle by the four
edge half-planes of the other (Sutherland–Hodgman), done for all pairs at once on padded
fixed-size polygons; its area comes from the shoelace formula. Pairs whose axis-aligned hulls
do not touch, or with a box of (near) zero area, are 0 without being computed.
"""

from __future__ import annotations

import math

import torch

from .rotated_iou_exact import rotated_iou_pairs

# detectron2 treats boxes with area below this as empty (IoU 0).
_MIN_AREA = 1e-14
# Pairs clipped at once; bounds the temporary memory to roughly 60 MB.
_PAIRS_PER_CHUNK = 1 << 17


def rotated_box_corners(boxes: torch.Tensor) -> torch.Tensor:
    """Corners (..., 4, 2) of (..., 5) boxes (xc, yc, w, h, angle in degrees, counter-clockwise).

    The corners run counter-clockwise in a y-up frame (so the shoelace area is w*h > 0).
    """
    x, y, w, h, a = boxes.unbind(-1)
    theta = a * (math.pi / 180.0)
    cos_half = torch.cos(theta) * 0.5
    sin_half = torch.sin(theta) * 0.5
    # Same vertex formula as detectron2's box_iou_rotated_utils.h, listed in reverse order.
    p0 = torch.stack([x + sin_half * h + cos_half * w, y + cos_half * h - sin_half * w], dim=-1)
    p1 = torch.stack([x - sin_half * h + cos_half * w, y - cos_half * h - sin_half * w], dim=-1)
    center = torch.stack([x, y], dim=-1)
    p2 = 2 * center - p0
    p3 = 2 * center - p1
    return torch.stack([p0, p3, p2, p1], dim=-2)


def _gather_points(points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """points (P, K, 2), index (P, J) -> (P, J, 2)."""
    return torch.gather(points, 1, index.unsqueeze(-1).expand(-1, -1, 2))


def _clip_by_half_plane(
    poly: torch.Tensor, count: torch.Tensor, start: torch.Tensor, end: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clip padded convex polygons (P, C, 2) with ``count`` vertices by the left side of start->end.

    Returns the clipped polygons padded to C + 1 vertices and their vertex counts.
    """
    num, capacity = poly.shape[:2]
    slots = torch.arange(capacity, device=poly.device)
    valid = slots < count[:, None]
    next_index = torch.where(slots + 1 < count[:, None], slots + 1, 0)
    following = _gather_points(poly, next_index)

    edge = (end - start)[:, None, :]
    rel = poly - start[:, None, :]
    dist = edge[..., 0] * rel[..., 1] - edge[..., 1] * rel[..., 0]  # > 0: left of the edge (inside)
    dist_next = torch.gather(dist, 1, next_index)
    inside = dist >= 0
    crosses = inside != (dist_next >= 0)
    denom = torch.where(crosses, dist - dist_next, torch.ones_like(dist))
    t = (dist / denom).unsqueeze(-1)
    crossing_point = poly + t * (following - poly)

    # Each input vertex emits itself when inside, then the crossing point when its edge crosses.
    candidates = torch.stack([poly, crossing_point], dim=2).reshape(num, 2 * capacity, 2)
    keep = torch.stack([inside & valid, crosses & valid], dim=2).reshape(num, 2 * capacity)

    # Compact the kept candidates to the front; overflow and dropped ones land in a spare slot.
    out_capacity = capacity + 1
    position = torch.cumsum(keep, dim=1) - 1
    target = torch.where(keep & (position < out_capacity), position, out_capacity)
    out = poly.new_zeros(num, out_capacity + 1, 2)
    out.scatter_(1, target.unsqueeze(-1).expand(-1, -1, 2), candidates)
    new_count = keep.sum(dim=1).clamp(max=out_capacity)
    return out[:, :out_capacity], new_count


def _polygon_area(poly: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Shoelace area of padded polygons (P, C, 2) with ``count`` vertices."""
    slots = torch.arange(poly.shape[1], device=poly.device)
    valid = slots < count[:, None]
    following = _gather_points(poly, torch.where(slots + 1 < count[:, None], slots + 1, 0))
    cross = poly[..., 0] * following[..., 1] - following[..., 0] * poly[..., 1]
    return 0.5 * torch.where(valid, cross, torch.zeros_like(cross)).sum(dim=1).abs()


def rotated_intersection_area(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Intersection area of matched pairs of rotated boxes, (P, 5) and (P, 5) -> (P,)."""
    # Shift each pair to its mid-point for precision, as detectron2 does.
    center = (boxes1[:, :2] + boxes2[:, :2]) / 2
    boxes1 = torch.cat([boxes1[:, :2] - center, boxes1[:, 2:]], dim=1)
    boxes2 = torch.cat([boxes2[:, :2] - center, boxes2[:, 2:]], dim=1)
    poly = rotated_box_corners(boxes1)
    clip = rotated_box_corners(boxes2)
    count = torch.full((poly.shape[0],), 4, dtype=torch.long, device=poly.device)
    for k in range(4):  # the clipping rectangle's four edges, not a loop over boxes
        poly, count = _clip_by_half_plane(poly, count, clip[:, k], clip[:, (k + 1) % 4])
    return _polygon_area(poly, count)


def _half_extents(boxes: torch.Tensor) -> torch.Tensor:
    """Half width and height (N, 2) of the axis-aligned hull of each rotated box."""
    theta = boxes[:, 4] * (math.pi / 180.0)
    c, s = torch.cos(theta).abs(), torch.sin(theta).abs()
    w, h = boxes[:, 2].abs(), boxes[:, 3].abs()
    return torch.stack([c * w + s * h, c * h + s * w], dim=1) / 2


def _check_rotated(boxes: torch.Tensor, name: str) -> None:
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"pairwise_iou_rotated: {name} must be a tensor, got {type(boxes)}")
    if boxes.dim() != 2 or boxes.shape[-1] != 5:
        raise ValueError(f"pairwise_iou_rotated: {name} must have shape (N, 5), got {tuple(boxes.shape)}")


def pairwise_iou_rotated(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU of all N x M pairs of rotated boxes given as (N, 5) and (M, 5) tensors of (xc, yc, w, h, a).

    Returns an (N, M) tensor in the dtype of ``boxes1`` (float32 at least), on its device. In float32
    the values are detectron2's to the last bit (see :mod:`.rotated_iou_exact`). detectron2 has no
    float64 kernel, and its tolerances are float32's: float64 input gets the clipping kernel below,
    exact up to float64 rounding.
    """
    _check_rotated(boxes1, "boxes1")
    _check_rotated(boxes2, "boxes2")
    out_dtype = boxes1.dtype if boxes1.dtype.is_floating_point else torch.float32
    compute_dtype = torch.promote_types(out_dtype, torch.float32)
    boxes1 = boxes1.to(compute_dtype)
    boxes2 = boxes2.to(device=boxes1.device, dtype=compute_dtype)
    iou = torch.zeros(boxes1.shape[0], boxes2.shape[0], dtype=compute_dtype, device=boxes1.device)
    if iou.numel() == 0:
        return iou.to(out_dtype)

    area1 = boxes1[:, 2] * boxes1[:, 3]
    area2 = boxes2[:, 2] * boxes2[:, 3]
    half_extent1 = _half_extents(boxes1)
    half_extent2 = _half_extents(boxes2)
    # Pairs whose axis-aligned hulls overlap; the margin is generous since a pair let
    # through wrongly is clipped to an exact 0 anyway.
    gap = (boxes1[:, None, :2] - boxes2[None, :, :2]).abs_()
    reach = (half_extent1[:, None, :] + half_extent2[None, :, :]).mul_(1 + 1e-4).add_(1e-4)
    may_overlap = (gap <= reach).all(dim=2)
    may_overlap &= (area1[:, None] >= _MIN_AREA) & (area2[None, :] >= _MIN_AREA)
    rows, cols = may_overlap.nonzero(as_tuple=True)

    for start in range(0, rows.numel(), _PAIRS_PER_CHUNK):  # bounded-memory chunks of pairs
        r = rows[start : start + _PAIRS_PER_CHUNK]
        c = cols[start : start + _PAIRS_PER_CHUNK]
        if compute_dtype == torch.float32:
            iou[r, c] = rotated_iou_pairs(boxes1[r], boxes2[c])
        else:
            inter = rotated_intersection_area(boxes1[r], boxes2[c])
            iou[r, c] = inter / (area1[r] + area2[c] - inter)
    return iou.to(out_dtype)
