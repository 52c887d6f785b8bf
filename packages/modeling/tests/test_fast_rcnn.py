"""FastRCNNOutputLayers and fast_rcnn_inference against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from modet.core.events import EventStorage
from modet.modeling.box_regression import Box2BoxTransform
from modet.modeling.roi_heads import FastRCNNOutputLayers, fast_rcnn_inference
from modet.modeling.roi_heads.fast_rcnn import fast_rcnn_inference_single_image
from modet.structures import Boxes, Instances

BOX_A = [0.0, 0.0, 10.0, 10.0]


def _hand_made_regions():
    """3 regions, 2 classes (+ background), class-specific boxes (R, 2*4)."""
    scores = torch.tensor(
        [
            [0.70, 0.20, 0.10],  # r0: class 0 wins its NMS; its class-1 box loses to r2
            [0.60, 0.03, 0.37],  # r1: class 0 suppressed by r0 (IoU 0.68); class 1 under threshold
            [0.10, 0.50, 0.40],  # r2
        ]
    )
    boxes = torch.tensor(
        [
            [*BOX_A, *BOX_A],
            [1.0, 1.0, 11.0, 11.0, 50.0, 50.0, 60.0, 60.0],
            [20.0, 20.0, 45.0, 30.0, *BOX_A],  # class-0 box is clipped to x <= 40
        ]
    )
    return boxes, scores


def test_inference_threshold_nms_and_clip():
    boxes, scores = _hand_made_regions()
    result, kept = fast_rcnn_inference_single_image(
        boxes, scores, (30, 40), score_thresh=0.05, nms_thresh=0.5, topk_per_image=100
    )
    assert result.image_size == (30, 40)
    torch.testing.assert_close(result.scores, torch.tensor([0.70, 0.50, 0.10]))
    assert result.pred_classes.tolist() == [0, 1, 0]
    assert kept.tolist() == [0, 2, 2]
    expected_boxes = torch.tensor([BOX_A, BOX_A, [20.0, 20.0, 40.0, 30.0]])
    torch.testing.assert_close(result.pred_boxes.tensor, expected_boxes)


def test_inference_topk_and_batch():
    boxes, scores = _hand_made_regions()
    results, kept = fast_rcnn_inference(
        [boxes, boxes[:1]], [scores, scores[:1]], [(30, 40), (30, 40)], 0.05, 0.5, topk_per_image=2
    )
    assert [len(r) for r in results] == [2, 2]
    assert results[0].pred_classes.tolist() == [0, 1]
    # image 2 has only r0: both its classes survive (class 1 has no competitor there)
    torch.testing.assert_close(results[1].scores, torch.tensor([0.70, 0.20]))
    assert kept[1].tolist() == [0, 0]


def test_inference_drops_non_finite_regions():
    boxes, scores = _hand_made_regions()
    boxes = torch.cat([boxes, torch.tensor([[float("nan")] * 8])])
    scores = torch.cat([scores, torch.tensor([[0.99, 0.0, 0.01]])])
    result, kept = fast_rcnn_inference_single_image(boxes, scores, (30, 40), 0.05, 0.5, 100)
    assert kept.tolist() == [0, 2, 2]
    assert torch.isfinite(result.pred_boxes.tensor).all()


def test_inference_class_agnostic_boxes():
    scores = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    boxes = torch.tensor([BOX_A, [50.0, 50.0, 60.0, 60.0]])
    result, kept = fast_rcnn_inference_single_image(boxes, scores, (100, 100), 0.25, 0.5, -1)
    # per-class NMS: same box in different classes is kept; r1 class 0 (0.2) is under the threshold
    assert result.scores.tolist() == pytest.approx([0.7, 0.6, 0.3])
    assert result.pred_classes.tolist() == [1, 0, 1]
    assert kept.tolist() == [1, 0, 0]


def test_inference_empty_and_bad_shapes():
    result, kept = fast_rcnn_inference_single_image(torch.zeros(0, 8), torch.zeros(0, 3), (10, 10), 0.05, 0.5, 100)
    assert len(result) == 0 and kept.numel() == 0
    assert result.pred_boxes.tensor.shape == (0, 4)
    with pytest.raises(ValueError, match="boxes"):
        fast_rcnn_inference_single_image(torch.zeros(3, 5), torch.zeros(3, 3), (10, 10), 0.05, 0.5, 100)
    with pytest.raises(ValueError, match="one entry per image"):
        fast_rcnn_inference([torch.zeros(0, 4)], [], [(10, 10)], 0.05, 0.5, 100)


def _predictor(num_classes=2, agnostic=False, **kwargs) -> FastRCNNOutputLayers:
    return FastRCNNOutputLayers(
        4,
        box2box_transform=Box2BoxTransform(weights=(10.0, 10.0, 5.0, 5.0)),
        num_classes=num_classes,
        cls_agnostic_bbox_reg=agnostic,
        **kwargs,
    )


def _proposals(gt_classes, proposal_boxes, gt_boxes, image_size=(100, 100)) -> Instances:
    inst = Instances(image_size)
    inst.proposal_boxes = Boxes(torch.tensor(proposal_boxes))
    inst.gt_boxes = Boxes(torch.tensor(gt_boxes))
    inst.gt_classes = torch.tensor(gt_classes)
    return inst


def test_layer_shapes_and_keys():
    predictor = _predictor(num_classes=3)
    assert sorted(predictor.state_dict()) == [
        "bbox_pred.bias",
        "bbox_pred.weight",
        "cls_score.bias",
        "cls_score.weight",
    ]
    scores, deltas = predictor(torch.randn(5, 4, 1, 1))
    assert scores.shape == (5, 4) and deltas.shape == (5, 12)
    _, agnostic_deltas = _predictor(num_classes=3, agnostic=True)(torch.randn(5, 4))
    assert agnostic_deltas.shape == (5, 4)


def test_losses_softmax_and_smooth_l1():
    predictor = _predictor()
    # region 0: class 0, proposal shifted by (1, 1) from its gt; region 1: background
    proposals = [_proposals([0, 2], [BOX_A, [30.0, 30.0, 40.0, 40.0]], [[1.0, 1.0, 11.0, 11.0], BOX_A])]
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # region 1 is misclassified as class 1
    deltas = torch.zeros(2, 8)
    with EventStorage() as storage:
        losses = predictor.losses((logits, deltas), proposals)
        latest = storage.latest()
    expected_cls = (-math.log(math.exp(2) / (math.exp(2) + 2)) - math.log(1 / (math.e + 2))) / 2
    assert losses["loss_cls"].item() == pytest.approx(expected_cls, rel=1e-6)
    # gt deltas (10*1/10, 10*1/10, 5*log 1, 5*log 1) = (1, 1, 0, 0); L1 sum 2 over R = 2 regions
    assert losses["loss_box_reg"].item() == pytest.approx(1.0, rel=1e-6)
    assert latest["fast_rcnn/cls_accuracy"][0] == pytest.approx(0.5)
    assert latest["fast_rcnn/fg_cls_accuracy"][0] == pytest.approx(1.0)
    assert latest["fast_rcnn/false_negative"][0] == pytest.approx(0.0)


def test_losses_loss_weight_and_class_agnostic():
    predictor = _predictor(agnostic=True, loss_weight={"loss_box_reg": 3.0})
    proposals = [_proposals([1], [BOX_A], [[1.0, 1.0, 11.0, 11.0]])]
    with EventStorage():
        losses = predictor.losses((torch.zeros(1, 3), torch.zeros(1, 4)), proposals)
    assert losses["loss_cls"].item() == pytest.approx(math.log(3), rel=1e-6)
    assert losses["loss_box_reg"].item() == pytest.approx(3.0 * 2.0, rel=1e-6)


def test_losses_giou_is_zero_for_exact_boxes():
    predictor = _predictor(box_reg_loss_type="giou")
    proposals = [_proposals([1], [BOX_A], [BOX_A])]
    with EventStorage():
        losses = predictor.losses((torch.zeros(1, 3), torch.zeros(1, 8)), proposals)
    assert losses["loss_box_reg"].item() == pytest.approx(0.0, abs=1e-6)
    shifted = [_proposals([1], [BOX_A], [[0.0, 0.0, 10.0, 20.0]])]
    with EventStorage():
        losses = predictor.losses((torch.zeros(1, 3), torch.zeros(1, 8)), shifted)
    # IoU 100/200, enclosing box = union: giou loss 1 - 0.5
    assert losses["loss_box_reg"].item() == pytest.approx(0.5, rel=1e-5)


def test_losses_sigmoid_ce_and_fed_loss():
    logits = torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.0, 2.0, -0.5, 0.0]])
    proposals = [_proposals([0, 3], [BOX_A, BOX_A], [BOX_A, BOX_A])]

    def bce(x, t):
        return math.log(1 + math.exp(-x)) if t else math.log(1 + math.exp(x))

    per_cell = [[bce(1.0, 1), bce(-1.0, 0), bce(0.5, 0)], [bce(0.0, 0), bce(2.0, 0), bce(-0.5, 0)]]
    predictor = _predictor(num_classes=3, use_sigmoid_ce=True)
    with EventStorage():
        loss = predictor.losses((logits, torch.zeros(2, 12)), proposals)["loss_cls"]
    assert loss.item() == pytest.approx(sum(map(sum, per_cell)) / 2, rel=1e-6)

    # gt classes {0, background}: one negative is sampled, and only class 2 has weight
    fed = _predictor(
        num_classes=3,
        use_sigmoid_ce=True,
        use_fed_loss=True,
        fed_loss_num_classes=3,
        get_fed_loss_cls_weights=lambda: torch.tensor([0.0, 0.0, 1.0]),
    )
    assert fed.fed_loss_cls_weights.tolist() == [0.0, 0.0, 1.0]
    with EventStorage():
        loss = fed.losses((logits, torch.zeros(2, 12)), proposals)["loss_cls"]
    expected = (per_cell[0][0] + per_cell[0][2] + per_cell[1][0] + per_cell[1][2]) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    probs = fed.predict_probs((logits, torch.zeros(2, 12)), [proposals[0]])
    torch.testing.assert_close(probs[0], logits.sigmoid())


def test_fed_loss_argument_errors():
    with pytest.raises(ValueError, match="use_sigmoid_ce"):
        _predictor(use_fed_loss=True, get_fed_loss_cls_weights=lambda: torch.ones(2))
    with pytest.raises(ValueError, match="one weight per foreground class"):
        _predictor(use_fed_loss=True, use_sigmoid_ce=True, get_fed_loss_cls_weights=lambda: torch.ones(5))


def test_losses_without_regions_or_gt_boxes():
    predictor = _predictor()
    scores, deltas = predictor(torch.randn(0, 4))
    with EventStorage() as storage:
        losses = predictor.losses((scores, deltas), [])
        assert "fast_rcnn/cls_accuracy" not in storage.latest()
    assert losses["loss_cls"].item() == 0.0 and losses["loss_box_reg"].item() == 0.0
    losses["loss_cls"].backward()  # still part of the graph

    background_only = Instances((50, 50))
    background_only.proposal_boxes = Boxes(torch.tensor([BOX_A]))
    background_only.gt_classes = torch.tensor([2])
    with EventStorage():
        losses = predictor.losses((torch.zeros(1, 3), torch.zeros(1, 8)), [background_only])
    assert losses["loss_box_reg"].item() == 0.0
    assert losses["loss_cls"].item() == pytest.approx(math.log(3), rel=1e-6)


def test_predict_boxes_probs_and_inference():
    predictor = _predictor(test_score_thresh=0.4, test_topk_per_image=5)
    first = Instances((100, 100))
    first.proposal_boxes = Boxes(torch.tensor([BOX_A, [20.0, 20.0, 40.0, 40.0]]))
    first.gt_classes = torch.tensor([1, 2])
    second = Instances((50, 60))
    second.proposal_boxes = Boxes(torch.tensor([[5.0, 5.0, 15.0, 25.0]]))
    second.gt_classes = torch.tensor([0])
    deltas = torch.zeros(3, 8)
    deltas[0, 4:] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # class 1 of region 0: dx = 1/10 of width 10
    scores = torch.tensor([[0.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])

    boxes = predictor.predict_boxes((scores, deltas), [first, second])
    assert [b.shape for b in boxes] == [(2, 8), (1, 8)]
    torch.testing.assert_close(boxes[0][0, 4:], torch.tensor([1.0, 0.0, 11.0, 10.0]))
    for_gt = predictor.predict_boxes_for_gt_classes((scores, deltas), [first, second])
    torch.testing.assert_close(for_gt[0][0], torch.tensor([1.0, 0.0, 11.0, 10.0]))
    torch.testing.assert_close(for_gt[0][1], torch.tensor([20.0, 20.0, 40.0, 40.0]))  # background: clamped class
    probs = predictor.predict_probs((scores, deltas), [first, second])
    torch.testing.assert_close(probs[0].sum(dim=1), torch.ones(2))

    results, kept = predictor.inference((scores, deltas), [first, second])
    assert results[0].pred_classes.tolist() == [1] and kept[0].tolist() == [0]
    assert results[1].image_size == (50, 60) and results[1].pred_classes.tolist() == [0]
    assert predictor.predict_boxes((scores, deltas), []) == []


def test_from_config_with_fed_loss_and_a_given_weight_callable():
    from modet.core.config import get_cfg
    from modet.ops import ShapeSpec

    cfg = get_cfg()
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE = True
    cfg.MODEL.ROI_BOX_HEAD.USE_FED_LOSS = True
    cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_WEIGHT = 2.0
    cfg.TEST.DETECTIONS_PER_IMAGE = 7
    predictor = FastRCNNOutputLayers(
        cfg, ShapeSpec(channels=4, height=2, width=2), get_fed_loss_cls_weights=lambda: torch.tensor([1.0, 2.0, 3.0])
    )
    assert predictor.cls_score.in_features == 16 and predictor.bbox_pred.out_features == 12
    assert predictor.use_fed_loss and predictor.fed_loss_num_classes == 50
    assert predictor.fed_loss_cls_weights.tolist() == [1.0, 2.0, 3.0]
    assert predictor.loss_weight == {"loss_box_reg": 2.0}
    assert predictor.test_topk_per_image == 7 and predictor.test_nms_thresh == 0.5
