"""Mask head: mask_rcnn_loss / mask_rcnn_inference on tiny hand-made inputs, head shapes and keys."""

from __future__ import annotations

import math

import pytest
import torch

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling.roi_heads import MaskRCNNConvUpsampleHead, build_mask_head, mask_rcnn_inference, mask_rcnn_loss
from modet.ops import ShapeSpec
from modet.structures import BitMasks, Boxes, Instances, PolygonMasks


def _foreground(gt_masks, gt_classes=(1,)) -> Instances:
    inst = Instances((8, 8))
    inst.proposal_boxes = Boxes(torch.tensor([[0.0, 0.0, 4.0, 4.0]] * len(gt_classes)))
    inst.gt_classes = torch.tensor(gt_classes)
    inst.gt_masks = gt_masks
    return inst


def _softplus(x: float) -> float:
    return math.log(1 + math.exp(x))


@pytest.mark.parametrize(
    "gt_masks",
    [
        BitMasks(torch.ones(1, 8, 8, dtype=torch.bool)),
        PolygonMasks([[[0.0, 0.0, 8.0, 0.0, 8.0, 8.0, 0.0, 8.0]]]),
    ],
    ids=["bitmasks", "polygons"],
)
def test_mask_rcnn_loss_hand_computed(gt_masks):
    # the gt mask covers the whole image, so its 2x2 crop of the box is all foreground
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 0] = 5.0  # class 0 is not the gt class: ignored
    logits[0, 1] = torch.tensor([[1.0, -1.0], [2.0, 0.0]])
    with EventStorage() as storage:
        loss = mask_rcnn_loss(logits, [_foreground(gt_masks)])
        latest = storage.latest()
    expected = (_softplus(-1.0) + _softplus(1.0) + _softplus(-2.0) + _softplus(0.0)) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert latest["mask_rcnn/accuracy"][0] == pytest.approx(0.5)
    assert latest["mask_rcnn/false_negative"][0] == pytest.approx(0.5)
    assert latest["mask_rcnn/false_positive"][0] == pytest.approx(0.0)


def test_mask_rcnn_loss_class_agnostic_and_background_target():
    # mask empty inside the box: every positive logit is a false positive
    masks = torch.zeros(1, 8, 8, dtype=torch.bool)
    masks[0, 6:, 6:] = True
    logits = torch.tensor([[[[3.0, -3.0], [-3.0, -3.0]]]])
    with EventStorage() as storage:
        loss = mask_rcnn_loss(logits, [_foreground(BitMasks(masks))])
        latest = storage.latest()
    assert loss.item() == pytest.approx((_softplus(3.0) + 3 * _softplus(-3.0)) / 4, rel=1e-6)
    assert latest["mask_rcnn/false_positive"][0] == pytest.approx(0.25)
    assert latest["mask_rcnn/accuracy"][0] == pytest.approx(0.75)


def test_mask_rcnn_loss_without_instances_is_zero_and_differentiable():
    logits = torch.randn(0, 3, 4, 4, requires_grad=True)
    empty = _foreground(BitMasks(torch.zeros(0, 8, 8, dtype=torch.bool)), gt_classes=())
    with EventStorage():
        loss = mask_rcnn_loss(logits, [empty])
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


def test_mask_rcnn_inference_picks_the_predicted_class():
    logits = torch.randn(3, 4, 5, 5)
    first, second = Instances((20, 20)), Instances((20, 20))
    first.pred_classes = torch.tensor([2, 0])
    second.pred_classes = torch.tensor([3])
    mask_rcnn_inference(logits, [first, second])
    assert first.pred_masks.shape == (2, 1, 5, 5) and second.pred_masks.shape == (1, 1, 5, 5)
    torch.testing.assert_close(first.pred_masks[1, 0], logits[1, 0].sigmoid())
    torch.testing.assert_close(second.pred_masks[0, 0], logits[2, 3].sigmoid())

    agnostic = Instances((20, 20))
    agnostic.pred_classes = torch.tensor([1, 1])
    mask_rcnn_inference(logits[:2, :1], [agnostic])
    torch.testing.assert_close(agnostic.pred_masks, logits[:2, :1].sigmoid())


def _tiny_cfg():
    cfg = get_cfg()
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 8
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 2
    return cfg


