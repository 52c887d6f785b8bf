"""How far an exported model's outputs are from the eager model's, for ``modet export``'s report."""

from __future__ import annotations

from typing import Any

from torchvision.ops import box_iou

__all__ = ["compare_outputs"]

# The tolerances of detectron2 parity (a detection matches at IoU >= 0.99 with the same class,
# scores within 1e-4, boxes within 1e-2 px, masks agreeing on >= 99% of pixels; logits within 1e-3).
IOU_MIN, SCORE_ATOL, BOX_ATOL, MASK_AGREEMENT_MIN, LOGIT_ATOL, ARGMAX_AGREEMENT_MIN = (
    0.99,
    1e-4,
    1e-2,
    0.99,
    1e-3,
    0.999,
)


def _compare_instances(expected: Any, actual: Any, boxes_field: str, scores_field: str) -> dict[str, Any]:
    e_boxes, a_boxes = expected.get(boxes_field).tensor, actual.get(boxes_field).tensor
    e_scores, a_scores = expected.get(scores_field), actual.get(scores_field)
    report: dict[str, Any] = {"eager": len(e_boxes), "exported": len(a_boxes), "matched": 0}
    if len(e_boxes) == 0 or len(a_boxes) == 0:
        report["ok"] = len(e_boxes) == len(a_boxes)
        return report
    iou = box_iou(e_boxes.double(), a_boxes.double())
    if expected.has("pred_classes"):
        iou = iou * (expected.pred_classes[:, None] == actual.pred_classes[None, :])
    best_iou, match = iou.max(dim=1)
    box_diff = (e_boxes - a_boxes[match]).abs().amax(dim=1)
    score_diff = (e_scores - a_scores[match]).abs()
    matched = (best_iou >= IOU_MIN) & (box_diff <= BOX_ATOL) & (score_diff <= SCORE_ATOL)
    report.update(
        matched=int(matched.sum()),
        max_box_diff=float(box_diff.max()),
        max_score_diff=float(score_diff.max()),
    )
    ok = bool(matched.all()) and len(e_boxes) == len(a_boxes)
    if expected.has("pred_masks"):
        e_masks, a_masks = expected.pred_masks.flatten(1), actual.pred_masks[match].flatten(1)
        agreement = (e_masks == a_masks).float().mean(dim=1)
        report["min_mask_agreement"] = float(agreement.min())
        ok &= bool((agreement >= MASK_AGREEMENT_MIN).all())
    if expected.has("pred_keypoints"):
        keypoint_diff = (expected.pred_keypoints[..., :2] - actual.pred_keypoints[match][..., :2]).abs().max()
        report["max_keypoint_diff"] = float(keypoint_diff)
        ok &= float(keypoint_diff) <= 0.5
    report["ok"] = ok
    return report


def compare_outputs(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """Per output key, counts and largest differences of ``actual`` (exported) against ``expected`` (eager),
    and ``ok``: whether they agree within detectron2's parity tolerances."""
    report: dict[str, Any] = {}
    if "instances" in expected:
        report["instances"] = _compare_instances(expected["instances"], actual["instances"], "pred_boxes", "scores")
    if "proposals" in expected:
        report["proposals"] = _compare_instances(
            expected["proposals"], actual["proposals"], "proposal_boxes", "objectness_logits"
        )
    if "sem_seg" in expected:
        e_seg, a_seg = expected["sem_seg"], actual["sem_seg"]
        same_shape = e_seg.shape == a_seg.shape
        logit_diff = float((e_seg - a_seg).abs().max()) if same_shape else float("inf")
        agreement = float((e_seg.argmax(0) == a_seg.argmax(0)).float().mean()) if same_shape else 0.0
        report["sem_seg"] = {
            "max_logit_diff": logit_diff,
            "argmax_agreement": agreement,
            "ok": logit_diff <= LOGIT_ATOL and agreement >= ARGMAX_AGREEMENT_MIN,
        }
    if "panoptic_seg" in expected:
        (e_seg, e_info), (a_seg, a_info) = expected["panoptic_seg"], actual["panoptic_seg"]
        agreement = float((e_seg == a_seg).float().mean()) if e_seg.shape == a_seg.shape else 0.0
        report["panoptic_seg"] = {
            "segments": [len(e_info), len(a_info)],
            "id_agreement": agreement,
            "ok": len(e_info) == len(a_info) and agreement >= MASK_AGREEMENT_MIN,
        }
    report["ok"] = all(part["ok"] for part in report.values() if isinstance(part, dict))
    return report
