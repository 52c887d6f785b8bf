"""ROIHeads sampling, StandardROIHeads / CascadeROIHeads / Res5ROIHeads on tiny features."""

from __future__ import annotations

import itertools

import pytest
import torch

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling.matcher import Matcher
from modet.modeling.roi_heads import (
    ROI_HEADS_REGISTRY,
    CascadeROIHeads,
    Res5ROIHeads,
    ROIHeads,
    StandardROIHeads,
    build_roi_heads,
    select_foreground_proposals,
    select_proposals_with_visible_keypoints,
)
from modet.ops import ShapeSpec
from modet.structures import BitMasks, Boxes, Instances, Keypoints

GT_BOX = [0.0, 0.0, 10.0, 10.0]
# IoU with GT_BOX: 1.0, 0.5, 0.4, 0.0
PROPOSAL_BOXES = [GT_BOX, [0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 4.0], [20.0, 20.0, 30.0, 30.0]]


def _sampler(batch_size=512, thresholds=(0.5,), labels=(0, 1), append_gt=True) -> ROIHeads:
    return ROIHeads(
        num_classes=3,
        batch_size_per_image=batch_size,
        positive_fraction=0.25,
        proposal_matcher=Matcher(list(thresholds), list(labels), allow_low_quality_matches=False),
        proposal_append_gt=append_gt,
    )


def _proposals(boxes=PROPOSAL_BOXES, image_size=(40, 40)) -> Instances:
    inst = Instances(image_size)
    inst.proposal_boxes = Boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.objectness_logits = torch.arange(len(boxes), dtype=torch.float32)
    return inst


def _targets(boxes=(GT_BOX,), classes=(1,), image_size=(40, 40)) -> Instances:
    inst = Instances(image_size)
    inst.gt_boxes = Boxes(torch.tensor(list(boxes)).reshape(-1, 4))
    inst.gt_classes = torch.tensor(list(classes), dtype=torch.int64)
    return inst


def _by_box(instances: Instances) -> dict[tuple[float, ...], int]:
    return {tuple(b.tolist()): int(c) for b, c in zip(instances.proposal_boxes.tensor, instances.gt_classes)}


def test_label_and_sample_hand_made_case():
    with EventStorage() as storage:
        (sampled,) = _sampler().label_and_sample_proposals([_proposals()], [_targets()])
        latest = storage.latest()
    labels = _by_box(sampled)
    # the appended gt box duplicates proposal 0: 5 proposals, 3 foreground (IoU >= 0.5)
    assert len(sampled) == 5
    assert labels == {
        tuple(GT_BOX): 1,
        (0.0, 0.0, 10.0, 5.0): 1,
        (0.0, 0.0, 10.0, 4.0): 3,
        (20.0, 20.0, 30.0, 30.0): 3,
    }
    assert sorted(sampled.gt_classes.tolist()) == [1, 1, 1, 3, 3]
    # foreground first (subsample_labels order), and every proposal carries its matched gt box
    assert sampled.gt_classes[:3].tolist() == [1, 1, 1]
    assert torch.equal(sampled.gt_boxes.tensor, torch.tensor([GT_BOX] * 5))
    assert latest["roi_head/num_fg_samples"][0] == 3 and latest["roi_head/num_bg_samples"][0] == 2


def test_label_and_sample_ignores_and_limits():
    with EventStorage():
        (sampled,) = _sampler(thresholds=(0.3, 0.5), labels=(0, -1, 1), append_gt=False).label_and_sample_proposals(
            [_proposals()], [_targets()]
        )
    # IoU 0.4 lies between the thresholds: ignored, never sampled
    assert _by_box(sampled) == {tuple(GT_BOX): 1, (0.0, 0.0, 10.0, 5.0): 1, (20.0, 20.0, 30.0, 30.0): 3}

    with EventStorage() as storage:
        (sampled,) = _sampler(batch_size=4).label_and_sample_proposals([_proposals()], [_targets()])
        latest = storage.latest()
    # at most int(4 * 0.25) = 1 foreground, then 4 - 1 = 3 background wanted but only 2 exist
    assert sorted(sampled.gt_classes.tolist()) == [1, 3, 3]
    assert latest["roi_head/num_fg_samples"][0] == 1 and latest["roi_head/num_bg_samples"][0] == 2


