"""Rotated-box IoU of matched pairs with detectron2's floating-point arithmetic, vectorised over pairs.

Exact IoUs of different pairs are often equal (a small box inside several same-sized anchors),
and the anchor matcher keeps every anchor tied for a ground truth's best IoU. Which ties
survive rounding decides the training labels, so this follows detectron2's ``box_iou_rotated``
step for step, in the input dtype: each pair is shifted to its mid-point, the candidate
vertices are the edge crossings (parameters within 1e-5 of [0, 1]) followed by each box's
corners inside the other, their convex hull is found by detectron2's Graham scan (its
exchange sort by angle included) and its area summed as a triangle fan from the lowest
vertex. Loops below run over the at most 24 vertex slots, never over boxes.
"""

from __future__ import annotations

import torch

# detectron2's constants: degrees to radians (as written there), tolerances of the tests.
_DEG_TO_RAD = 0.01745329251
_EPS = 1e-5
_MIN_AREA = 1e-14
_MAX_POINTS = 24


def _corners(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """(P, 4, 2) corners, in detectron2's order and operation order (cos/sin in float64, then the dtype)."""
    theta = a.double() * _DEG_TO_RAD
    cos_half = torch.cos(theta).to(x.dtype) * 0.5
    sin_half = torch.sin(theta).to(x.dtype) * 0.5
    x0 = x + sin_half * h + cos_half * w
    y0 = y + cos_half * h - sin_half * w
    x1 = x - sin_half * h + cos_half * w
    y1 = y - cos_half * h - sin_half * w
    x2, y2 = 2 * x - x0, 2 * y - y0
    x3, y3 = 2 * x - x1, 2 * y - y1
    return torch.stack([torch.stack([x0, y0], -1), torch.stack([x1, y1], -1), torch.stack([x2, y2], -1),
                        torch.stack([x3, y3], -1)], dim=1)  # fmt: skip


def _cross(ax: torch.Tensor, ay: torch.Tensor, bx: torch.Tensor, by: torch.Tensor) -> torch.Tensor:
    return ax * by - bx * ay


def _inside(points: torch.Tensor, rect: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(P, 4) whether each of ``points`` lies in ``rect`` (within 1e-5 in the dot products)."""
    ab, da = edges[:, 0:1], edges[:, 3:4]
    ab_ab = (ab[..., 0] * ab[..., 0] + ab[..., 1] * ab[..., 1]).double()
    ad_ad = (da[..., 0] * da[..., 0] + da[..., 1] * da[..., 1]).double()
    ap = points - rect[:, 0:1]
    ap_ab = (ap[..., 0] * ab[..., 0] + ap[..., 1] * ab[..., 1]).double()
    ap_ad = -(ap[..., 0] * da[..., 0] + ap[..., 1] * da[..., 1]).double()
    return (ap_ab > -_EPS) & (ap_ad > -_EPS) & (ap_ab < ab_ab + _EPS) & (ap_ad < ad_ad + _EPS)


def _candidate_points(pts1: torch.Tensor, pts2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Intersection candidates (P, 24, 2) compacted to the front in detectron2's order, and their count."""
    vec1 = pts1.roll(-1, dims=1) - pts1
    vec2 = pts2.roll(-1, dims=1) - pts2
    # Edge i of box 1 against edge j of box 2, i outer: (P, 4, 4).
    v1x, v1y = vec1[:, :, None, 0], vec1[:, :, None, 1]
    v2x, v2y = vec2[:, None, :, 0], vec2[:, None, :, 1]
    det = _cross(v2x, v2y, v1x, v1y)
    d12x = pts2[:, None, :, 0] - pts1[:, :, None, 0]
    d12y = pts2[:, None, :, 1] - pts1[:, :, None, 1]
    not_parallel = det.abs().double() > 1e-14
    safe_det = torch.where(not_parallel, det, torch.ones_like(det))
    t1 = _cross(v2x, v2y, d12x, d12y) / safe_det
    t2 = _cross(v1x, v1y, d12x, d12y) / safe_det
    t1d, t2d = t1.double(), t2.double()
    crossing = not_parallel & (t1d > -_EPS) & (t1d < 1.0 + _EPS) & (t2d > -_EPS) & (t2d < 1.0 + _EPS)
    crossing_points = torch.stack([pts1[:, :, None, 0] + v1x * t1, pts1[:, :, None, 1] + v1y * t1], dim=-1)

    points = torch.cat([crossing_points.flatten(1, 2), pts1, pts2], dim=1)
    valid = torch.cat([crossing.flatten(1), _inside(pts1, pts2, vec2), _inside(pts2, pts1, vec1)], dim=1)
    # Stable compaction: valid points keep their order at the front, the rest go to a spare slot.
    position = torch.where(valid, valid.cumsum(dim=1) - 1, _MAX_POINTS)
    compact = points.new_zeros(points.shape[0], _MAX_POINTS + 1, 2)
    compact.scatter_(1, position.unsqueeze(-1).expand(-1, -1, 2), points)
    return compact[:, :_MAX_POINTS], valid.sum(dim=1)


def _take(points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """points (P, S, 2), index (P,) -> (P, 2)."""
    return points.gather(1, index[:, None, None].expand(-1, 1, 2))[:, 0]


def _put(points: torch.Tensor, index: torch.Tensor, values: torch.Tensor, where: torch.Tensor) -> None:
    """points[p, index[p]] = values[p] for the pairs ``where``, in place."""
    current = _take(points, index)
    points.scatter_(1, index[:, None, None].expand(-1, 1, 2), torch.where(where[:, None], values, current)[:, None])


def _hull_area(points: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
    """Area of the convex hull of the first ``num`` points of each pair, by detectron2's Graham scan."""
    count, slots = points.shape[0], points.shape[1]
    rows = torch.arange(count, device=points.device)
    slot = torch.arange(slots, device=points.device)
    valid = slot < num[:, None]
    x, y = points[..., 0], points[..., 1]
    # Start: the lowest point, the leftmost among those, its first occurrence.
    inf = torch.full_like(y, float("inf"))
    y_min = torch.where(valid, y, inf).amin(dim=1, keepdim=True)
    x_min = torch.where(valid & (y == y_min), x, inf).amin(dim=1, keepdim=True)
    start_index = (valid & (y == y_min) & (x == x_min)).int().argmax(dim=1)
    q = points - points[rows, start_index][:, None]
    first = q[:, 0].clone()
    q[rows, 0] = q[rows, start_index]
    q[rows, start_index] = first

    max_num = int(num.max())
    # Exchange sort of points 1..num-1 by angle around the start (ties: nearer first); the squared
    # distance travels with its point as a third column.
    qd = torch.cat([q, (q[..., 0] * q[..., 0] + q[..., 1] * q[..., 1]).unsqueeze(-1)], dim=-1)
    for i in range(1, max_num - 1):
        for j in range(i + 1, max_num):
            qi, qj = qd[:, i], qd[:, j]
            cross = _cross(qi[:, 0], qi[:, 1], qj[:, 0], qj[:, 1]).double()
            swap = (j < num) & ((cross < -1e-6) | ((cross.abs() < 1e-6) & (qi[:, 2] > qj[:, 2])))
            swap = swap[:, None]
            qd[:, i], qd[:, j] = torch.where(swap, qj, qi), torch.where(swap, qi, qj)
    q = qd[..., :2]
    dist = q[..., 0] * q[..., 0] + q[..., 1] * q[..., 1]
    # k: the first point after the start that is not the start itself; none means a one-point hull.
    apart = (dist.double() > 1e-8) & valid & (slot >= 1)
    has_second = apart.any(dim=1)
    k = torch.where(has_second, apart.int().argmax(dim=1), num)
    stack = q.clone()
    stack[:, 1] = _take(q, k.clamp(max=slots - 1))
    m = torch.full_like(num, 2)
    for i in range(2, max_num):
        active = (i > k) & (i < num)
        point = q[:, i]
        while True:
            below, top = _take(stack, (m - 2).clamp(min=0)), _take(stack, (m - 1).clamp(min=0))
            q1x, q1y = point[:, 0] - below[:, 0], point[:, 1] - below[:, 1]
            q2x, q2y = top[:, 0] - below[:, 0], top[:, 1] - below[:, 1]
            pop = active & (m > 1) & (q1x * q2y >= q2x * q1y)
            if not pop.any():
                break
            m = m - pop.long()
        _put(stack, m.clamp(max=slots - 1), point, active)
        m = m + active.long()

    area = torch.zeros(count, dtype=points.dtype, device=points.device)
    for i in range(1, max_num - 1):
        a, b = stack[:, i], stack[:, i + 1]
        area = area + torch.where(i < m - 1, _cross(a[:, 0], a[:, 1], b[:, 0], b[:, 1]).abs(), torch.zeros_like(area))
    return torch.where(has_second & (m > 2), area / 2.0, torch.zeros_like(area))


def rotated_iou_pairs(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU of matched pairs of rotated boxes (P, 5) and (P, 5) -> (P,), rounded as detectron2 rounds it."""
    if boxes1.shape[0] == 0:
        return boxes1.new_zeros(0)
    dtype = boxes1.dtype
    # Shift each pair to its mid-point: the sum in the dtype, the halving and differences in float64.
    shift = (boxes1[:, :2] + boxes2[:, :2]).double() / 2.0
    xy1 = (boxes1[:, :2].double() - shift).to(dtype)
    xy2 = (boxes2[:, :2].double() - shift).to(dtype)
    area1 = boxes1[:, 2] * boxes1[:, 3]
    area2 = boxes2[:, 2] * boxes2[:, 3]
    pts1 = _corners(xy1[:, 0], xy1[:, 1], boxes1[:, 2], boxes1[:, 3], boxes1[:, 4])
    pts2 = _corners(xy2[:, 0], xy2[:, 1], boxes2[:, 2], boxes2[:, 3], boxes2[:, 4])
    points, num = _candidate_points(pts1, pts2)

    inter = torch.zeros_like(area1)
    # The hull's loops run to the largest vertex count: group pairs by their count.
    for count in num.unique().tolist():
        if count > 2:
            group = (num == count).nonzero().squeeze(1)
            inter[group] = _hull_area(points[group, :count], num[group])
    iou = inter / (area1 + area2 - inter)
    empty = (area1.double() < _MIN_AREA) | (area2.double() < _MIN_AREA)
    return torch.where(empty, torch.zeros_like(iou), iou)
