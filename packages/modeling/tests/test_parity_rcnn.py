"""detectron2 parity of the R-CNN family: state_dict keys/shapes and outputs, single and batched.

Fixtures were made by detectron2 itself (see modet-test-support's fixtures/README.md); ``modet_test_support.parity`` holds the
weight rule and the comparison rule.
"""

import pytest
import torch

from modet_test_support.parity import (
    assert_instances_match,
    assert_proposals_match,
    check_case,
    load_case,
    unpack_masks,
)

CASES = [
    "rpn_R_50_FPN",
    "faster_rcnn_R_50_FPN",
    "mask_rcnn_R_50_FPN",
    "mask_rcnn_R_50_C4",
    "keypoint_rcnn_R_50_FPN",
    "cascade_mask_rcnn_R_50_FPN",
]


@pytest.mark.parametrize("name", CASES)
def test_parity(name):
    check_case(name)


def _reference_as_ours(reference):
    ours = {k: v for k, v in reference.items() if not k.startswith("pred_masks")}
    if "pred_masks_packed" in reference:
        ours["pred_masks"] = unpack_masks(reference)
    return ours


def test_comparison_accepts_the_reference_and_rejects_changes():
    """The comparator itself can fail: a moved box, a changed score or an extra detection is caught."""
    reference = load_case("mask_rcnn_R_50_FPN").outputs["single"][1]["instances"]
    ours = _reference_as_ours(reference)
    assert_instances_match(ours, reference)

    moved = dict(ours, pred_boxes=ours["pred_boxes"] + torch.tensor([0.5, 0.0, 0.5, 0.0]))
    with pytest.raises(AssertionError, match="unmatched"):
        assert_instances_match(moved, reference)
    rescored = dict(ours, scores=ours["scores"] + 1e-3)
    with pytest.raises(AssertionError, match="unmatched"):
        assert_instances_match(rescored, reference)
    masks = ours["pred_masks"].clone()
    masks[0] = ~masks[0]
    with pytest.raises(AssertionError, match="unmatched"):
        assert_instances_match(dict(ours, pred_masks=masks), reference)
    extra = {k: torch.cat([v, v[:1]]) if isinstance(v, torch.Tensor) else v for k, v in ours.items()}
    with pytest.raises(AssertionError, match="detections, detectron2 has"):
        assert_instances_match(extra, reference)

    proposals = load_case("rpn_R_50_FPN").outputs["single"][0]["proposals"]
    assert_proposals_match(dict(proposals), proposals)
    with pytest.raises(AssertionError, match="unmatched"):
        assert_proposals_match(dict(proposals, objectness_logits=proposals["objectness_logits"] * 1.01), proposals)


def test_comparison_matches_thin_boxes_by_distance_not_iou():
    """A box thinner than a pixel moved by 0.005 px has IoU 0.6 yet is within the box tolerance."""
    thin = {
        "image_size": [400, 600],
        "proposal_boxes": torch.tensor([[0.0, 0.0, 177.55, 0.0122], [10.0, 10.0, 50.0, 60.0]]),
        "objectness_logits": torch.tensor([-0.5, 0.3]),
    }
    nudged = torch.tensor([[0.0, 0.0, 177.55, 0.0072], [10.0, 10.0, 50.0, 60.0]])
    assert_proposals_match(dict(thin, proposal_boxes=nudged), thin)
    wide_nudge = torch.tensor([[0.0, 0.0, 177.55, 0.0122], [10.0, 10.0, 50.0, 60.02]])
    with pytest.raises(AssertionError, match="unmatched"):  # a real box still needs the tolerance
        assert_proposals_match(dict(thin, proposal_boxes=wide_nudge), thin)
