"""find_top_rpn_proposals (per-level top-k, clip, min size, per-level NMS, post top-k) and gt appending."""

import math

import pytest
import torch

from modet.modeling.proposal_generator.proposal_utils import (
    add_ground_truth_to_proposals,
    find_top_rpn_proposals,
)
from modet.structures import Boxes, Instances


def _select(proposals, logits, **kwargs):
    args = {
        "image_sizes": [(100, 100)],
        "nms_thresh": 0.5,
        "pre_nms_topk": 10,
        "post_nms_topk": 10,
        "min_box_size": 0.0,
        "training": False,
    }
    args.update(kwargs)
    return find_top_rpn_proposals(proposals, logits, **args)


def test_nms_is_per_level_and_output_sorted():
    same_box = [10.0, 10.0, 50.0, 50.0]
    level0 = torch.tensor([[same_box, [12.0, 12.0, 50.0, 50.0], [60.0, 60.0, 90.0, 90.0]]])
    level1 = torch.tensor([[same_box]])
    logits = [torch.tensor([[0.9, 0.8, 0.1]]), torch.tensor([[0.5]])]
    (result,) = _select([level0, level1], logits)
    # The overlapping box of level 0 is suppressed; the identical box of level 1 survives.
    assert result.objectness_logits.tolist() == pytest.approx([0.9, 0.5, 0.1])
    torch.testing.assert_close(result.proposal_boxes.tensor[1], torch.tensor(same_box))


def test_pre_topk_per_level_then_post_topk():
    boxes = torch.tensor([[[i * 10.0, 0.0, i * 10.0 + 5, 5.0] for i in range(5)]])
    logits = torch.tensor([[0.1, 0.5, 0.3, 0.9, 0.7]])
    (result,) = _select([boxes], [logits], pre_nms_topk=3, post_nms_topk=2)
    assert result.objectness_logits.tolist() == pytest.approx([0.9, 0.7])
    (result,) = _select([boxes], [logits], pre_nms_topk=3, post_nms_topk=10)
    assert len(result) == 3


def test_clip_and_min_box_size():
    boxes = torch.tensor([[[-10.0, -10.0, 20.0, 20.0], [90.0, 90.0, 130.0, 95.0], [30.0, 30.0, 32.0, 60.0]]])
    logits = torch.tensor([[0.3, 0.2, 0.1]])
    (result,) = _select([boxes], [logits], image_sizes=[(100, 120)], min_box_size=3.0)
    # Clipped to (h=100, w=120); the 2 px wide box is dropped.
    torch.testing.assert_close(
        result.proposal_boxes.tensor, torch.tensor([[0.0, 0.0, 20.0, 20.0], [90.0, 90.0, 120.0, 95.0]])
    )
    assert result.image_size == (100, 120)


def test_batch_of_two_images_and_non_finite():
    boxes = torch.tensor([[[0.0, 0.0, 10.0, 10.0]], [[float("nan"), 0.0, 10.0, 10.0]]])
    logits = torch.tensor([[1.0], [2.0]])
    first, second = _select([boxes], [logits], image_sizes=[(50, 50), (60, 60)])
    assert len(first) == 1 and len(second) == 0
    with pytest.raises(FloatingPointError, match="diverged"):
        _select([boxes], [logits], image_sizes=[(50, 50), (60, 60)], training=True)


def test_add_ground_truth_to_proposals():
    proposals = Instances((50, 50))
    proposals.proposal_boxes = Boxes(torch.tensor([[0.0, 0.0, 5.0, 5.0]]))
    proposals.objectness_logits = torch.tensor([0.3])
    gt = Instances((50, 50))
    gt.gt_boxes = Boxes(torch.tensor([[1.0, 1.0, 9.0, 9.0], [2.0, 2.0, 4.0, 8.0]]))
    (merged,) = add_ground_truth_to_proposals([gt], [proposals])
    assert len(merged) == 3
    torch.testing.assert_close(merged.proposal_boxes.tensor[1:], gt.gt_boxes.tensor)
    expected_logit = math.log((1 - 1e-10) / 1e-10)
    assert merged.objectness_logits[1:].tolist() == pytest.approx([expected_logit] * 2)
    with pytest.raises(ValueError, match="same length"):
        add_ground_truth_to_proposals([gt, gt], [proposals])


def test_add_ground_truth_keeps_the_proposals_fields_and_needs_them_in_gt():
    proposals = Instances((10, 10), proposal_boxes=Boxes(torch.zeros(0, 4)), objectness_logits=torch.zeros(0))
    proposals.custom = torch.zeros(0)
    gt = Instances((10, 10), gt_boxes=Boxes(torch.tensor([[0.0, 0.0, 1.0, 1.0]])))
    with pytest.raises(AssertionError, match="'custom' in `proposals` does not exist in `gt`"):
        add_ground_truth_to_proposals([gt], [proposals])
    gt.custom = torch.tensor([7.0])
    gt.extra = torch.tensor([1.0])
    (merged,) = add_ground_truth_to_proposals([gt], [proposals])
    assert merged.custom.tolist() == [7.0] and not merged.has("extra")
