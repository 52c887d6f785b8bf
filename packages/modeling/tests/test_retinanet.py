"""RetinaNet: head layout and init, anchor labelling, losses, inference filtering, training."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss as tv_sigmoid_focal_loss

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling import build_model
from modet.modeling.meta_arch.dense_detector import permute_to_N_HWA_K, top_scores
from modet.modeling.meta_arch.retinanet import RetinaNet, RetinaNetHead
from modet.ops import CycleBatchNormList, ShapeSpec
from modet.structures import Boxes, Instances
from modet_test_support.parity import FIXTURES, fill_weights, load_case

CONFIG = FIXTURES / "retinanet_R_50_FPN" / "config.yaml"
NUM_CLASSES = 3


def tiny_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(str(CONFIG))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.RETINANET.NUM_CLASSES = NUM_CLASSES
    return cfg


@pytest.fixture(scope="module")
def model() -> RetinaNet:
    torch.manual_seed(0)
    return build_model(tiny_cfg())


def synthetic_batch(with_instances: bool = True) -> list[dict]:
    generator = torch.Generator().manual_seed(1)
    batch = []
    for boxes, classes in (
        ([[8.0, 8.0, 40.0, 40.0], [50.0, 20.0, 90.0, 60.0]], [1, 2]),
        ([[10.0, 30.0, 60.0, 62.0]], [0]),
    ):
        image = torch.randint(0, 256, (3, 64, 96), generator=generator, dtype=torch.uint8)
        instances = Instances((64, 96))
        instances.gt_boxes = Boxes(torch.tensor(boxes if with_instances else []).reshape(-1, 4))
        instances.gt_classes = torch.tensor(classes if with_instances else [], dtype=torch.long)
        batch.append({"image": image, "instances": instances})
    return batch


def test_permute_to_N_HWA_K_orders_location_then_anchor():
    N, A, K, H, W = 2, 3, 4, 2, 5
    x = torch.arange(N * A * K * H * W, dtype=torch.float32).reshape(N, A * K, H, W)
    out = permute_to_N_HWA_K(x, K)
    assert out.shape == (N, H * W * A, K)
    for n, h, w, a, k in [(0, 0, 0, 0, 0), (1, 1, 3, 2, 1), (0, 1, 4, 1, 3), (1, 0, 2, 0, 2)]:
        assert out[n, (h * W + w) * A + a, k] == x[n, a * K + k, h, w]


def _detectron2_top_scores(scores: torch.Tensor, score_thresh: float, k: int):
    keep = scores > score_thresh  # (anchors, classes)
    kept_scores, kept = scores[keep], torch.nonzero(keep)
    top, order = kept_scores.topk(min(k, kept.size(0)))
    return top, kept[order]


@pytest.mark.parametrize("case", ["distinct", "tied", "saturated", "nan"])
def test_top_scores_equal_detectron2s_threshold_nonzero_topk(case):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3000, 80, generator=generator) * 3
    if case == "tied":
        logits = logits.round()
    elif case == "saturated":
        logits[:50] = 40.0  # sigmoid 1.0: 4000 scores tied at the top
    elif case == "nan":
        logits[torch.rand(3000, 80, generator=generator) < 1e-3] = float("nan")
    scores = logits.sigmoid()
    for score_thresh, k in [(0.05, 1000), (0.0, 1000), (0.9, 5000), (0.999, 10), (1.0, 10)]:
        expected, expected_index = _detectron2_top_scores(scores, score_thresh, k)
        top, index = top_scores(scores.flatten(), score_thresh, k)
        torch.testing.assert_close(top, expected, rtol=0, atol=0, equal_nan=True)
        assert torch.equal(index // 80, expected_index[:, 0]) and torch.equal(index % 80, expected_index[:, 1])


def test_head_layout_and_prior_probability_bias():
    shapes = [ShapeSpec(channels=8, stride=s) for s in (8, 16)]
    head = RetinaNetHead(input_shape=shapes, num_classes=5, num_anchors=9, conv_dims=[8, 8], prior_prob=0.01)
    keys = set(head.state_dict())
    assert {"cls_subnet.0.weight", "cls_subnet.2.weight", "bbox_subnet.2.bias", "cls_score.weight"} <= keys
    assert head.cls_score.weight.shape == (45, 8, 3, 3) and head.bbox_pred.weight.shape == (36, 8, 3, 3)
    torch.testing.assert_close(head.cls_score.bias, torch.full((45,), -math.log(99.0)))
    assert torch.all(head.bbox_pred.bias == 0) and torch.all(head.cls_subnet[0].bias == 0)
    logits, deltas = head([torch.zeros(2, 8, 6, 7), torch.zeros(2, 8, 3, 4)])
    assert [tuple(t.shape) for t in logits] == [(2, 45, 6, 7), (2, 45, 3, 4)]
    assert [tuple(t.shape) for t in deltas] == [(2, 36, 6, 7), (2, 36, 3, 4)]
    # zero features: every logit is the prior bias, so the sigmoid is the prior probability
    torch.testing.assert_close(logits[0].sigmoid(), torch.full_like(logits[0], 0.01))


def test_head_bn_norm_keeps_statistics_per_level():
    shapes = [ShapeSpec(channels=4, stride=s) for s in (8, 16)]
    head = RetinaNetHead(input_shape=shapes, num_classes=2, num_anchors=1, conv_dims=[4], norm="BN")
    assert isinstance(head.cls_subnet[1], CycleBatchNormList) and len(head.cls_subnet[1]) == 2
    assert "cls_subnet.1.weight" in head.state_dict() and "cls_subnet.1.1.running_mean" in head.state_dict()
    head.train()
    head([torch.randn(2, 4, 6, 6) + 5.0, torch.randn(2, 4, 3, 3) - 5.0])
    level0, level1 = head.cls_subnet[1][0].running_mean, head.cls_subnet[1][1].running_mean
    assert not torch.allclose(level0, level1)


def test_label_anchors_by_iou_thresholds(model):
    anchors = [
        Boxes(torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 4.5]])),
        Boxes(torch.tensor([[20.0, 20.0, 30.0, 30.0], [104.0, 100.0, 114.0, 110.0]])),
    ]
    gt = Instances((128, 128))
    gt.gt_boxes = Boxes(torch.tensor([[0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 110.0, 110.0]]))
    gt.gt_classes = torch.tensor([2, 1])
    empty = Instances((128, 128))
    empty.gt_boxes = Boxes(torch.zeros(0, 4))
    empty.gt_classes = torch.zeros(0, dtype=torch.long)

    labels, boxes = model.label_anchors(anchors, [gt, empty])
    # IoU 1 and 0.5 -> foreground; 0.45 -> ignored; 0 -> background (= num_classes);
    # the last anchor has IoU 0.43 but is gt #1's best anchor: a low-quality match.
    assert labels[0].tolist() == [2, 2, -1, NUM_CLASSES, 1]
    torch.testing.assert_close(boxes[0][[0, 1, 4]], gt.gt_boxes.tensor[[0, 0, 1]])
    assert labels[1].tolist() == [NUM_CLASSES] * 5
    assert torch.all(boxes[1] == 0)


def test_losses_use_focal_loss_and_foreground_ema(model):
    model.train()
    batch = synthetic_batch()
    if hasattr(model, "loss_normalizer"):
        del model.loss_normalizer
    with EventStorage() as storage, torch.no_grad():
        losses = model(batch)
        num_pos = storage.history("num_pos_anchors").latest() * len(batch)
        # Recompute the classification loss with torchvision's focal loss.
        images = model.preprocess_image(batch)
        features = model.backbone(images.tensor)
        features = [features[f] for f in model.head_in_features]
        logits, _ = model.head(features)
        logits = torch.cat([permute_to_N_HWA_K(x, NUM_CLASSES) for x in logits], dim=1)
        labels, _ = model.label_anchors(model.anchor_generator(features), [x["instances"] for x in batch])
        labels = torch.stack(labels)
    assert set(losses) == {"loss_cls", "loss_box_reg"}
    assert num_pos == int((labels >= 0).logical_and(labels != NUM_CLASSES).sum()) and num_pos > 0
    normalizer = 0.9 * 100 + 0.1 * num_pos
    assert model.loss_normalizer == pytest.approx(normalizer)
    valid = labels >= 0
    target = torch.nn.functional.one_hot(labels[valid], NUM_CLASSES + 1)[:, :-1].float()
    expected = tv_sigmoid_focal_loss(logits[valid], target, alpha=0.25, gamma=2.0, reduction="sum") / normalizer
    torch.testing.assert_close(losses["loss_cls"], expected, rtol=1e-4, atol=1e-6)


def test_inference_threshold_topk_nms_and_max_detections(model):
    anchors = [Boxes(torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 9], [40, 40, 50, 50], [20, 20, 30, 30]]))]
    scores = [torch.tensor([[0.9, 0.01], [0.8, 0.3], [0.02, 0.04], [0.6, 0.7]])]
    deltas = [torch.zeros(4, 4)]
    saved = model.test_topk_candidates, model.max_detections_per_image
    try:
        model.test_topk_candidates = 3  # keeps 0.9, 0.8 and 0.7; 0.6 and 0.3 fall out of the top k
        result = model.inference_single_image(anchors, scores, deltas, (64, 64))
        # anchor 1 / class 0 (IoU 0.9 with anchor 0) is suppressed by NMS; classes are NMSed separately
        assert result.pred_classes.tolist() == [0, 1]
        torch.testing.assert_close(result.scores, torch.tensor([0.9, 0.7]))
        torch.testing.assert_close(result.pred_boxes.tensor, anchors[0].tensor[[0, 3]])
        model.max_detections_per_image = 1
        assert len(model.inference_single_image(anchors, scores, deltas, (64, 64))) == 1
    finally:
        model.test_topk_candidates, model.max_detections_per_image = saved


def test_eval_outputs_rescaled_instances(model):
    model.eval()
    image = torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8)
    with torch.no_grad():
        (output,) = model([{"image": image, "height": 128, "width": 192}])
    instances = output["instances"]
    assert instances.image_size == (128, 192)
    assert set(instances.get_fields()) == {"pred_boxes", "scores", "pred_classes"}
    assert len(instances) <= model.max_detections_per_image
    assert torch.all(instances.scores > model.test_score_thresh)


@pytest.mark.parametrize("box_reg_loss_type", ["smooth_l1", "giou"])
def test_training_losses_fall_on_a_repeated_batch(box_reg_loss_type):
    torch.manual_seed(0)
    cfg = tiny_cfg()
    cfg.MODEL.RETINANET.BBOX_REG_LOSS_TYPE = box_reg_loss_type
    net = build_model(cfg).train()
    # The parity fill keeps the deep, BN-free (FrozenBN) tiny ResNet-50 numerically tame;
    # from detectron2's random init it diverges within a few steps without pretrained weights.
    fill_weights(net, load_case("retinanet_R_50_FPN").norm_stats)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    batch = synthetic_batch()
    totals = []
    with EventStorage():
        for _ in range(5):
            losses = net(batch)
            assert set(losses) == {"loss_cls", "loss_box_reg"}
            assert all(torch.isfinite(v) for v in losses.values())
            total = sum(losses.values())
            # the EMA normaliser moves between steps: compare the un-normalised sums
            totals.append(float(total.detach()) * net.loss_normalizer)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
    assert totals[-1] < 0.5 * totals[0], totals


def test_image_without_instances_trains(model):
    model.train()
    batch = synthetic_batch(with_instances=False)
    with EventStorage():
        losses = model(batch)
    assert torch.isfinite(losses["loss_cls"]) and losses["loss_cls"] > 0
    assert losses["loss_box_reg"] == 0
    sum(losses.values()).backward()


def test_training_without_instances_or_storage_is_a_clear_error(model):
    model.train()
    batch = synthetic_batch()
    del batch[1]["instances"]
    with EventStorage(), pytest.raises(KeyError, match=r"batched_inputs\[1\] has no .instances. key"):
        model(batch)
    with pytest.raises(AssertionError, match="EventStorage"):
        model(synthetic_batch())