def test_label_and_sample_image_without_gt_and_batch_means():
    with EventStorage() as storage:
        sampled = _sampler().label_and_sample_proposals(
            [_proposals(), _proposals()], [_targets(), _targets(boxes=(), classes=())]
        )
        latest = storage.latest()
    assert sampled[1].gt_classes.tolist() == [3, 3, 3, 3]
    assert not sampled[1].has("gt_boxes")
    assert latest["roi_head/num_fg_samples"][0] == pytest.approx(1.5)
    assert latest["roi_head/num_bg_samples"][0] == pytest.approx(3.0)


def test_label_and_sample_copies_every_gt_field():
    targets = _targets(boxes=(GT_BOX, [20.0, 20.0, 30.0, 30.0]), classes=(1, 2))
    masks = torch.zeros(2, 40, 40, dtype=torch.bool)
    masks[1, 25, 25] = True
    targets.gt_masks = BitMasks(masks)
    with EventStorage():
        (sampled,) = _sampler().label_and_sample_proposals([_proposals()], [targets])
    for box, cls, mask in zip(sampled.proposal_boxes.tensor, sampled.gt_classes, sampled.gt_masks.tensor):
        if box.tolist() == [20.0, 20.0, 30.0, 30.0]:
            assert cls == 2 and mask[25, 25]
        elif cls == 1:
            assert not mask.any()


def test_select_foreground_and_visible_keypoints():
    proposals = _proposals()
    proposals.gt_classes = torch.tensor([0, -1, 3, 2])
    keypoints = torch.zeros(4, 2, 3)
    keypoints[0] = torch.tensor([[5.0, 5.0, 2.0], [0.0, 0.0, 0.0]])  # visible, inside box 0
    keypoints[3] = torch.tensor([[5.0, 5.0, 2.0], [1.0, 1.0, 0.0]])  # visible but outside box 3
    proposals.gt_keypoints = Keypoints(keypoints)
    (fg,), (mask,) = select_foreground_proposals([proposals], bg_label=3)
    assert mask.tolist() == [True, False, False, True]
    assert fg.gt_classes.tolist() == [0, 2]
    with EventStorage() as storage:
        (visible,) = select_proposals_with_visible_keypoints([fg])
        assert storage.latest()["keypoint_head/num_fg_samples"][0] == 1
    assert visible.gt_classes.tolist() == [0]


def _tiny_cfg(name="StandardROIHeads", mask=True, keypoint=True):
    cfg = get_cfg()
    cfg.MODEL.ROI_HEADS.NAME = name
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 16
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 2
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 16
    cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
    cfg.MODEL.MASK_ON = mask
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 8
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 1
    cfg.MODEL.ROI_MASK_HEAD.POOLER_TYPE = "ROIAlignV2"
    cfg.MODEL.KEYPOINT_ON = keypoint
    cfg.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS = (8,)
    cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS = 2
    cfg.MODEL.ROI_KEYPOINT_HEAD.POOLER_TYPE = "ROIAlignV2"
    cfg.TEST.DETECTIONS_PER_IMAGE = 5
    return cfg


FPN_SHAPE = {f"p{k}": ShapeSpec(channels=8, stride=2**k) for k in range(2, 6)}