def test_conv_upsample_head_from_config_keys_and_shapes():
    head = build_mask_head(_tiny_cfg(), ShapeSpec(channels=6, height=7, width=7))
    assert isinstance(head, MaskRCNNConvUpsampleHead)
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == {
        "mask_fcn1.weight": (8, 6, 3, 3),
        "mask_fcn1.bias": (8,),
        "mask_fcn2.weight": (8, 8, 3, 3),
        "mask_fcn2.bias": (8,),
        "deconv.weight": (8, 8, 2, 2),
        "deconv.bias": (8,),
        "predictor.weight": (3, 8, 1, 1),
        "predictor.bias": (3,),
    }
    assert head.layers(torch.randn(2, 6, 7, 7)).shape == (2, 3, 14, 14)

    cfg = _tiny_cfg()
    cfg.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = True
    cfg.MODEL.ROI_MASK_HEAD.NORM = "BN"
    agnostic = build_mask_head(cfg, ShapeSpec(channels=6, height=7, width=7))
    assert agnostic.predictor.weight.shape[0] == 1
    assert "mask_fcn1.norm.weight" in agnostic.state_dict() and "mask_fcn1.bias" not in agnostic.state_dict()


def test_conv_upsample_head_forward_train_and_eval():
    head = MaskRCNNConvUpsampleHead(ShapeSpec(channels=4), num_classes=2, conv_dims=[4, 4], loss_weight=2.0)
    x = torch.randn(1, 4, 1, 1)
    with EventStorage():
        losses = head(x, [_foreground(BitMasks(torch.ones(1, 8, 8, dtype=torch.bool)))])
    logits = head.layers(x)[0, 1]
    expected = 2.0 * torch.nn.functional.softplus(-logits).mean()
    torch.testing.assert_close(losses["loss_mask"], expected)

    head.eval()
    detections = Instances((8, 8))
    detections.pred_classes = torch.tensor([1])
    out = head(x, [detections])
    assert out[0] is detections and detections.pred_masks.shape == (1, 1, 2, 2)


def _detections(classes_per_image):
    images = []
    for classes in classes_per_image:
        detections = Instances((64, 64))
        detections.pred_classes = torch.tensor(classes, dtype=torch.int64)
        images.append(detections)
    return images


def test_inference_computes_the_predicted_class_only_with_the_same_masks():
    torch.manual_seed(0)
    head = build_mask_head(_tiny_cfg(), ShapeSpec(channels=6, height=7, width=7)).eval()
    torch.nn.init.normal_(head.predictor.weight, std=0.5)
    torch.nn.init.normal_(head.predictor.bias, std=0.5)
    x = torch.randn(5, 6, 7, 7)
    classes = [[2, 0, 1], [1, 1]]
    assert head._predicted_class_only(x)
    with torch.no_grad():
        fast = head(x, _detections(classes))
        plain = _detections(classes)
        mask_rcnn_inference(head.layers(x), plain)  # all classes' logits, then the predicted one's
    for ours, expected in zip(fast, plain):
        assert ours.pred_masks.shape == expected.pred_masks.shape == (len(ours), 1, 14, 14)
        torch.testing.assert_close(ours.pred_masks, expected.pred_masks, rtol=1e-5, atol=1e-6)


def test_inference_takes_the_plain_way_for_other_layers_agnostic_masks_and_no_detections():
    class OtherLayers(MaskRCNNConvUpsampleHead):
        def layers(self, x):
            return super().layers(x) * 0.0  # every mask 0.5: shows these layers ran

    x = torch.randn(2, 6, 7, 7)
    other = OtherLayers(ShapeSpec(channels=6), num_classes=3, conv_dims=[8, 8]).eval()
    assert not other._predicted_class_only(x)
    with torch.no_grad():
        out = other(x, _detections([[0, 2]]))
    assert torch.equal(out[0].pred_masks, torch.full((2, 1, 14, 14), 0.5))

    cfg = _tiny_cfg()
    cfg.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = True
    agnostic = build_mask_head(cfg, ShapeSpec(channels=6, height=7, width=7)).eval()
    assert not agnostic._predicted_class_only(x)
    head = build_mask_head(_tiny_cfg(), ShapeSpec(channels=6, height=7, width=7)).eval()
    assert not head._predicted_class_only(x[:0])
    with torch.no_grad():
        empty = head(x[:0], _detections([[]]))
    assert empty[0].pred_masks.shape == (0, 1, 14, 14)
