import math

import pytest
import torch

from modet.structures import Boxes, BoxMode, RotatedBoxes, pairwise_iou, pairwise_iou_rotated
from modet.structures.rotated_iou import pairwise_iou_rotated as pairwise_iou_rotated_tensors


def _random_xywh(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.rand(n, 2, generator=g) * 100, torch.rand(n, 2, generator=g) * 40 + 1], dim=1)


def _xywha(xywh: torch.Tensor) -> RotatedBoxes:
    return RotatedBoxes(BoxMode.convert(xywh, BoxMode.XYWH_ABS, BoxMode.XYWHA_ABS))


class TestRotatedIoU:
    def test_axis_aligned_equals_horizontal_iou(self):
        a, b = _random_xywh(50, 0), _random_xywh(40, 1)
        expected = pairwise_iou(
            Boxes(BoxMode.convert(a, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)),
            Boxes(BoxMode.convert(b, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)),
        )
        assert expected.gt(0).sum() > 50  # the test covers many overlapping pairs
        torch.testing.assert_close(pairwise_iou_rotated(_xywha(a), _xywha(b)), expected, atol=1e-5, rtol=0)

    def test_90_degrees_with_swapped_sides_and_180_are_the_same_box(self):
        r = _xywha(_random_xywh(30, 2)).tensor
        turned = r.clone()
        turned[:, 2], turned[:, 3], turned[:, 4] = r[:, 3], r[:, 2], 90.0
        flipped = r.clone()
        flipped[:, 4] = -180.0
        iou = pairwise_iou_rotated(RotatedBoxes(turned), RotatedBoxes(r))
        torch.testing.assert_close(iou.diagonal(), torch.ones(30), atol=1e-5, rtol=0)
        torch.testing.assert_close(
            pairwise_iou_rotated(RotatedBoxes(flipped), RotatedBoxes(r)),
            pairwise_iou_rotated(RotatedBoxes(r), RotatedBoxes(r)),
            atol=1e-5,
            rtol=0,
        )

    def test_45_degree_squares(self):
        # Concentric side-4 squares at 0 and 45 degrees meet in a regular octagon: 4 corners
        # of (2*sqrt(2) - 2)^2 each are cut off, and the IoU comes out as exactly 1/sqrt(2).
        a = RotatedBoxes(torch.tensor([[5.0, 5.0, 4.0, 4.0, 0.0]]))
        b = RotatedBoxes(torch.tensor([[5.0, 5.0, 4.0, 4.0, 45.0], [5.0, 5.0, 4.0, 4.0, -45.0]]))
        inter = 16 - 4 * (2 * math.sqrt(2) - 2) ** 2
        expected = inter / (32 - inter)
        torch.testing.assert_close(pairwise_iou_rotated(a, b), torch.full((1, 2), expected), atol=1e-6, rtol=0)
        assert abs(expected - 1 / math.sqrt(2)) < 1e-12

    def test_45_degree_square_against_shifted_square(self):
        # A side-2*sqrt(2) square turned 45 degrees is the diamond |x| + |y| <= 2 (area 8);
        # the square [0, 4]^2 keeps its first-quadrant triangle x + y <= 2 (area 2).
        diamond = RotatedBoxes(torch.tensor([[0.0, 0.0, 2 * math.sqrt(2), 2 * math.sqrt(2), 45.0]]))
        square = RotatedBoxes(torch.tensor([[2.0, 2.0, 4.0, 4.0, 0.0]]))
        expected = 2.0 / (8.0 + 16.0 - 2.0)
        torch.testing.assert_close(pairwise_iou_rotated(diamond, square), torch.tensor([[expected]]))

    def test_identical_disjoint_and_degenerate(self):
        boxes = RotatedBoxes(torch.tensor([[3.0, 4.0, 5.0, 2.0, 33.0], [50.0, 50.0, 3.0, 3.0, -70.0]]))
        iou = pairwise_iou_rotated(boxes, boxes)
        torch.testing.assert_close(iou, torch.eye(2), atol=1e-5, rtol=0)
        degenerate = RotatedBoxes(torch.tensor([[3.0, 4.0, 0.0, 2.0, 10.0], [3.0, 4.0, -5.0, 2.0, 0.0]]))
        assert pairwise_iou_rotated(degenerate, boxes).tolist() == [[0.0, 0.0], [0.0, 0.0]]

    def test_touching_boxes_are_zero(self):
        a = RotatedBoxes(torch.tensor([[0.0, 0.0, 2.0, 2.0, 0.0]]))
        b = RotatedBoxes(torch.tensor([[2.0, 0.0, 2.0, 2.0, 0.0], [0.0, 0.0, 2.0, 2.0, 30.0]]))
        iou = pairwise_iou_rotated(a, b)
        assert iou[0, 0].abs() < 1e-6 and 0.5 < iou[0, 1] < 1.0

    def test_symmetric_and_matches_float64(self):
        g = torch.Generator().manual_seed(3)
        boxes = torch.cat([torch.rand(80, 2, generator=g) * 50, torch.rand(80, 2, generator=g) * 30 + 1,
                           torch.rand(80, 1, generator=g) * 360 - 180], dim=1)  # fmt: skip
        iou32 = pairwise_iou_rotated_tensors(boxes, boxes)
        iou64 = pairwise_iou_rotated_tensors(boxes.double(), boxes.double())
        assert iou64.dtype == torch.float64 and (iou64 > 0.05).sum() > 200
        torch.testing.assert_close(iou32, iou32.T, atol=1e-5, rtol=0)
        torch.testing.assert_close(iou32.double(), iou64, atol=1e-5, rtol=0)
        assert ((iou64 >= 0) & (iou64 <= 1 + 1e-9)).all()

    def test_empty_and_errors(self):
        some = RotatedBoxes(torch.rand(3, 5))
        assert pairwise_iou_rotated(RotatedBoxes(torch.zeros(0, 5)), some).shape == (0, 3)
        assert pairwise_iou_rotated(some, RotatedBoxes(torch.zeros(0))).shape == (3, 0)
        with pytest.raises(ValueError, match=r"boxes2 must have shape \(N, 5\)"):
            pairwise_iou_rotated_tensors(torch.zeros(2, 5), torch.zeros(2, 4))