def _features(batch=2, size=64):
    torch.manual_seed(0)
    return {name: torch.randn(batch, 8, size // s.stride, size // s.stride) for name, s in FPN_SHAPE.items()}


def _training_targets():
    boxes = [[4.0, 4.0, 30.0, 40.0], [32.0, 10.0, 60.0, 30.0]]
    full = _targets(boxes=boxes, classes=(0, 2), image_size=(64, 64))
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, 4:40, 4:30] = True
    masks[1, 10:30, 32:60] = True
    full.gt_masks = BitMasks(masks)
    full.gt_keypoints = Keypoints(
        torch.tensor([[[10.0, 10.0, 2.0], [20.0, 30.0, 1.0]], [[40.0, 20.0, 2.0], [0.0, 0.0, 0.0]]])
    )
    empty = _targets(boxes=(), classes=(), image_size=(64, 64))
    empty.gt_masks = BitMasks(torch.zeros(0, 64, 64, dtype=torch.bool))
    empty.gt_keypoints = Keypoints(torch.zeros(0, 2, 3))
    return [full, empty]


def _rpn_proposals(batch=2, count=12):
    torch.manual_seed(1)
    out = []
    for _ in range(batch):
        xy = torch.rand(count, 2) * 40
        wh = torch.rand(count, 2) * 20 + 4
        out.append(_proposals(torch.cat([xy, xy + wh], dim=1).tolist(), image_size=(64, 64)))
    return out


def test_standard_roi_heads_keys_training_and_inference():
    heads = build_roi_heads(_tiny_cfg(), FPN_SHAPE)
    assert type(heads) is StandardROIHeads
    keys = set(heads.state_dict())
    assert {"box_head.fc1.weight", "box_head.fc2.weight", "box_predictor.cls_score.weight"} <= keys
    assert {"mask_head.mask_fcn1.weight", "mask_head.deconv.weight", "mask_head.predictor.weight"} <= keys
    assert {"keypoint_head.conv_fcn1.weight", "keypoint_head.score_lowres.weight"} <= keys
    assert heads.box_predictor.cls_score.weight.shape == (4, 16)

    heads.train()
    features = _features()
    with EventStorage() as storage:
        sampled, losses = heads(None, features, _rpn_proposals(), _training_targets())
        latest = storage.latest()
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_mask", "loss_keypoint"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert heads.mask_head.predictor.weight.grad is not None
    assert {"roi_head/num_fg_samples", "fast_rcnn/cls_accuracy", "mask_rcnn/accuracy"} <= set(latest)
    assert len(sampled) == 2 and not sampled[1].has("gt_boxes")

    heads.eval()
    with torch.no_grad():
        results, losses = heads(None, features, _rpn_proposals())
    assert losses == {}
    for result in results:
        assert 0 < len(result) <= 5
        assert result.pred_masks.shape == (len(result), 1, 28, 28)
        assert result.pred_keypoints.shape == (len(result), 2, 3)
        assert result.pred_keypoint_heatmaps.shape == (len(result), 2, 56, 56)
        assert (result.pred_classes < 3).all()


def test_standard_roi_heads_empty_proposals_in_inference():
    heads = build_roi_heads(_tiny_cfg(), FPN_SHAPE).eval()
    with torch.no_grad():
        results, _ = heads(None, _features(batch=1), [_proposals(torch.zeros(0, 4), image_size=(64, 64))])
    assert len(results[0]) == 0
    assert results[0].pred_masks.shape[1:] == (1, 28, 28)
    assert results[0].pred_keypoints.shape[1:] == (2, 3)


def test_training_needs_targets_and_known_features():
    heads = build_roi_heads(_tiny_cfg(mask=False, keypoint=False), FPN_SHAPE)
    with EventStorage(), pytest.raises(ValueError, match="targets"):
        heads(None, _features(), _rpn_proposals())
    cfg = _tiny_cfg()
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "res4"]
    with pytest.raises(KeyError, match="res4"):
        build_roi_heads(cfg, FPN_SHAPE)
    cfg.MODEL.ROI_HEADS.NAME = "NoSuchHeads"
    with pytest.raises(KeyError, match="NoSuchHeads"):
        build_roi_heads(cfg, FPN_SHAPE)


def test_train_on_pred_boxes_replaces_proposal_boxes():
    cfg = _tiny_cfg(mask=False, keypoint=False)
    cfg.MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES = True
    heads = build_roi_heads(cfg, FPN_SHAPE)
    torch.nn.init.normal_(heads.box_predictor.bbox_pred.bias, std=1.0)
    features = _features()
    with EventStorage():
        sampled = heads.label_and_sample_proposals(_rpn_proposals(), _training_targets())
        before = [p.proposal_boxes.tensor.clone() for p in sampled]
        heads._forward_box(features, sampled)
    assert not torch.allclose(sampled[0].proposal_boxes.tensor, before[0])
    assert sampled[0].proposal_boxes.tensor.shape == before[0].shape


def test_registry_view_lists_builtin_heads():
    assert ROI_HEADS_REGISTRY.get("CascadeROIHeads") is CascadeROIHeads
    assert ROI_HEADS_REGISTRY.get("Res5ROIHeads") is Res5ROIHeads


def _cascade_cfg():
    cfg = _tiny_cfg("CascadeROIHeads", keypoint=False)
    cfg.MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG = True
    return cfg


