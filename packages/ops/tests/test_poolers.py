import pytest
import torch
from torchvision.ops import roi_align as tv_roi_align
from torchvision.ops import roi_pool

from modet.ops import ROIPooler, assign_boxes_to_levels, convert_boxes_to_pooler_format
from modet.structures import Boxes, RotatedBoxes


def _square(x0, y0, side):
    return [x0, y0, x0 + side, y0 + side]


def test_assign_boxes_to_levels_hand_computed():
    boxes = [
        Boxes(torch.tensor([_square(0, 0, 224), _square(0, 0, 112)], dtype=torch.float32)),
        Boxes(torch.tensor([_square(5, 5, 448), _square(0, 0, 10), _square(0, 0, 1000), [0, 0, 112, 448]])),
    ]
    # floor(4 + log2(sqrt(area) / 224)): 4, 3, 5, floor(-0.49) = -1 -> clamped 2, 6 -> clamped 5, 4.
    levels = assign_boxes_to_levels(boxes, min_level=2, max_level=5, canonical_box_size=224, canonical_level=4)
    assert levels.dtype == torch.int64
    assert levels.tolist() == [2, 1, 3, 0, 3, 2]
    # A different canonical size moves every box: 112 -> level 4.
    levels = assign_boxes_to_levels(boxes[:1], 2, 5, canonical_box_size=112, canonical_level=4)
    assert levels.tolist() == [3, 2]


def test_assign_rotated_boxes_uses_their_area():
    boxes = [RotatedBoxes(torch.tensor([[50.0, 50.0, 224.0, 224.0, 30.0], [0.0, 0.0, 56.0, 56.0, -60.0]]))]
    assert assign_boxes_to_levels(boxes, 2, 5, 224, 4).tolist() == [2, 0]


def test_convert_boxes_to_pooler_format():
    boxes = [
        Boxes(torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8]])),
        Boxes(torch.zeros(0, 4)),
        Boxes(torch.tensor([[9.0, 9, 10, 10]])),
    ]
    expected = torch.tensor([[0, 1.0, 2, 3, 4], [0, 5, 6, 7, 8], [2, 9, 9, 10, 10]])
    assert torch.equal(convert_boxes_to_pooler_format(boxes), expected)
    rotated = convert_boxes_to_pooler_format([RotatedBoxes(torch.ones(2, 5)), RotatedBoxes(torch.ones(1, 5))])
    assert rotated.shape == (3, 6) and rotated[:, 0].tolist() == [0, 0, 1]


def _pyramid(batch=2, channels=3):
    torch.manual_seed(0)
    return [torch.randn(batch, channels, 64 // s, 64 // s) for s in (4, 8, 16)]  # strides 4, 8, 16


@pytest.mark.parametrize("pooler_type, aligned", [("ROIAlignV2", True), ("ROIAlign", False)])
def test_each_box_is_pooled_from_its_level(pooler_type, aligned):
    features = _pyramid()
    scales = [1 / 4, 1 / 8, 1 / 16]
    pooler = ROIPooler((3, 3), scales, sampling_ratio=2, pooler_type=pooler_type, canonical_box_size=32)
    box_lists = [
        Boxes(torch.tensor([[0.0, 0.0, 8.0, 8.0], [4.0, 4.0, 60.0, 60.0]])),  # sizes 8 -> level 2, 56 -> 4
        Boxes(torch.tensor([[10.0, 12.0, 42.0, 44.0]])),  # size 32 -> canonical level 4 (offset 2)
    ]
    out = pooler(features, box_lists)
    levels = [0, 2, 2]  # offsets from min_level 2
    rois = convert_boxes_to_pooler_format(box_lists)
    for i, level in enumerate(levels):
        expected = tv_roi_align(features[level], rois[i : i + 1], (3, 3), scales[level], 2, aligned)
        # CPU inference pools by separable products: torchvision's values up to float rounding
        torch.testing.assert_close(out[i : i + 1], expected, rtol=1e-5, atol=1e-6)


def test_single_level_roipool():
    features = _pyramid()[:1]
    pooler = ROIPooler(2, [1 / 4], sampling_ratio=0, pooler_type="ROIPool")
    boxes = [Boxes(torch.tensor([[0.0, 0.0, 30.0, 20.0]])), Boxes(torch.tensor([[8.0, 8.0, 40.0, 40.0]]))]
    expected = roi_pool(features[0], convert_boxes_to_pooler_format(boxes), (2, 2), 0.25)
    assert torch.equal(pooler(features, boxes), expected)


def test_rotated_pooler_at_angle_zero_equals_roialignv2():
    features = _pyramid()
    kwargs = {"output_size": 4, "scales": [1 / 4, 1 / 8, 1 / 16], "sampling_ratio": 0, "canonical_box_size": 32}
    boxes = torch.tensor([[2.0, 3.0, 14.0, 11.0], [4.0, 4.0, 60.0, 50.0], [20.0, 1.0, 52.0, 35.0]])
    rotated = torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2], torch.zeros(3, 1)], dim=1)
    expected = ROIPooler(pooler_type="ROIAlignV2", **kwargs)(features, [Boxes(boxes[:2]), Boxes(boxes[2:])])
    ours = ROIPooler(pooler_type="ROIAlignRotated", **kwargs)(
        features, [RotatedBoxes(rotated[:2]), RotatedBoxes(rotated[2:])]
    )
    assert torch.allclose(ours, expected, atol=1e-5)


def test_empty_inputs():
    features = _pyramid()
    pooler = ROIPooler(7, [1 / 4, 1 / 8, 1 / 16], 0, "ROIAlignV2")
    out = pooler(features, [Boxes(torch.zeros(0, 4)), Boxes(torch.zeros(0, 4))])
    assert out.shape == (0, 3, 7, 7)
    no_images = [f[:0] for f in features]
    assert pooler(no_images, []).shape == (0, 3, 7, 7)
    rotated = ROIPooler(7, [1 / 4, 1 / 8, 1 / 16], 0, "ROIAlignRotated")
    assert rotated(features, [RotatedBoxes(torch.zeros(0, 5))] * 2).shape == (0, 3, 7, 7)


def test_bad_construction_and_inputs():
    with pytest.raises(ValueError, match="pooler_type"):
        ROIPooler(7, [1 / 4], 0, "ROIAlignV3")
    with pytest.raises(ValueError, match="powers of 2"):
        ROIPooler(7, [1 / 3], 0, "ROIAlignV2")
    with pytest.raises(ValueError, match="pyramid"):
        ROIPooler(7, [1 / 4, 1 / 16], 0, "ROIAlignV2")
    with pytest.raises(ValueError, match="output_size"):
        ROIPooler((7, 7, 7), [1 / 4], 0, "ROIAlignV2")
    pooler = ROIPooler(7, [1 / 4, 1 / 8, 1 / 16], 0, "ROIAlignV2")
    features = _pyramid()
    with pytest.raises(ValueError, match="`x` has 2 feature maps"):
        pooler(features[:2], [Boxes(torch.zeros(0, 4))] * 2)
    with pytest.raises(ValueError, match="box_lists"):
        pooler(features, [Boxes(torch.zeros(0, 4))])
    with pytest.raises(TypeError, match="lists"):
        pooler(tuple(features), [Boxes(torch.zeros(0, 4))] * 2)
