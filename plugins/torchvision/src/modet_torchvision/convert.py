"""Map the state dicts of torchvision's detection models onto modet's module tree.

Covers ``fasterrcnn_resnet50_fpn``, ``maskrcnn_resnet50_fpn``, ``keypointrcnn_resnet50_fpn``
and ``retinanet_resnet50_fpn``. torchvision's class 0 is the background; modet's class ``c``
is torchvision's label ``c + 1`` (90 COCO classes), and the R-CNN background logit moves from
the first row to the last, where detectron2 keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import torch

Tensor = torch.Tensor


def _stage(m: re.Match[str]) -> int:
    return int(m[1]) + 1  # torchvision layer1 is detectron2's res2


# (torchvision name, modet name) for every parameter torchvision's detection models have.
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"backbone\.body\.conv1\.weight"), lambda m: "backbone.bottom_up.stem.conv1.weight"),
    (re.compile(r"backbone\.body\.bn1\.(\w+)"), lambda m: f"backbone.bottom_up.stem.conv1.norm.{m[1]}"),
    (
        re.compile(r"backbone\.body\.layer(\d)\.(\d+)\.conv(\d)\.weight"),
        lambda m: f"backbone.bottom_up.res{_stage(m)}.{m[2]}.conv{m[3]}.weight",
    ),
    (
        re.compile(r"backbone\.body\.layer(\d)\.(\d+)\.bn(\d)\.(\w+)"),
        lambda m: f"backbone.bottom_up.res{_stage(m)}.{m[2]}.conv{m[3]}.norm.{m[4]}",
    ),
    (
        re.compile(r"backbone\.body\.layer(\d)\.(\d+)\.downsample\.0\.weight"),
        lambda m: f"backbone.bottom_up.res{_stage(m)}.{m[2]}.shortcut.weight",
    ),
    (
        re.compile(r"backbone\.body\.layer(\d)\.(\d+)\.downsample\.1\.(\w+)"),
        lambda m: f"backbone.bottom_up.res{_stage(m)}.{m[2]}.shortcut.norm.{m[3]}",
    ),
    (re.compile(r"backbone\.fpn\.extra_blocks\.(p6|p7)\.(\w+)"), lambda m: f"backbone.top_block.{m[1]}.{m[2]}"),
    (re.compile(r"rpn\.head\.conv(?:\.0\.0)?\.(\w+)"), lambda m: f"proposal_generator.rpn_head.conv.{m[1]}"),
    (re.compile(r"rpn\.head\.cls_logits\.(\w+)"), lambda m: f"proposal_generator.rpn_head.objectness_logits.{m[1]}"),
    (re.compile(r"rpn\.head\.bbox_pred\.(\w+)"), lambda m: f"proposal_generator.rpn_head.anchor_deltas.{m[1]}"),
    (re.compile(r"roi_heads\.box_head\.fc6\.(\w+)"), lambda m: f"roi_heads.box_head.fc1.{m[1]}"),
    (re.compile(r"roi_heads\.box_head\.fc7\.(\w+)"), lambda m: f"roi_heads.box_head.fc2.{m[1]}"),
    (
        re.compile(r"roi_heads\.box_predictor\.(cls_score|bbox_pred)\.(\w+)"),
        lambda m: f"roi_heads.box_predictor.{m[1]}.{m[2]}",
    ),
    (
        re.compile(r"roi_heads\.mask_head\.(\d)\.0\.(\w+)"),
        lambda m: f"roi_heads.mask_head.mask_fcn{int(m[1]) + 1}.{m[2]}",
    ),
    (re.compile(r"roi_heads\.mask_head\.mask_fcn(\d)\.(\w+)"), lambda m: f"roi_heads.mask_head.mask_fcn{m[1]}.{m[2]}"),
    (re.compile(r"roi_heads\.mask_predictor\.conv5_mask\.(\w+)"), lambda m: f"roi_heads.mask_head.deconv.{m[1]}"),
    (
        re.compile(r"roi_heads\.mask_predictor\.mask_fcn_logits\.(\w+)"),
        lambda m: f"roi_heads.mask_head.predictor.{m[1]}",
    ),
    (
        re.compile(r"roi_heads\.keypoint_head\.(\d+)\.(\w+)"),
        lambda m: f"roi_heads.keypoint_head.conv_fcn{int(m[1]) // 2 + 1}.{m[2]}",
    ),
    (
        re.compile(r"roi_heads\.keypoint_predictor\.kps_score_lowres\.(\w+)"),
        lambda m: f"roi_heads.keypoint_head.score_lowres.{m[1]}",
    ),
    (
        re.compile(r"head\.classification_head\.conv\.(\d)(?:\.0)?\.(\w+)"),
        lambda m: f"head.cls_subnet.{2 * int(m[1])}.{m[2]}",
    ),
    (
        re.compile(r"head\.regression_head\.conv\.(\d)(?:\.0)?\.(\w+)"),
        lambda m: f"head.bbox_subnet.{2 * int(m[1])}.{m[2]}",
    ),
    (re.compile(r"head\.classification_head\.cls_logits\.(\w+)"), lambda m: f"head.cls_score.{m[1]}"),
    (re.compile(r"head\.regression_head\.bbox_reg\.(\w+)"), lambda m: f"head.bbox_pred.{m[1]}"),
]


def is_torchvision_detection_state_dict(state_dict: Mapping[str, object]) -> bool:
    return "backbone.body.conv1.weight" in state_dict and (
        "rpn.head.cls_logits.weight" in state_dict or "head.classification_head.cls_logits.weight" in state_dict
    )


def _fpn_name(key: str, num_levels: int) -> str | None:
    match = re.match(r"backbone\.fpn\.(inner_blocks|layer_blocks)\.(\d)(?:\.0)?\.(\w+)$", key)
    if match is None:
        return None
    first_level = 6 - num_levels  # 4 inputs start at p2 (R-CNN), 3 at p3 (RetinaNet)
    kind = "lateral" if match[1] == "inner_blocks" else "output"
    return f"backbone.fpn_{kind}{int(match[2]) + first_level}.{match[3]}"


def _rename(key: str, num_fpn_levels: int) -> str:
    fpn = _fpn_name(key, num_fpn_levels)
    if fpn is not None:
        return fpn
    for pattern, target in _RULES:
        match = pattern.fullmatch(key)
        if match is not None:
            return target(match)
    raise KeyError(f"torchvision key {key!r} has no modet counterpart; is this one of the supported detection models?")


def _drop_background(name: str, value: Tensor, num_anchors: int | None) -> Tensor:
    """Reorder/drop torchvision's background class to modet's layout."""
    if name.startswith("roi_heads.box_predictor.cls_score."):
        return torch.cat([value[1:], value[:1]])  # background last
    if name.startswith("roi_heads.box_predictor.bbox_pred."):
        return value[4:]  # per-class deltas, without the background's
    if name.startswith("roi_heads.mask_head.predictor."):
        return value[1:]
    if name.startswith("head.cls_score.") and num_anchors:
        per_anchor = value.reshape(num_anchors, -1, *value.shape[1:])
        return per_anchor[:, 1:].reshape(-1, *value.shape[1:])
    return value


def convert_torchvision_detection(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """modet state dict of a torchvision detection model's state dict (names and class layout)."""
    if not is_torchvision_detection_state_dict(state_dict):
        raise ValueError("not a torchvision detection state dict (no backbone.body / rpn.head / head keys)")
    num_fpn_levels = len({k for k in state_dict if k.startswith("backbone.fpn.inner_blocks.") and k.endswith("weight")})
    num_anchors = None
    if "head.regression_head.bbox_reg.weight" in state_dict:
        num_anchors = state_dict["head.regression_head.bbox_reg.weight"].shape[0] // 4
    converted = {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        name = _rename(key, num_fpn_levels)
        converted[name] = _drop_background(name, value, num_anchors)
    return converted
