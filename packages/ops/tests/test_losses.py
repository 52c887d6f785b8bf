import math

import pytest
import torch

from modet.ops import (
    ciou_loss,
    diou_loss,
    giou_loss,
    sigmoid_focal_loss,
    sigmoid_focal_loss_jit,
    sigmoid_focal_loss_star,
    sigmoid_focal_loss_star_jit,
    smooth_l1_loss,
)


def test_smooth_l1_loss_hand_computed():
    x, target = torch.tensor([0.0, 0.5, 2.0, -3.0]), torch.zeros(4)
    # |x| < beta: 0.5 x^2 / beta; else |x| - 0.5 beta.
    assert torch.allclose(smooth_l1_loss(x, target, beta=1.0), torch.tensor([0.0, 0.125, 1.5, 2.5]))
    assert torch.allclose(smooth_l1_loss(x, target, beta=0.0), torch.tensor([0.0, 0.5, 2.0, 3.0]))
    assert torch.allclose(smooth_l1_loss(x, target, beta=1e-6), x.abs())  # beta < 1e-5 is exactly L1
    assert smooth_l1_loss(x, target, 1.0, "sum").item() == pytest.approx(4.125)
    assert smooth_l1_loss(x, target, 1.0, "mean").item() == pytest.approx(4.125 / 4)
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = smooth_l1_loss(empty, torch.zeros(0, 4), 1.0, "mean")
    assert loss.item() == 0.0
    loss.backward()


_BOX = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
_SHIFTED = torch.tensor([[1.0, 1.0, 3.0, 3.0]])  # intersection 1, union 7, enclosing 3x3


def test_giou_loss_hand_computed():
    # GIoU = 1/7 - (9 - 7) / 9 = -5/63.
    assert giou_loss(_BOX, _SHIFTED).item() == pytest.approx(1 + 5 / 63, rel=1e-6)
    assert giou_loss(_BOX, _BOX).item() == pytest.approx(0.0, abs=1e-6)
    far = torch.tensor([[4.0, 0.0, 6.0, 2.0]])  # disjoint; enclosing 6x2 = 12, union 8
    assert giou_loss(_BOX, far).item() == pytest.approx(1 + 4 / 12, rel=1e-6)


def test_diou_and_ciou_hand_computed():
    # Centres (1, 1) and (2, 2): squared distance 2; enclosing diagonal^2 = 18.
    assert diou_loss(_BOX, _SHIFTED).item() == pytest.approx(1 - 1 / 7 + 2 / 18, rel=1e-6)
    # Same aspect ratio: CIoU's extra term v is 0.
    assert ciou_loss(_BOX, _SHIFTED).item() == pytest.approx(1 - 1 / 7 + 2 / 18, rel=1e-6)
    wide, tall = torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([[0.0, 0.0, 1.0, 2.0]])
    iou = 1 / 3
    distance = 0.5 / 8  # centres (1, .5) and (.5, 1); enclosing box 2x2
    v = 4 / math.pi**2 * (math.atan(1 / 2) - math.atan(2)) ** 2
    alpha = v / (1 - iou + v)
    assert ciou_loss(wide, tall).item() == pytest.approx(1 - iou + distance + alpha * v, rel=1e-5)
    assert diou_loss(wide, tall).item() == pytest.approx(1 - iou + distance, rel=1e-5)


@pytest.mark.parametrize("loss_fn", [giou_loss, diou_loss, ciou_loss])
def test_iou_losses_reductions_empty_and_bad_boxes(loss_fn):
    boxes1, boxes2 = torch.cat([_BOX, _BOX]), torch.cat([_SHIFTED, _BOX])
    per_box = loss_fn(boxes1, boxes2)
    assert per_box.shape == (2,)
    assert loss_fn(boxes1, boxes2, reduction="sum").item() == pytest.approx(per_box.sum().item())
    assert loss_fn(boxes1, boxes2, reduction="mean").item() == pytest.approx(per_box.mean().item())
    assert loss_fn(torch.zeros(0, 4), torch.zeros(0, 4), reduction="mean").item() == 0.0
    with pytest.raises(ValueError, match="x1 larger than x2"):
        loss_fn(torch.tensor([[2.0, 0.0, 0.0, 2.0]]), _BOX)
    with pytest.raises(ValueError, match="boxes1"):
        loss_fn(torch.zeros(2, 5), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="reduction"):
        loss_fn(_BOX, _BOX, reduction="avg")


def test_sigmoid_focal_loss_hand_computed():
    logits, targets = torch.tensor([0.0, 0.0, 2.0]), torch.tensor([1.0, 0.0, 0.0])
    ce = torch.tensor([math.log(2), math.log(2), math.log(1 + math.exp(2))])
    p_t = torch.tensor([0.5, 0.5, 1 - 1 / (1 + math.exp(-2))])
    expected = ce * (1 - p_t) ** 2
    assert torch.allclose(sigmoid_focal_loss(logits, targets), expected)
    alpha_t = torch.tensor([0.25, 0.75, 0.75])
    assert torch.allclose(sigmoid_focal_loss(logits, targets, alpha=0.25), alpha_t * expected)
    assert sigmoid_focal_loss(logits, targets, 0.25, 2, "sum").item() == pytest.approx(
        (alpha_t * expected).sum().item()
    )
    assert torch.allclose(sigmoid_focal_loss(logits, targets, gamma=0), ce)
    assert torch.equal(
        sigmoid_focal_loss_jit(logits, targets, 0.25, 2.0, "mean"),
        sigmoid_focal_loss(logits, targets, 0.25, 2.0, "mean"),
    )


def test_sigmoid_focal_loss_star_hand_computed():
    logits, targets = torch.tensor([0.0, 2.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    # -log(sigmoid(gamma * x_t)) / gamma with x_t = x for positives, -x for negatives.
    expected = torch.tensor([math.log(2), math.log(1 + math.exp(-2)), math.log(1 + math.exp(2))])
    assert torch.allclose(sigmoid_focal_loss_star(logits, targets), expected)
    gamma2 = torch.tensor([math.log(2), math.log(1 + math.exp(-4)), math.log(1 + math.exp(4))]) / 2
    assert torch.allclose(sigmoid_focal_loss_star(logits, targets, gamma=2), gamma2)
    alpha_t = torch.tensor([0.25, 0.25, 0.75])
    assert torch.allclose(sigmoid_focal_loss_star_jit(logits, targets, 0.25, 1, "none"), alpha_t * expected)
    with pytest.raises(ValueError, match="targets"):
        sigmoid_focal_loss_star(logits, targets[:2])