def test_cascade_keys_losses_and_averaged_scores():
    heads = build_roi_heads(_cascade_cfg(), FPN_SHAPE)
    assert heads.num_cascade_stages == 3
    keys = set(heads.state_dict())
    assert {f"box_head.{k}.fc1.weight" for k in range(3)} <= keys
    assert {f"box_predictor.{k}.bbox_pred.weight" for k in range(3)} <= keys
    assert heads.box_predictor[2].bbox_pred.weight.shape == (4, 16)
    assert [m.thresholds[1] for m in heads.proposal_matchers] == pytest.approx([0.5, 0.6, 0.7])
    assert tuple(heads.box_predictor[1].box2box_transform.weights) == (20.0, 20.0, 10.0, 10.0)

    features = _features()
    with EventStorage() as storage:
        _, losses = heads(None, features, _rpn_proposals(), _training_targets())
        latest = storage.latest()
    assert set(losses) == {f"{name}_stage{k}" for name in ("loss_cls", "loss_box_reg") for k in range(3)} | {
        "loss_mask"
    }
    assert {"stage1/roi_head/num_fg_samples", "stage2/roi_head/num_bg_samples", "stage0/fast_rcnn/cls_accuracy"} <= set(
        latest
    )

    heads.eval()
    proposals = _rpn_proposals()
    with torch.no_grad():
        results, _ = heads(None, features, proposals)
        # by hand: run the stages, average their probabilities, keep the last stage's boxes
        feature_list = [features[f] for f in heads.box_in_features]
        stage_proposals, probs, boxes = proposals, [], []
        for k in range(3):
            if k > 0:
                stage_proposals = heads._create_proposals_from_boxes(boxes, [p.image_size for p in proposals])
            predictions = heads._run_stage(feature_list, stage_proposals, k)
            boxes = heads.box_predictor[k].predict_boxes(predictions, stage_proposals)
            probs.append(heads.box_predictor[k].predict_probs(predictions, stage_proposals)[0])
    averaged = (probs[0] + probs[1] + probs[2]) / 3
    top = averaged[:, :-1].max()
    torch.testing.assert_close(results[0].scores[0], top)
    assert results[0].pred_masks.shape[1:] == (1, 28, 28)


def test_cascade_rejects_class_specific_regression():
    cfg = _cascade_cfg()
    cfg.MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG = False
    with pytest.raises(ValueError, match="class-agnostic"):
        build_roi_heads(cfg, FPN_SHAPE)


def _res5_cfg():
    cfg = get_cfg()
    cfg.MODEL.ROI_HEADS.NAME = "Res5ROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["res4"]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 16
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 4
    cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 8
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 2
    cfg.MODEL.RESNETS.NORM = "FrozenBN"
    cfg.MODEL.MASK_ON = True
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 8
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 0
    cfg.TEST.DETECTIONS_PER_IMAGE = 4
    return cfg


def test_res5_roi_heads_keys_training_and_inference():
    res4 = {"res4": ShapeSpec(channels=32, stride=16)}
    heads = build_roi_heads(_res5_cfg(), res4)
    assert type(heads) is Res5ROIHeads
    keys = {k: tuple(v.shape) for k, v in heads.state_dict().items()}
    assert keys["res5.0.shortcut.weight"] == (64, 32, 1, 1)
    assert keys["res5.0.conv1.weight"] == (16, 32, 1, 1)
    assert keys["box_predictor.cls_score.weight"] == (4, 64)
    assert keys["mask_head.deconv.weight"] == (64, 8, 2, 2)

    torch.manual_seed(0)
    features = {"res4": torch.randn(2, 32, 4, 4)}
    with EventStorage():
        _, losses = heads(None, features, _rpn_proposals(), _training_targets())
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_mask"}
    assert all(torch.isfinite(v) for v in losses.values())

    heads.eval()
    with torch.no_grad():
        results, _ = heads(None, features, _rpn_proposals())
    assert all(0 < len(r) <= 4 for r in results)
    # 4x4 crops, halved by res5's stride, doubled by the mask deconv
    assert results[0].pred_masks.shape == (len(results[0]), 1, 4, 4)


def test_standard_roi_heads_losses_fall_on_a_repeated_batch():
    cfg = _tiny_cfg()
    cfg.MODEL.ROI_HEADS.POSITIVE_FRACTION = 1.0  # every proposal is sampled: the same batch each step
    torch.manual_seed(0)
    heads = build_roi_heads(cfg, FPN_SHAPE)
    optimizer = torch.optim.SGD(heads.parameters(), lr=0.02, momentum=0.9)
    features = _features()
    totals = []
    for _ in range(6):
        with EventStorage():
            _, losses = heads(None, features, _rpn_proposals(), _training_targets())
        total = sum(losses.values())
        assert torch.isfinite(total)
        totals.append(total.item())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert all(b < a for a, b in itertools.pairwise(totals)), totals
    assert totals[-1] < 0.9 * totals[0], totals


@pytest.mark.parametrize("branch", ["mask", "keypoint"])
def test_branch_features_without_its_head_are_refused_when_built(branch):
    kwargs = StandardROIHeads.from_config(_tiny_cfg(), FPN_SHAPE)
    assert kwargs[f"{branch}_in_features"]
    kwargs[f"{branch}_head"] = None
    with pytest.raises(ValueError, match=f"{branch}_in_features is set but {branch}_head is None"):
        StandardROIHeads(**kwargs)
