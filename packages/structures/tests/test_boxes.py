import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from modet.structures import Boxes, BoxMode, pairwise_ioa, pairwise_iou, pairwise_point_box_distance
from modet.structures.boxes import matched_pairwise_iou, pairwise_intersection


def _random_boxes(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 0.5
    return torch.cat([xy, xy + wh], dim=1)


class TestBoxMode:
    def test_xywh_xyxy_hand_computed(self):
        assert BoxMode.convert([1, 2, 3, 4], BoxMode.XYWH_ABS, BoxMode.XYXY_ABS) == [1, 2, 4, 6]
        assert BoxMode.convert((1.0, 2.0, 4.0, 6.0), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS) == (1.0, 2.0, 3.0, 4.0)

    def test_round_trip_tensor_numpy_and_input_untouched(self):
        boxes = _random_boxes(20)
        original = boxes.clone()
        xywh = BoxMode.convert(boxes, BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
        back = BoxMode.convert(xywh, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
        torch.testing.assert_close(back, boxes)
        assert torch.equal(boxes, original)

        arr = boxes.numpy().copy()
        out = BoxMode.convert(BoxMode.convert(arr, BoxMode.XYXY_ABS, BoxMode.XYWH_ABS), 1, 0)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, arr, rtol=1e-6)
        np.testing.assert_array_equal(arr, original.numpy())

    def test_xywh_to_xywha_and_back_to_xyxy(self):
        xywh = torch.tensor([[10.0, 20.0, 4.0, 6.0]])
        xywha = BoxMode.convert(xywh, BoxMode.XYWH_ABS, BoxMode.XYWHA_ABS)
        torch.testing.assert_close(xywha, torch.tensor([[12.0, 23.0, 4.0, 6.0, 0.0]]))
        xyxy = BoxMode.convert(xywha, BoxMode.XYWHA_ABS, BoxMode.XYXY_ABS)
        torch.testing.assert_close(xyxy, torch.tensor([[10.0, 20.0, 14.0, 26.0]]))

    def test_xywha_to_xyxy_rotated_90_and_45(self):
        # a 4x2 box turned 90 degrees covers 2x4; at 45 degrees its hull is (4+2)/sqrt(2) wide
        out = BoxMode.convert(torch.tensor([[5.0, 3.0, 4.0, 2.0, 90.0]]), BoxMode.XYWHA_ABS, BoxMode.XYXY_ABS)
        torch.testing.assert_close(out, torch.tensor([[4.0, 1.0, 6.0, 5.0]]))
        side = 6 / 2**0.5
        out = BoxMode.convert([0.0, 0.0, 4.0, 2.0, 45.0], BoxMode.XYWHA_ABS, BoxMode.XYXY_ABS)
        np.testing.assert_allclose(out, [-side / 2, -side / 2, side / 2, side / 2], rtol=1e-6)

    def test_same_mode_returns_input(self):
        box = torch.rand(3, 4)
        assert BoxMode.convert(box, BoxMode.XYXY_REL, BoxMode.XYXY_REL) is box

    def test_errors(self):
        with pytest.raises(NotImplementedError, match="Relative"):
            BoxMode.convert(torch.rand(2, 4), BoxMode.XYXY_REL, BoxMode.XYXY_ABS)
        with pytest.raises(NotImplementedError, match="Relative"):
            BoxMode.convert(torch.rand(2, 4), BoxMode.XYXY_ABS, BoxMode.XYWH_REL)
        with pytest.raises(ValueError, match="length 3"):
            BoxMode.convert([1, 2, 3], BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
        with pytest.raises(ValueError, match=r"\(N, 4\)"):
            BoxMode.convert(torch.rand(4), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
        with pytest.raises(ValueError, match="must be 5"):
            BoxMode.convert(torch.rand(2, 4), BoxMode.XYWHA_ABS, BoxMode.XYXY_ABS)
        with pytest.raises(NotImplementedError, match="not supported"):
            BoxMode.convert(torch.rand(2, 4), BoxMode.XYXY_ABS, BoxMode.XYWHA_ABS)

    def test_empty(self):
        out = BoxMode.convert(torch.zeros(0, 4), BoxMode.XYWH_ABS, BoxMode.XYXY_ABS)
        assert out.shape == (0, 4)


class TestBoxes:
    def test_construction_and_errors(self):
        assert Boxes(torch.zeros(0)).tensor.shape == (0, 4)
        assert Boxes([[0, 0, 1, 1]]).tensor.dtype == torch.float32
        with pytest.raises(ValueError, match=r"\(N, 4\).*\(3, 5\)"):
            Boxes(torch.zeros(3, 5))
        with pytest.raises(ValueError, match=r"\(4,\)"):
            Boxes(torch.zeros(4))

    def test_area_clip_nonempty_centers_scale(self):
        b = Boxes(torch.tensor([[0.0, 0.0, 10.0, 5.0], [-5.0, 2.0, 20.0, 30.0], [3.0, 3.0, 3.0, 8.0]]))
        torch.testing.assert_close(b.area(), torch.tensor([50.0, 700.0, 0.0]))
        torch.testing.assert_close(b.get_centers(), torch.tensor([[5.0, 2.5], [7.5, 16.0], [3.0, 5.5]]))
        torch.testing.assert_close(b.nonempty(), torch.tensor([True, True, False]))
        assert b.nonempty(threshold=5.0).tolist() == [False, True, False]
        c = b.clone()
        c.clip((12, 15))
        torch.testing.assert_close(c.tensor[1], torch.tensor([0.0, 2.0, 15.0, 12.0]))
        assert b.tensor[1, 0] == -5.0  # clone is independent
        c.scale(2.0, 0.5)
        torch.testing.assert_close(c.tensor[0], torch.tensor([0.0, 0.0, 20.0, 2.5]))
        with pytest.raises(ValueError, match="infinite or NaN"):
            Boxes(torch.tensor([[0.0, 0.0, float("inf"), 1.0]])).clip((10, 10))

    def test_inside_box(self):
        b = Boxes(torch.tensor([[0.0, 0.0, 9.0, 9.0], [-1.0, 0.0, 5.0, 5.0], [0.0, 0.0, 10.0, 5.0]]))
        assert b.inside_box((10, 10)).tolist() == [True, False, False]
        assert b.inside_box((10, 10), boundary_threshold=1).tolist() == [True, True, True]

    def test_indexing_len_iter_cat_repr(self):
        t = _random_boxes(5)
        b = Boxes(t)
        assert len(b) == 5
        assert b[2].tensor.shape == (1, 4) and torch.equal(b[2].tensor[0], t[2])
        assert torch.equal(b[1:3].tensor, t[1:3])
        mask = torch.tensor([True, False, True, False, True])
        assert torch.equal(b[mask].tensor, t[mask])
        assert torch.equal(b[torch.tensor([4, 0])].tensor, t[[4, 0]])
        assert [x.tolist() for x in b] == t.tolist()
        cat = Boxes.cat([b, b[:2]])
        assert len(cat) == 7 and torch.equal(cat.tensor[5:], t[:2])
        assert len(Boxes.cat([])) == 0
        assert repr(b[0]).startswith("Boxes(tensor(")
        assert b.device == torch.device("cpu") and b.to("cpu").device == torch.device("cpu")
        with pytest.raises(TypeError, match="element 1"):
            Boxes.cat([b, t])

    def test_empty_boxes(self):
        e = Boxes(torch.zeros(0, 4))
        assert e.area().shape == (0,) and e.nonempty().shape == (0,)
        e.clip((5, 5))
        assert pairwise_iou(e, Boxes(_random_boxes(3))).shape == (0, 3)
        assert pairwise_iou(Boxes(_random_boxes(3)), e).shape == (3, 0)


class TestPairwise:
    def test_iou_hand_computed(self):
        a = Boxes(torch.tensor([[0.0, 0.0, 2.0, 2.0]]))
        b = Boxes(
            torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 1.0, 2.0]])
        )
        torch.testing.assert_close(pairwise_iou(a, b), torch.tensor([[1 / 7, 1.0, 0.0, 0.5]]))
        torch.testing.assert_close(pairwise_intersection(a, b), torch.tensor([[1.0, 4.0, 0.0, 2.0]]))
        torch.testing.assert_close(pairwise_ioa(a, b), torch.tensor([[0.25, 1.0, 0.0, 1.0]]))

    def test_iou_matches_torchvision(self):
        b1, b2 = _random_boxes(60, 1), _random_boxes(40, 2)
        torch.testing.assert_close(pairwise_iou(Boxes(b1), Boxes(b2)), box_iou(b1, b2))

    def test_degenerate_boxes_give_zero(self):
        degenerate = Boxes(torch.tensor([[1.0, 1.0, 1.0, 5.0], [3.0, 3.0, 2.0, 2.0]]))
        normal = Boxes(torch.tensor([[0.0, 0.0, 4.0, 4.0]]))
        assert pairwise_iou(degenerate, normal).tolist() == [[0.0], [0.0]]
        assert pairwise_iou(degenerate, degenerate).tolist() == [[0.0, 0.0], [0.0, 0.0]]
        assert pairwise_ioa(normal, degenerate).tolist() == [[0.0, 0.0]]

    def test_matched_pairwise_iou(self):
        b1, b2 = _random_boxes(30, 3), _random_boxes(30, 4)
        expected = box_iou(b1, b2).diagonal()
        torch.testing.assert_close(matched_pairwise_iou(Boxes(b1), Boxes(b2)), expected)
        with pytest.raises(ValueError, match="got 30, 2"):
            matched_pairwise_iou(Boxes(b1), Boxes(b2[:2]))

    def test_point_box_distance(self):
        points = torch.tensor([[1.0, 2.0], [10.0, 10.0]])
        boxes = Boxes(torch.tensor([[0.0, 0.0, 4.0, 5.0]]))
        d = pairwise_point_box_distance(points, boxes)
        assert d.shape == (2, 1, 4)
        assert d[0, 0].tolist() == [1.0, 2.0, 3.0, 3.0]
        assert d[1, 0].tolist() == [10.0, 10.0, -6.0, -5.0]
        with pytest.raises(ValueError, match=r"\(N, 2\)"):
            pairwise_point_box_distance(torch.zeros(3), boxes)


def test_pairwise_iou_gradient_matches_torchvision():
    b1, b2 = _random_boxes(6, 5), _random_boxes(5, 6)
    ours = b1.clone().requires_grad_()
    theirs = b1.clone().requires_grad_()
    (pairwise_iou(Boxes(ours), Boxes(b2)) ** 2).sum().backward()
    (box_iou(theirs, b2) ** 2).sum().backward()
    torch.testing.assert_close(ours.grad, theirs.grad)


def test_clip_replaces_the_tensor_so_views_under_autograd_can_be_clipped():
    source = torch.tensor([[-1.0, 2.0, 30.0, 4.0], [1.0, -2.0, 3.0, 40.0]], requires_grad=True)
    first, _second = (source * 1).split(1)  # two views of one autograd output: in-place is refused
    boxes = Boxes(first)
    boxes.clip((10, 20))
    assert boxes.tensor.tolist() == [[0.0, 2.0, 20.0, 4.0]]
    assert first.tolist() == [[-1.0, 2.0, 30.0, 4.0]]  # the tensor the boxes came from is unchanged
    boxes.tensor.sum().backward()
    assert source.grad.tolist() == [[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
