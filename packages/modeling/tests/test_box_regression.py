"""Box transforms: hand-computed deltas, round trips, scale clamp, and the dense box-regression loss."""

import math

import pytest
import torch

from modet.modeling.box_regression import (
    Box2BoxTransform,
    Box2BoxTransformLinear,
    Box2BoxTransformRotated,
    _dense_box_regression_loss,
)
from modet.structures import Boxes


def _random_boxes(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 1
    return torch.cat([xy, xy + wh], dim=1)


def test_deltas_by_hand():
    transform = Box2BoxTransform(weights=(10.0, 10.0, 5.0, 5.0))
    src = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    target = torch.tensor([[5.0, 0.0, 25.0, 20.0]])
    # centre moves +10 in x on a width of 10; width doubles; height unchanged.
    expected = torch.tensor([[10.0 * 10 / 10, 0.0, 5.0 * math.log(2.0), 0.0]])
    torch.testing.assert_close(transform.get_deltas(src, target), expected)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_round_trip(weights):
    transform = Box2BoxTransform(weights=weights)
    src, target = _random_boxes(50, 0), _random_boxes(50, 1)
    decoded = transform.apply_deltas(transform.get_deltas(src, target), src)
    torch.testing.assert_close(decoded, target, atol=1e-3, rtol=1e-5)


def test_apply_deltas_per_class_layout_and_float32():
    transform = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    deltas = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0]], dtype=torch.float16)
    out = transform.apply_deltas(deltas, boxes)
    assert out.dtype == torch.float32 and out.shape == (1, 8)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 10.0, 10.0, 5.0, 0.0, 15.0, 10.0]]))


def test_scale_clamp():
    transform = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    boxes = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    out = transform.apply_deltas(torch.tensor([[0.0, 0.0, 100.0, 100.0]]), boxes)
    # log(1000/16) is the largest step: a 16 px box grows to at most 1000 px.
    torch.testing.assert_close(out, torch.tensor([[-492.0, -492.0, 508.0, 508.0]]))


def test_invalid_source_boxes_raise():
    transform = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="not valid"):
        transform.get_deltas(torch.tensor([[5.0, 0.0, 5.0, 10.0]]), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))


def test_rotated_round_trip_and_angle_wrap():
    transform = Box2BoxTransformRotated(weights=(10.0, 10.0, 5.0, 5.0, 1.0))
    src = torch.tensor([[10.0, 10.0, 20.0, 10.0, 170.0], [0.0, 5.0, 4.0, 8.0, -30.0]])
    target = torch.tensor([[12.0, 9.0, 25.0, 12.0, -170.0], [1.0, 6.0, 2.0, 8.0, 60.0]])
    deltas = transform.get_deltas(src, target)
    # 170 -> -170 is a +20 degree turn, not -340.
    assert deltas[0, 4].item() == pytest.approx(math.radians(20.0), abs=1e-5)
    torch.testing.assert_close(transform.apply_deltas(deltas, src), target, atol=1e-3, rtol=1e-5)


def test_rotated_deltas_by_hand_with_angle_weight():
    transform = Box2BoxTransformRotated(weights=(1.0, 2.0, 3.0, 4.0, 0.5))
    src = torch.tensor([[0.0, 0.0, 10.0, 20.0, 30.0]])
    target = torch.tensor([[5.0, 4.0, 20.0, 20.0, 120.0]])
    # dx = 1 * 5/10, dy = 2 * 4/20, dw = 3 * log 2, dh = 0, da = 0.5 * radians(90)
    expected = torch.tensor([[0.5, 0.4, 3.0 * math.log(2.0), 0.0, 0.25 * math.pi]])
    deltas = transform.get_deltas(src, target)
    torch.testing.assert_close(deltas, expected)
    torch.testing.assert_close(transform.apply_deltas(deltas, src), target, atol=1e-4, rtol=1e-5)


def test_rotated_at_angle_zero_equals_axis_aligned():
    """At angle 0, rotated (cx, cy, w, h, 0) deltas are the axis-aligned deltas of the same box."""
    weights = (10.0, 10.0, 5.0, 5.0)
    src, target = _random_boxes(20, 0), _random_boxes(20, 1)

    def to_rotated(b):
        wh = b[:, 2:] - b[:, :2]
        return torch.cat([b[:, :2] + wh / 2, wh, torch.zeros(len(b), 1)], dim=1)

    rotated = Box2BoxTransformRotated(weights=(*weights, 1.0))
    axis_aligned = Box2BoxTransform(weights=weights)
    deltas = axis_aligned.get_deltas(src, target)
    rotated_deltas = rotated.get_deltas(to_rotated(src), to_rotated(target))
    torch.testing.assert_close(rotated_deltas[:, :4], deltas, atol=1e-5, rtol=1e-5)
    assert (rotated_deltas[:, 4] == 0).all()
    torch.testing.assert_close(
        rotated.apply_deltas(rotated_deltas, to_rotated(src)), to_rotated(axis_aligned.apply_deltas(deltas, src))
    )


def test_rotated_needs_five_weights():
    with pytest.raises(ValueError, match="5 weights .*got 4"):
        Box2BoxTransformRotated(weights=(10.0, 10.0, 5.0, 5.0))


def test_linear_round_trip_and_values():
    transform = Box2BoxTransformLinear(normalize_by_size=True)
    src = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    target = torch.tensor([[-4.0, 2.0, 12.0, 6.0]])
    deltas = transform.get_deltas(src, target)
    torch.testing.assert_close(deltas, torch.tensor([[1.0, 0.25, 1.0, 0.25]]))
    torch.testing.assert_close(transform.apply_deltas(deltas, src), target)


def _dense_inputs():
    anchors = [Boxes(_random_boxes(6, 2)), Boxes(_random_boxes(4, 3))]
    gt = [_random_boxes(10, 4), _random_boxes(10, 5)]
    fg_mask = torch.zeros(2, 10, dtype=torch.bool)
    fg_mask[0, [1, 7]] = True
    fg_mask[1, 3] = True
    return anchors, gt, fg_mask


def test_dense_loss_is_zero_at_the_target_and_counts_only_foreground():
    transform = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    anchors, gt, fg_mask = _dense_inputs()
    all_anchors = Boxes.cat(anchors).tensor
    exact = torch.stack([transform.get_deltas(all_anchors, g) for g in gt])
    preds = [exact[:, :6], exact[:, 6:]]
    for loss_type in ("smooth_l1", "giou", "diou", "ciou"):
        loss = _dense_box_regression_loss(anchors, transform, preds, gt, fg_mask, box_reg_loss_type=loss_type)
        assert loss.item() == pytest.approx(0.0, abs=1e-4), loss_type
    shifted = exact.clone()
    shifted[..., 0] += 0.5
    shifted[~fg_mask] += 100.0  # background anchors never count
    loss = _dense_box_regression_loss(anchors, transform, [shifted[:, :6], shifted[:, 6:]], gt, fg_mask)
    assert loss.item() == pytest.approx(0.5 * 3)


def test_dense_loss_unknown_type():
    transform = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
    anchors, gt, fg_mask = _dense_inputs()
    with pytest.raises(ValueError, match="Invalid dense box regression loss type 'l2'"):
        _dense_box_regression_loss(anchors, transform, [torch.zeros(2, 6, 4), torch.zeros(2, 4, 4)], gt, fg_mask, "l2")