class TestRotatedBoxes:
    def test_construction_and_errors(self):
        assert RotatedBoxes(torch.zeros(0)).tensor.shape == (0, 5)
        with pytest.raises(ValueError, match=r"\(N, 5\)"):
            RotatedBoxes(torch.zeros(2, 4))

    def test_area_nonempty_centers_index_cat(self):
        t = torch.tensor([[1.0, 2.0, 3.0, 4.0, 10.0], [0.0, 0.0, 0.0, 5.0, 0.0], [5.0, 5.0, 2.0, 2.0, 90.0]])
        r = RotatedBoxes(t)
        assert r.area().tolist() == [12.0, 0.0, 4.0]
        assert r.nonempty().tolist() == [True, False, True]
        assert torch.equal(r.get_centers(), t[:, :2])
        assert isinstance(r[0], RotatedBoxes) and r[0].tensor.shape == (1, 5)
        assert torch.equal(r[torch.tensor([True, False, True])].tensor, t[[0, 2]])
        cat = RotatedBoxes.cat([r, r[1:]])
        assert isinstance(cat, RotatedBoxes) and len(cat) == 5
        assert repr(r).startswith("RotatedBoxes(")

    def test_clip_normalises_angles_and_clips_near_horizontal_only(self):
        r = RotatedBoxes(
            torch.tensor([[2.0, 5.0, 10.0, 4.0, 360.5], [2.0, 5.0, 10.0, 4.0, 30.0], [1.0, 1.0, 2.0, 2.0, 190.0]])
        )
        r.clip((8, 8))
        # box 0: angle 0.5 after normalisation, x range [-3, 7] clipped to [0, 7]
        torch.testing.assert_close(r.tensor[0], torch.tensor([3.5, 5.0, 7.0, 4.0, 0.5]))
        torch.testing.assert_close(r.tensor[1], torch.tensor([2.0, 5.0, 10.0, 4.0, 30.0]))  # not clipped
        torch.testing.assert_close(r.tensor[2, 4], torch.tensor(-170.0))

    def test_scale(self):
        r = RotatedBoxes(torch.tensor([[10.0, 10.0, 4.0, 2.0, 0.0], [10.0, 10.0, 4.0, 2.0, 90.0]]))
        r.scale(2.0, 3.0)
        torch.testing.assert_close(r.tensor[0], torch.tensor([20.0, 30.0, 8.0, 6.0, 0.0]))
        # at 90 degrees the width lies along y, so it takes the y factor
        torch.testing.assert_close(r.tensor[1], torch.tensor([20.0, 30.0, 12.0, 4.0, 90.0]), atol=1e-5, rtol=0)

    def test_inside_box(self):
        r = RotatedBoxes(torch.tensor([[5.0, 5.0, 4.0, 4.0, 0.0], [5.0, 5.0, 4.0, 4.0, 45.0]]))
        # the 45-degree square's hull reaches 5 +- 2*sqrt(2) = 2.17 .. 7.83
        assert r.inside_box((8, 8)).tolist() == [True, True]
        assert r.inside_box((7.5, 7.5)).tolist() == [True, False]


def test_chunked_pairs_give_the_same_result(monkeypatch):
    import modet.structures.rotated_iou as rotated_iou

    boxes = _xywha(_random_xywh(40, 7)).tensor
    boxes[:, 4] = torch.linspace(-180, 180, 40)
    expected = pairwise_iou_rotated_tensors(boxes, boxes)
    monkeypatch.setattr(rotated_iou, "_PAIRS_PER_CHUNK", 7)
    torch.testing.assert_close(pairwise_iou_rotated_tensors(boxes, boxes), expected)
