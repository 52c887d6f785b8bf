"""Rotated detection: RotatedAnchorGenerator, RRPN, RROIHeads, rotated Fast R-CNN inference.

Values are checked by hand, and against the axis-aligned components through the identity
detectron2's math gives at angle 0: rotated boxes (cx, cy, w, h, 0) with the fifth delta held at
0 are the axis-aligned boxes, so RRPN/RROIHeads then compute what RPN/StandardROIHeads compute.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling.anchor_generator import DefaultAnchorGenerator, RotatedAnchorGenerator, build_anchor_generator
from modet.modeling.proposal_generator import build_proposal_generator
from modet.modeling.proposal_generator.rrpn import RRPN, find_top_rrpn_proposals
from modet.modeling.roi_heads import RROIHeads, StandardROIHeads, build_roi_heads
from modet.modeling.roi_heads.fast_rcnn import fast_rcnn_inference
from modet.modeling.roi_heads.rotated_fast_rcnn import RotatedFastRCNNOutputLayers, fast_rcnn_inference_rotated
from modet.ops import ShapeSpec
from modet.structures import Boxes, ImageList, Instances, RotatedBoxes

FPN_SHAPE = {f"p{k}": ShapeSpec(channels=8, stride=2**k) for k in (2, 3, 4, 5, 6)}


def to_rotated(xyxy: torch.Tensor) -> torch.Tensor:
    """(N, 4) XYXY -> (N, 5) (cx, cy, w, h, 0)."""
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return torch.cat([xyxy[:, :2] + wh / 2, wh, torch.zeros(len(xyxy), 1)], dim=1)


def to_xyxy(rotated: torch.Tensor) -> torch.Tensor:
    """(N, 5) boxes at angle 0 -> (N, 4) XYXY."""
    assert (rotated[:, 4] == 0).all()
    half = rotated[:, 2:4] / 2
    return torch.cat([rotated[:, :2] - half, rotated[:, :2] + half], dim=1)


# ----------------------------------------------------------------------------- anchors


def test_rotated_cell_anchors_and_grid_by_hand():
    gen = RotatedAnchorGenerator(sizes=[[16]], aspect_ratios=[[0.25, 1.0]], strides=[8], angles=[0, 45], offset=0.0)
    assert gen.box_dim == 5 and gen.num_anchors == [4] and gen.num_cell_anchors == [4]
    (anchors,) = gen([torch.zeros(2, 3, 1, 2)])
    assert isinstance(anchors, RotatedBoxes)
    # ratio 0.25: w = sqrt(16**2 / 0.25) = 32, h = 8; sizes outer, ratios, then angles inner; position-major.
    cell = [[32.0, 8.0, 0.0], [32.0, 8.0, 45.0], [16.0, 16.0, 0.0], [16.0, 16.0, 45.0]]
    expected = torch.tensor([[x, 0.0, *c] for x in (0.0, 8.0) for c in cell])
    torch.testing.assert_close(anchors.tensor, expected)
    assert gen.state_dict() == {}


def test_rotated_anchors_at_angle_zero_are_the_default_anchors():
    sizes, ratios, strides = [[32], [64]], [[0.5, 1.0, 2.0]], [4, 8]
    default = DefaultAnchorGenerator(sizes=sizes, aspect_ratios=ratios, strides=strides, offset=0.5)
    rotated = RotatedAnchorGenerator(sizes=sizes, aspect_ratios=ratios, strides=strides, angles=[[0]], offset=0.5)
    features = [torch.zeros(1, 1, 3, 5), torch.zeros(1, 1, 2, 3)]
    for a, b in zip(default(features), rotated(features)):
        torch.testing.assert_close(to_rotated(a.tensor), b.tensor)


def test_rotated_anchor_config_and_broadcast_errors():
    cfg = get_cfg()
    cfg.MODEL.ANCHOR_GENERATOR.NAME = "RotatedAnchorGenerator"
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[32], [64]]
    cfg.MODEL.ANCHOR_GENERATOR.ANGLES = [[-60, 0, 60]]
    gen = build_anchor_generator(cfg, [ShapeSpec(stride=4), ShapeSpec(stride=8)])
    assert isinstance(gen, RotatedAnchorGenerator) and gen.num_anchors == [9, 9]
    with pytest.raises(ValueError, match="angles of length 3 for 2 feature maps"):
        RotatedAnchorGenerator(sizes=[[32]], aspect_ratios=[[1.0]], strides=[4, 8], angles=[[0], [30], [60]])
    with pytest.raises(ValueError, match="offset"):
        RotatedAnchorGenerator(sizes=[[32]], aspect_ratios=[[1.0]], strides=[4], angles=[[0]], offset=1.0)


# ----------------------------------------------------------------------------- inference and proposals


def test_fast_rcnn_inference_rotated_by_hand():
    # Two regions of 2 classes; r1's class-0 box is r0's turned by 90 degrees and shifted by 1:
    # IoU (10 x 10 squares) = 90/110 > 0.5, so class-0 NMS keeps r0 only.
    scores = torch.tensor([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1]])
    boxes = torch.tensor(
        [
            [5.0, 5.0, 10.0, 10.0, 0.0, 30.0, 30.0, 4.0, 8.0, 45.0],
            [6.0, 5.0, 10.0, 10.0, 90.0, 30.0, 30.0, 4.0, 8.0, 45.0],
        ]
    )
    (result,), (kept,) = fast_rcnn_inference_rotated([boxes], [scores], [(40, 40)], 0.2, 0.5, 10)
    assert isinstance(result.pred_boxes, RotatedBoxes)
    assert result.pred_classes.tolist() == [0, 1] and kept.tolist() == [0, 1]
    torch.testing.assert_close(result.scores, torch.tensor([0.8, 0.3]))
    torch.testing.assert_close(result.pred_boxes.tensor, boxes[[0, 1]].reshape(2, 2, 5)[[0, 1], [0, 1]])
    (top1,), _ = fast_rcnn_inference_rotated([boxes], [scores], [(40, 40)], 0.2, 0.5, 1)
    assert len(top1) == 1 and top1.scores.item() == pytest.approx(0.8)
    with pytest.raises(ValueError, match="one entry per image"):
        fast_rcnn_inference_rotated([boxes], [scores, scores], [(40, 40)], 0.2, 0.5, 10)
    with pytest.raises(ValueError, match=r"boxes \(R, 5\) or \(R, K\*5\)"):
        fast_rcnn_inference_rotated([boxes[:, :8]], [scores], [(40, 40)], 0.2, 0.5, 10)


def test_fast_rcnn_inference_rotated_at_angle_zero_matches_axis_aligned():
    torch.manual_seed(0)
    num_regions, num_classes = 40, 3
    xy = torch.rand(num_regions * num_classes, 2) * 50
    xyxy = torch.cat([xy, xy + torch.rand(num_regions * num_classes, 2) * 30 + 2], dim=1)  # some cross x, y = 64
    scores = torch.rand(num_regions, num_classes + 1).softmax(dim=1)
    boxes = xyxy.reshape(num_regions, num_classes * 4)
    rotated = to_rotated(xyxy).reshape(num_regions, num_classes * 5)
    (expected,), (expected_kept,) = fast_rcnn_inference([boxes], [scores], [(64, 64)], 0.05, 0.5, 100)
    (result,), (kept,) = fast_rcnn_inference_rotated([rotated], [scores], [(64, 64)], 0.05, 0.5, 100)
    assert kept.tolist() == expected_kept.tolist()
    assert result.pred_classes.tolist() == expected.pred_classes.tolist()
    torch.testing.assert_close(result.scores, expected.scores)
    torch.testing.assert_close(to_xyxy(result.pred_boxes.tensor), expected.pred_boxes.tensor, atol=1e-4, rtol=0)


def test_find_top_rrpn_proposals_per_level_nms_and_topk():
    # Level 0: two overlapping boxes (IoU 9.5 * 9.13 / (200 - 9.5 * 9.13) = 0.77) and a far one; level 1: a copy of the best box, kept
    # because NMS runs per level. The near-horizontal box crossing the border is clipped.
    level0 = torch.tensor(
        [[[10.0, 10.0, 10.0, 10.0, 30.0], [10.0, 11.0, 10.0, 10.0, 30.0], [45.0, 5.0, 20.0, 4.0, 0.5]]]
    )
    level1 = torch.tensor([[[10.0, 10.0, 10.0, 10.0, 30.0]]])
    logits = [torch.tensor([[3.0, 2.0, 1.0]]), torch.tensor([[0.5]])]
    (result,) = find_top_rrpn_proposals([level0, level1], logits, [(40, 50)], 0.7, 10, 3, 0.0, False)
    torch.testing.assert_close(result.objectness_logits, torch.tensor([3.0, 1.0, 0.5]))
    # The third box spans x in [35, 55]: clipped to [35, 50] -> centre 42.5, width 15.
    torch.testing.assert_close(result.proposal_boxes.tensor[1], torch.tensor([42.5, 5.0, 15.0, 4.0, 0.5]))
    (top2,) = find_top_rrpn_proposals([level0, level1], logits, [(40, 50)], 0.7, 1, 2, 0.0, False)
    torch.testing.assert_close(top2.objectness_logits, torch.tensor([3.0, 0.5]))

    bad = level0.clone()
    bad[0, 1, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="diverged"):
        find_top_rrpn_proposals([bad], logits[:1], [(40, 50)], 0.7, 10, 10, 0.0, True)
    (kept,) = find_top_rrpn_proposals([bad], logits[:1], [(40, 50)], 0.7, 10, 10, 0.0, False)
    assert len(kept) == 2


# ----------------------------------------------------------------------------- RRPN == RPN at angle 0


def _rpn_cfg(rotated: bool):
    cfg = get_cfg()
    cfg.MODEL.RPN.IN_FEATURES = ["p2", "p3", "p4"]
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[16], [32], [64]]
    cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]
    cfg.MODEL.RPN.PRE_NMS_TOPK_TRAIN = cfg.MODEL.RPN.PRE_NMS_TOPK_TEST = 200
    cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN = cfg.MODEL.RPN.POST_NMS_TOPK_TEST = 50
    if rotated:
        cfg.MODEL.PROPOSAL_GENERATOR.NAME = "RRPN"
        cfg.MODEL.ANCHOR_GENERATOR.NAME = "RotatedAnchorGenerator"
        cfg.MODEL.ANCHOR_GENERATOR.ANGLES = [[0]]
        cfg.MODEL.RPN.BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0)
    return cfg


def _copy_with_zero_angle(src: torch.nn.Module, dst: torch.nn.Module, box_layer: str) -> None:
    """Load ``src``'s weights into ``dst``, whose ``box_layer`` predicts 5 values per box instead of 4;
    the angle outputs get zero weights, so they are always 0."""
    state = dict(src.state_dict())
    for name in (f"{box_layer}.weight", f"{box_layer}.bias"):
        value = state[name]
        per_box = value.reshape(-1, 4, *value.shape[1:])
        state[name] = torch.cat([per_box, torch.zeros_like(per_box[:, :1])], dim=1).flatten(0, 1)
    dst.load_state_dict(state)


def _gt(image_size, boxes, classes, rotated):
    boxes = torch.tensor(boxes)
    inst = Instances(image_size)
    inst.gt_boxes = RotatedBoxes(to_rotated(boxes)) if rotated else Boxes(boxes)
    inst.gt_classes = torch.tensor(classes)
    return inst


def test_rrpn_at_angle_zero_equals_rpn():
    torch.manual_seed(0)
    rpn = build_proposal_generator(_rpn_cfg(False), FPN_SHAPE)
    rrpn = build_proposal_generator(_rpn_cfg(True), FPN_SHAPE)
    assert type(rrpn) is RRPN and set(rrpn.state_dict()) == set(rpn.state_dict())
    torch.nn.init.normal_(rpn.rpn_head.anchor_deltas.weight, std=0.05)
    _copy_with_zero_angle(rpn, rrpn, "rpn_head.anchor_deltas")
    image_sizes = [(60, 64), (64, 50)]
    images = ImageList(torch.zeros(2, 3, 64, 64), image_sizes)
    features = {f"p{k}": torch.randn(2, 8, 64 // 2**k, 64 // 2**k) for k in (2, 3, 4)}
    # Each gt box is one anchor exactly (IoU 1 with it alone), so no two anchors tie for a best match.
    anchors = torch.cat([a.tensor for a in rpn.anchor_generator([features[f] for f in ("p2", "p3", "p4")])])
    gt_boxes = [anchors[[3 * 17 + 1, 256 * 3 + 3 * 13 + 2]].tolist(), anchors[[3 * 40]].tolist()]

    for training in (True, False):
        results = {}
        for rotated, model in ((False, rpn), (True, rrpn)):
            model.train(training)
            targets = [_gt(size, b, [0] * len(b), rotated) for size, b in zip(image_sizes, gt_boxes)]
            torch.manual_seed(1)  # the same anchor sampling
            with EventStorage():
                results[rotated] = model(images, features, targets if training else None)
        (proposals, losses), (rotated_proposals, rotated_losses) = results[False], results[True]
        assert set(losses) == set(rotated_losses) == ({"loss_rpn_cls", "loss_rpn_loc"} if training else set())
        assert not training or losses["loss_rpn_loc"] > 0
        for name in losses:
            torch.testing.assert_close(rotated_losses[name], losses[name], rtol=1e-5, atol=1e-6)
        for p, r in zip(proposals, rotated_proposals):
            assert isinstance(r.proposal_boxes, RotatedBoxes) and len(r) == len(p) > 0
            torch.testing.assert_close(r.objectness_logits, p.objectness_logits)
            torch.testing.assert_close(to_xyxy(r.proposal_boxes.tensor), p.proposal_boxes.tensor, atol=1e-3, rtol=0)


def test_rrpn_rejects_what_it_does_not_implement():
    cfg = _rpn_cfg(True)
    cfg.MODEL.RPN.BOUNDARY_THRESH = 0
    with pytest.raises(NotImplementedError, match="BOUNDARY_THRESH"):
        build_proposal_generator(cfg, FPN_SHAPE)
    cfg = _rpn_cfg(True)
    cfg.MODEL.ANCHOR_GENERATOR.NAME = "DefaultAnchorGenerator"
    with pytest.raises(ValueError, match="RotatedAnchorGenerator"):
        build_proposal_generator(cfg, FPN_SHAPE)
    cfg = _rpn_cfg(True)
    cfg.MODEL.RPN.BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="5 weights"):
        build_proposal_generator(cfg, FPN_SHAPE)


# ----------------------------------------------------------------------------- RROIHeads == StandardROIHeads at angle 0


def _roi_cfg(rotated: bool):
    cfg = get_cfg()
    cfg.MODEL.ROI_HEADS.NAME = "RROIHeads" if rotated else "StandardROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 32
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.2
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 2
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 16
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 7
    cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignRotated" if rotated else "ROIAlignV2"
    cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0, 1.0) if rotated else (10.0, 10.0, 5.0, 5.0)
    return cfg


def _roi_proposals(rotated: bool, image_size=(64, 64)):
    generator = torch.Generator().manual_seed(3)
    xy = torch.rand(24, 2, generator=generator) * 40
    xyxy = torch.cat([xy, xy + torch.rand(24, 2, generator=generator) * 30 + 4], dim=1).clamp(max=64)
    inst = Instances(image_size)
    inst.proposal_boxes = RotatedBoxes(to_rotated(xyxy)) if rotated else Boxes(xyxy)
    inst.objectness_logits = torch.linspace(2, -2, 24)
    return inst


def test_rroi_heads_at_angle_zero_equal_standard_roi_heads():
    torch.manual_seed(0)
    standard = build_roi_heads(_roi_cfg(False), FPN_SHAPE)
    rotated = build_roi_heads(_roi_cfg(True), FPN_SHAPE)
    assert type(rotated) is RROIHeads and isinstance(rotated.box_predictor, RotatedFastRCNNOutputLayers)
    assert set(rotated.state_dict()) == set(standard.state_dict())
    torch.nn.init.normal_(standard.box_predictor.bbox_pred.weight, std=0.05)
    torch.nn.init.normal_(standard.box_predictor.cls_score.weight, std=0.3)
    _copy_with_zero_angle(standard, rotated, "box_predictor.bbox_pred")
    features = {f"p{k}": torch.randn(1, 8, 64 // 2**k, 64 // 2**k) for k in (2, 3, 4, 5)}
    gt_boxes = [[4.0, 6.0, 30.0, 40.0], [30.0, 20.0, 60.0, 50.0]]

    for training in (True, False):
        outputs = {}
        for is_rotated, heads in ((False, standard), (True, rotated)):
            heads.train(training)
            targets = [_gt((64, 64), gt_boxes, [1, 2], is_rotated)] if training else None
            torch.manual_seed(2)  # the same proposal sampling
            with EventStorage(), torch.set_grad_enabled(training):
                outputs[is_rotated] = heads(None, features, [_roi_proposals(is_rotated)], targets)
        (detections, losses), (rotated_detections, rotated_losses) = outputs[False], outputs[True]
        for name in losses:
            torch.testing.assert_close(rotated_losses[name], losses[name], rtol=1e-4, atol=1e-6)
        if training:
            assert set(rotated_losses) == {"loss_cls", "loss_box_reg"} and losses["loss_box_reg"] > 0
            continue
        (d,), (r,) = detections, rotated_detections
        assert isinstance(r.pred_boxes, RotatedBoxes) and len(r) == len(d) > 0
        assert r.pred_classes.tolist() == d.pred_classes.tolist()
        torch.testing.assert_close(r.scores, d.scores, atol=1e-5, rtol=0)
        torch.testing.assert_close(to_xyxy(r.pred_boxes.tensor), d.pred_boxes.tensor, atol=1e-3, rtol=0)


def test_rroi_heads_config_errors():
    cfg = _roi_cfg(True)
    cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
    with pytest.raises(ValueError, match="POOLER_TYPE must be 'ROIAlignRotated'"):
        build_roi_heads(cfg, FPN_SHAPE)
    cfg = _roi_cfg(True)
    cfg.MODEL.MASK_ON = True
    with pytest.raises(ValueError, match="MASK_ON"):
        build_roi_heads(cfg, FPN_SHAPE)
    cfg = _roi_cfg(True)
    cfg.MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES = True
    with pytest.raises(ValueError, match="TRAIN_ON_PRED_BOXES"):
        build_roi_heads(cfg, FPN_SHAPE)
    assert issubclass(RROIHeads, StandardROIHeads)


def test_rotated_box_predictor_losses_by_hand():
    predictor = RotatedFastRCNNOutputLayers(
        ShapeSpec(channels=4), box2box_transform=_rotated_transform(), num_classes=2, cls_agnostic_bbox_reg=True
    )
    for layer in (predictor.cls_score, predictor.bbox_pred):
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
    proposals = Instances((20, 20))
    proposals.proposal_boxes = RotatedBoxes(torch.tensor([[5.0, 5.0, 4.0, 2.0, 0.0], [10.0, 10.0, 4.0, 4.0, 0.0]]))
    proposals.gt_boxes = RotatedBoxes(torch.tensor([[6.0, 5.0, 4.0, 2.0, 90.0], [0.0, 0.0, 1.0, 1.0, 0.0]]))
    proposals.gt_classes = torch.tensor([1, 2])  # the second region is background
    with EventStorage():
        losses = predictor.losses(predictor(torch.zeros(2, 4)), [proposals])
    # Zero logits: cross entropy log(3). Zero deltas against the foreground target
    # (dx, dy, dw, dh, da) = (10 * 1/4, 0, 0, 0, pi/2), L1 summed over the one foreground region / 2 regions.
    assert losses["loss_cls"].item() == pytest.approx(math.log(3.0), rel=1e-6)
    assert losses["loss_box_reg"].item() == pytest.approx((2.5 + math.pi / 2) / 2, rel=1e-6)


def _rotated_transform():
    from modet.modeling.box_regression import Box2BoxTransformRotated

    return Box2BoxTransformRotated(weights=(10.0, 10.0, 5.0, 5.0, 1.0))


# ----------------------------------------------------------------------------- the whole model

ROTATED_YAML = Path(__file__).parent / "fixtures" / "configs" / "rotated_faster_rcnn_R_50_FPN_1x.yaml"
TINY_ROTATED = [
    "MODEL.DEVICE", "cpu",
    "MODEL.RESNETS.STEM_OUT_CHANNELS", 16,
    "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
    "MODEL.RESNETS.WIDTH_PER_GROUP", 8,
    "MODEL.FPN.OUT_CHANNELS", 32,
    "MODEL.ROI_BOX_HEAD.FC_DIM", 64,
    "MODEL.ROI_HEADS.NUM_CLASSES", 3,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 64,
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN", 200,
    "MODEL.RPN.PRE_NMS_TOPK_TEST", 200,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", 100,
    "MODEL.RPN.POST_NMS_TOPK_TEST", 100,
    "TEST.DETECTIONS_PER_IMAGE", 10,
    # Random weights train stably only with normalised pixels and trainable batch norm.
    "MODEL.PIXEL_STD", [57.375, 57.12, 58.395],
    "MODEL.RESNETS.NORM", "BN",
    "MODEL.BACKBONE.FREEZE_AT", 0,
]  # fmt: skip


def test_rotated_faster_rcnn_yaml_trains_and_infers():
    from modet.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(str(ROTATED_YAML))
    cfg.merge_from_list(TINY_ROTATED)
    torch.manual_seed(0)
    model = build_model(cfg)
    assert type(model.proposal_generator) is RRPN and type(model.roi_heads) is RROIHeads
    assert model.proposal_generator.rpn_head.anchor_deltas.out_channels == 18 * 5  # 3 ratios x 6 angles

    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 40, (3, 64, 96), generator=generator, dtype=torch.uint8)
    gt = Instances((64, 96))
    gt.gt_boxes = RotatedBoxes(torch.tensor([[30.0, 30.0, 40.0, 16.0, 30.0], [70.0, 40.0, 30.0, 20.0, -45.0]]))
    gt.gt_classes = torch.tensor([0, 1])
    batch = [{"image": image, "instances": gt}]

    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    totals = []
    with EventStorage() as storage:
        for _ in range(5):
            losses = model(batch)
            assert set(losses) == {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}
            assert all(torch.isfinite(v) for v in losses.values()), losses
            total = sum(losses.values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            storage.step()
            totals.append(total.item())
    assert totals[-1] < totals[0] and min(totals[-2:]) < 0.8 * totals[0], totals

    model.eval()
    model.roi_heads.box_predictor.test_score_thresh = 0.0
    with torch.no_grad():
        (output,) = model([{"image": image, "height": 128, "width": 192}])
    instances = output["instances"]
    assert instances.image_size == (128, 192) and 0 < len(instances) <= 10
    assert isinstance(instances.pred_boxes, RotatedBoxes) and instances.pred_boxes.tensor.shape[1] == 5
    assert (instances.pred_classes < 3).all() and (instances.scores[:-1] >= instances.scores[1:]).all()
