"""pairwise_iou_rotated in float32 gives detectron2's values to the last bit (fixtures recorded by
fixtures/record_rotated_iou.py with detectron2), so that equal IoUs tie exactly where they tie in
detectron2; float64 takes the clipping kernel, exact to float64 rounding."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from modet.structures import RotatedBoxes, pairwise_iou_rotated
from modet.structures.rotated_iou_exact import rotated_iou_pairs

FIXTURE = Path(__file__).parent / "fixtures" / "rotated_iou_detectron2.pt"
CASES = torch.load(FIXTURE, weights_only=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_iou_is_detectron2s_bit_for_bit(name):
    case = CASES[name]
    iou = pairwise_iou_rotated(RotatedBoxes(case["boxes1"]), RotatedBoxes(case["boxes2"]))
    assert iou.dtype == torch.float32
    mismatched = (iou != case["iou"]).nonzero().tolist()
    assert mismatched == [], f"{len(mismatched)} IoUs differ from detectron2's, e.g. at {mismatched[:3]}"


def test_ties_fall_as_in_detectron2():
    """A small box inside same-sized anchors: the exact IoUs tie, and the best-IoU set is detectron2's."""
    case = CASES["contained_ties"]
    iou = pairwise_iou_rotated(case["boxes1"], case["boxes2"])
    for row, expected in zip(iou, case["iou"]):
        assert (row == row.max()).nonzero().tolist() == (expected == expected.max()).nonzero().tolist()
    # The exact value is area(gt) / area(anchor); the tied entries differ from it only by rounding.
    assert case["iou"][1].max().item() == pytest.approx(16.0 / 32.0**2, rel=1e-6)


def test_pairs_by_hand_and_float64():
    # A unit square against itself turned by 45 degrees: octagon of area 2 (sqrt 2 - 1), IoU = it / (2 - it).
    square = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0]])
    diamond = torch.tensor([[0.0, 0.0, 1.0, 1.0, 45.0]])
    octagon = 2.0 * (math.sqrt(2.0) - 1.0)
    assert rotated_iou_pairs(square, diamond).item() == pytest.approx(octagon / (2.0 - octagon), rel=1e-6)
    assert rotated_iou_pairs(square, square).item() == pytest.approx(1.0, rel=1e-6)
    assert rotated_iou_pairs(square, torch.tensor([[5.0, 0.0, 1.0, 1.0, 0.0]])).item() == 0.0
    assert rotated_iou_pairs(square, torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0]])).item() == 0.0  # empty box
    assert rotated_iou_pairs(torch.zeros(0, 5), torch.zeros(0, 5)).shape == (0,)
    # Nearly identical boxes: float64 input keeps float64 accuracy.
    case = CASES["near_identical"]
    iou64 = pairwise_iou_rotated(case["boxes1"].double(), case["boxes2"].double())
    assert iou64.dtype == torch.float64
    torch.testing.assert_close(iou64.diagonal(), torch.ones(20, dtype=torch.float64), atol=2e-4, rtol=0)
    torch.testing.assert_close(iou64.float(), case["iou"], atol=1e-4, rtol=0)  # float32 rounding at x ~ 100
