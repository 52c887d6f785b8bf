"""Box <-> delta transforms (R-CNN, rotated, FCOS-style linear) and the dense box-regression loss."""

from __future__ import annotations

import math
from types import EllipsisType

import torch
from torch.nn import functional as F

from modet.ops import cat, ciou_loss, diou_loss, giou_loss, smooth_l1_loss
from modet.structures import Boxes

__all__ = ["Box2BoxTransform", "Box2BoxTransformLinear", "Box2BoxTransformRotated"]

# Largest log-scale step apply_deltas takes: a box grows at most 1000/16 times per decoding.
_DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


class Box2BoxTransform:
    """R-CNN's (dx, dy, dw, dh) parametrization of a box relative to another, scaled by ``weights``."""

    def __init__(self, weights: tuple[float, float, float, float], scale_clamp: float = _DEFAULT_SCALE_CLAMP) -> None:
        self.weights = weights
        self.scale_clamp = scale_clamp

    def get_deltas(self, src_boxes: torch.Tensor, target_boxes: torch.Tensor) -> torch.Tensor:
        """Deltas (N, 4) that turn XYXY ``src_boxes`` into ``target_boxes``."""
        if not isinstance(src_boxes, torch.Tensor) or not isinstance(target_boxes, torch.Tensor):
            raise TypeError("Box2BoxTransform.get_deltas takes tensors, not Boxes (use .tensor)")
        src_widths = src_boxes[:, 2] - src_boxes[:, 0]
        src_heights = src_boxes[:, 3] - src_boxes[:, 1]
        src_ctr_x = src_boxes[:, 0] + 0.5 * src_widths
        src_ctr_y = src_boxes[:, 1] + 0.5 * src_heights

        target_widths = target_boxes[:, 2] - target_boxes[:, 0]
        target_heights = target_boxes[:, 3] - target_boxes[:, 1]
        target_ctr_x = target_boxes[:, 0] + 0.5 * target_widths
        target_ctr_y = target_boxes[:, 1] + 0.5 * target_heights

        wx, wy, ww, wh = self.weights
        dx = wx * (target_ctr_x - src_ctr_x) / src_widths
        dy = wy * (target_ctr_y - src_ctr_y) / src_heights
        dw = ww * torch.log(target_widths / src_widths)
        dh = wh * torch.log(target_heights / src_heights)
        if not (src_widths > 0).all().item():
            raise ValueError("Input boxes to Box2BoxTransform are not valid: some have non-positive width")
        return torch.stack((dx, dy, dw, dh), dim=1)

    def apply_deltas(self, deltas: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Decode (N, k*4) ``deltas`` against XYXY ``boxes`` (N, 4), in float32 for precision."""
        deltas = deltas.float()
        boxes = boxes.to(deltas.dtype)

        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights

        wx, wy, ww, wh = self.weights
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        dw = torch.clamp(deltas[:, 2::4] / ww, max=self.scale_clamp)
        dh = torch.clamp(deltas[:, 3::4] / wh, max=self.scale_clamp)

        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]

        x1 = pred_ctr_x - 0.5 * pred_w
        y1 = pred_ctr_y - 0.5 * pred_h
        x2 = pred_ctr_x + 0.5 * pred_w
        y2 = pred_ctr_y + 0.5 * pred_h
        return torch.stack((x1, y1, x2, y2), dim=-1).reshape(deltas.shape)


class Box2BoxTransformRotated:
    """(dx, dy, dw, dh, da) for rotated boxes (cx, cy, w, h, angle in degrees), scaled by five ``weights``.

    The angle delta is in radians times ``wa`` (as in RRPN), the box angle in degrees.
    """

    def __init__(
        self, weights: tuple[float, float, float, float, float], scale_clamp: float = _DEFAULT_SCALE_CLAMP
    ) -> None:
        if len(weights) != 5:
            raise ValueError(
                f"Box2BoxTransformRotated takes 5 weights (wx, wy, ww, wh, wa), got {len(weights)}: {tuple(weights)}; "
                "rotated configs set MODEL.RPN.BBOX_REG_WEIGHTS / MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS to 5 values"
            )
        self.weights = weights
        self.scale_clamp = scale_clamp

    def get_deltas(self, src_boxes: torch.Tensor, target_boxes: torch.Tensor) -> torch.Tensor:
        """Deltas (N, 5) that turn rotated ``src_boxes`` into ``target_boxes``."""
        if not isinstance(src_boxes, torch.Tensor) or not isinstance(target_boxes, torch.Tensor):
            raise TypeError("Box2BoxTransformRotated.get_deltas takes tensors, not RotatedBoxes (use .tensor)")
        src_ctr_x, src_ctr_y, src_widths, src_heights, src_angles = torch.unbind(src_boxes, dim=1)
        target_ctr_x, target_ctr_y, target_widths, target_heights, target_angles = torch.unbind(target_boxes, dim=1)
        wx, wy, ww, wh, wa = self.weights
        dx = wx * (target_ctr_x - src_ctr_x) / src_widths
        dy = wy * (target_ctr_y - src_ctr_y) / src_heights
        dw = ww * torch.log(target_widths / src_widths)
        dh = wh * torch.log(target_heights / src_heights)
        # Angle difference wrapped to [-180, 180) degrees, then radians.
        da = ((target_angles - src_angles + 180.0) % 360.0 - 180.0) * (wa * math.pi / 180.0)
        if not (src_widths > 0).all().item():
            raise ValueError("Input boxes to Box2BoxTransformRotated are not valid: some have non-positive width")
        return torch.stack((dx, dy, dw, dh, da), dim=1)

    def apply_deltas(self, deltas: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Decode (N, k*5) ``deltas`` against rotated ``boxes`` (N, 5); angles wrap to [-180, 180)."""
        if deltas.shape[1] % 5 != 0 or boxes.shape[1] != 5:
            raise ValueError(f"rotated deltas must be (N, k*5) and boxes (N, 5), got {deltas.shape}, {boxes.shape}")
        boxes = boxes.to(deltas.dtype).unsqueeze(2)
        ctr_x, ctr_y, widths, heights, angles = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
        wx, wy, ww, wh, wa = self.weights
        dx = deltas[:, 0::5] / wx
        dy = deltas[:, 1::5] / wy
        dw = torch.clamp(deltas[:, 2::5] / ww, max=self.scale_clamp)
        dh = torch.clamp(deltas[:, 3::5] / wh, max=self.scale_clamp)
        da = deltas[:, 4::5] / wa

        pred_boxes = torch.zeros_like(deltas)
        pred_boxes[:, 0::5] = dx * widths + ctr_x
        pred_boxes[:, 1::5] = dy * heights + ctr_y
        pred_boxes[:, 2::5] = torch.exp(dw) * widths
        pred_boxes[:, 3::5] = torch.exp(dh) * heights
        pred_angle = da * 180.0 / math.pi + angles
        pred_boxes[:, 4::5] = (pred_angle + 180.0) % 360.0 - 180.0
        return pred_boxes


class Box2BoxTransformLinear:
    """FCOS-style (left, top, right, bottom) distances from the source box centre, optionally / its size."""

    def __init__(self, normalize_by_size: bool = True) -> None:
        self.normalize_by_size = normalize_by_size

    def get_deltas(self, src_boxes: torch.Tensor, target_boxes: torch.Tensor) -> torch.Tensor:
        """Distances (N, 4) from each source box's centre to the target box's sides."""
        src_ctr_x = 0.5 * (src_boxes[:, 0] + src_boxes[:, 2])
        src_ctr_y = 0.5 * (src_boxes[:, 1] + src_boxes[:, 3])
        deltas = torch.stack(
            (
                src_ctr_x - target_boxes[:, 0],
                src_ctr_y - target_boxes[:, 1],
                target_boxes[:, 2] - src_ctr_x,
                target_boxes[:, 3] - src_ctr_y,
            ),
            dim=1,
        )
        if self.normalize_by_size:
            stride_w = src_boxes[:, 2] - src_boxes[:, 0]
            stride_h = src_boxes[:, 3] - src_boxes[:, 1]
            deltas = deltas / torch.stack([stride_w, stride_h, stride_w, stride_h], dim=1)
        return deltas

    def apply_deltas(self, deltas: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """XYXY boxes (N, k*4) at ``deltas`` distances from the centres of ``boxes`` (N, 4)."""
        # Distances are non-negative by construction; ReLU keeps decoded boxes valid.
        deltas = F.relu(deltas)
        boxes = boxes.to(deltas.dtype)
        ctr_x = 0.5 * (boxes[:, 0] + boxes[:, 2])
        ctr_y = 0.5 * (boxes[:, 1] + boxes[:, 3])
        if self.normalize_by_size:
            stride_w = boxes[:, 2] - boxes[:, 0]
            stride_h = boxes[:, 3] - boxes[:, 1]
            deltas = deltas * torch.stack([stride_w, stride_h, stride_w, stride_h], dim=1)
        pred_boxes = torch.zeros_like(deltas)
        pred_boxes[:, 0::4] = ctr_x[:, None] - deltas[:, 0::4]
        pred_boxes[:, 1::4] = ctr_y[:, None] - deltas[:, 1::4]
        pred_boxes[:, 2::4] = ctr_x[:, None] + deltas[:, 2::4]
        pred_boxes[:, 3::4] = ctr_y[:, None] + deltas[:, 3::4]
        return pred_boxes


_IOU_LOSSES = {"giou": giou_loss, "diou": diou_loss, "ciou": ciou_loss}


def _dense_box_regression_loss(
    anchors: list[Boxes] | list[torch.Tensor],
    box2box_transform: Box2BoxTransform | Box2BoxTransformRotated | Box2BoxTransformLinear,
    pred_anchor_deltas: list[torch.Tensor],
    gt_boxes: list[torch.Tensor],
    fg_mask: torch.Tensor | EllipsisType,
    box_reg_loss_type: str = "smooth_l1",
    smooth_l1_beta: float = 0.0,
) -> torch.Tensor:
    """Summed box-regression loss of dense detectors over the foreground anchors.

    ``anchors``: one Boxes (R_l, 4) per level; ``pred_anchor_deltas``: one (N, R_l, 4) per level;
    ``gt_boxes``: one (R, 4) tensor per image (the matched gt of each anchor); ``fg_mask``: (N, R),
    or ``...`` for every anchor.
    """
    anchors_tensor = type(anchors[0]).cat(anchors).tensor if isinstance(anchors[0], Boxes) else cat(anchors)
    if box_reg_loss_type == "smooth_l1":
        gt_anchor_deltas = torch.stack([box2box_transform.get_deltas(anchors_tensor, k) for k in gt_boxes])
        return smooth_l1_loss(
            cat(pred_anchor_deltas, dim=1)[fg_mask], gt_anchor_deltas[fg_mask], beta=smooth_l1_beta, reduction="sum"
        )
    if box_reg_loss_type in _IOU_LOSSES:
        pred_boxes = torch.stack(
            [box2box_transform.apply_deltas(k, anchors_tensor) for k in cat(pred_anchor_deltas, dim=1)]
        )
        return _IOU_LOSSES[box_reg_loss_type](pred_boxes[fg_mask], torch.stack(gt_boxes)[fg_mask], reduction="sum")
    raise ValueError(f"Invalid dense box regression loss type {box_reg_loss_type!r}; use smooth_l1, giou, diou or ciou")
