import math

import pytest
import torch
import torchvision

from modet.ops import batched_nms, batched_nms_rotated, nms, nms_rotated, pairwise_iou_rotated


def _random_boxes(num, seed, size=100.0):
    generator = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=generator) * size
    wh = torch.rand(num, 2, generator=generator) * size / 3 + 1
    return torch.cat([xy, xy + wh], dim=1), torch.rand(num, generator=generator)


def _xyxy_to_rotated(boxes, angle=0.0):
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = boxes[:, 2:] - boxes[:, :2]
    return torch.cat([centers, sizes, torch.full((len(boxes), 1), angle)], dim=1)


def test_nms_is_torchvision_and_batched_nms_matches_it():
    boxes, scores = _random_boxes(200, 0)
    idxs = torch.randint(0, 5, (200,), generator=torch.Generator().manual_seed(1))
    assert nms is torchvision.ops.nms
    expected = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.5), expected)
    # fp16 boxes are promoted to float32 for the per-class offsets.
    assert torch.equal(
        batched_nms(boxes.half(), scores, idxs, 0.5),
        torchvision.ops.batched_nms(boxes.half().float(), scores, idxs, 0.5),
    )


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_nms_rotated_on_axis_aligned_boxes_equals_nms(threshold):
    boxes, scores = _random_boxes(600, 2)  # more than one block of boxes
    expected = torchvision.ops.nms(boxes, scores, threshold)
    assert torch.equal(nms_rotated(_xyxy_to_rotated(boxes), scores, threshold), expected)
    # A 90-degree turn of a box with swapped sides covers the same region.
    turned = _xyxy_to_rotated(boxes, 90.0)[:, [0, 1, 3, 2, 4]]
    assert torch.equal(nms_rotated(turned, scores, threshold), expected)


def test_nms_rotated_hand_case():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0, 0.0],
            [0.0, 0.0, 2.0, 2.0, 45.0],  # IoU with box 0: 8(sqrt2 - 1) / (8 - 8(sqrt2 - 1)) = 0.7071
            [1.0, 0.0, 2.0, 2.0, 0.0],  # IoU 1/3 with box 0
            [10.0, 10.0, 2.0, 2.0, 30.0],
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.1])
    assert torch.allclose(
        pairwise_iou_rotated(boxes[:1], boxes[1:3]), torch.tensor([[math.sqrt(0.5), 1 / 3]]), atol=1e-5
    )
    assert nms_rotated(boxes, scores, 0.7).tolist() == [0, 2, 3]
    assert nms_rotated(boxes, scores, 0.75).tolist() == [0, 1, 2, 3]
    # Box 1 suppresses box 2 only if box 1 survives: at 0.3, box 0 removes both.
    assert nms_rotated(boxes, scores, 0.3).tolist() == [0, 3]
    # Kept indices come in decreasing score order.
    assert nms_rotated(boxes, torch.tensor([0.1, 0.2, 0.3, 0.4]), 0.75).tolist() == [3, 2, 1, 0]


def test_nms_rotated_chain_is_greedy_not_one_pass():
    # Each box overlaps only its neighbours: greedy keeps 0, 2, 4 (box 2 survives because box 1 is gone).
    boxes = torch.tensor([[x, 0.0, 2.0, 2.0, 0.0] for x in (0.0, 0.8, 1.6, 2.4, 3.2)])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    assert nms_rotated(boxes, scores, 0.3).tolist() == [0, 2, 4]


def test_batched_nms_rotated_equals_batched_nms_on_axis_aligned_boxes():
    boxes, scores = _random_boxes(300, 3)
    boxes = boxes - 50  # negative coordinates are handled by the offset trick
    idxs = torch.randint(0, 4, (300,), generator=torch.Generator().manual_seed(4))
    expected = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
    ours = batched_nms_rotated(_xyxy_to_rotated(boxes), scores, idxs, 0.5)
    # batched_nms returns indices by decreasing score too.
    assert torch.equal(ours, expected)


def test_empty_inputs():
    empty = torch.zeros(0, 5)
    assert nms_rotated(empty, torch.zeros(0), 0.5).dtype == torch.int64
    assert nms_rotated(empty, torch.zeros(0), 0.5).shape == (0,)
    assert batched_nms_rotated(empty, torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5).shape == (0,)
    assert batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5).shape == (0,)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="boxes"):
        nms_rotated(torch.zeros(3, 4), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="scores"):
        nms_rotated(torch.zeros(3, 5), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match="idxs"):
        batched_nms_rotated(torch.zeros(3, 5), torch.zeros(3), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match="boxes"):
        batched_nms(torch.zeros(3, 5), torch.zeros(3), torch.zeros(3), 0.5)


def _reference_greedy_nms(iou, scores, threshold):
    """The textbook loop over boxes, on a precomputed rotated IoU matrix."""
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    suppressed, keep = set(), []
    for i in order:
        if i in suppressed:
            continue
        keep.append(i)
        suppressed.update(j for j in order if iou[i, j] >= threshold)
    return keep


def test_nms_rotated_equals_reference_greedy_on_rotated_boxes():
    generator = torch.Generator().manual_seed(5)
    num = 80
    boxes = torch.cat(
        [
            torch.rand(num, 2, generator=generator) * 30,
            torch.rand(num, 2, generator=generator) * 15 + 2,
            torch.rand(num, 1, generator=generator) * 360 - 180,
        ],
        dim=1,
    )
    scores = torch.rand(num, generator=generator)
    iou = pairwise_iou_rotated(boxes, boxes)
    for threshold in (0.2, 0.5, 0.8):
        assert nms_rotated(boxes, scores, threshold).tolist() == _reference_greedy_nms(iou, scores, threshold)


def test_nms_rotated_non_positive_threshold_keeps_only_the_best():
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0], [50.0, 50.0, 1.0, 1.0, 0.0]])
    assert nms_rotated(boxes, torch.tensor([0.2, 0.9]), 0.0).tolist() == [1]


def test_batched_nms_form_under_export_keeps_what_torchvision_keeps():
    """The one-NMS-over-shifted-boxes form that exported graphs run, against torchvision's per-class NMS."""
    from modet.ops.nms import _batched_nms_by_offsets

    generator = torch.Generator().manual_seed(3)
    corners = torch.rand(3000, 2, generator=generator) * 500
    boxes = torch.cat([corners, corners + torch.rand(3000, 2, generator=generator) * 80 + 1], dim=1)
    scores = torch.rand(3000, generator=generator)
    classes = torch.randint(0, 5, (3000,), generator=generator)
    expected = torchvision.ops.batched_nms(boxes, scores, classes, 0.5)  # > 4000 numbers: one NMS per class
    assert torch.equal(_batched_nms_by_offsets(boxes, scores, classes, 0.5), expected)
    empty = torch.zeros(0, 4)
    assert _batched_nms_by_offsets(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).numel() == 0
