"""Keypoint head: keypoint_rcnn_loss (and its normalizers) / keypoint_rcnn_inference on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch

from modet.core.config import get_cfg
from modet.core.events import EventStorage
from modet.modeling.roi_heads import (
    KRCNNConvDeconvUpsampleHead,
    build_keypoint_head,
    keypoint_rcnn_inference,
    keypoint_rcnn_loss,
)
from modet.ops import ShapeSpec
from modet.ops.wrappers import channels_last_pays
from modet.structures import Boxes, Instances, Keypoints


def _instance(keypoints) -> Instances:
    """Regions [0, 0, 4, 4], whose 4x4 heatmap cells are 1 px wide, with (R, 2, 3) gt keypoints."""
    inst = Instances((10, 10))
    inst.proposal_boxes = Boxes(torch.tensor([[0.0, 0.0, 4.0, 4.0]] * len(keypoints)).reshape(-1, 4))
    inst.gt_keypoints = Keypoints(torch.tensor(keypoints).reshape(-1, 2, 3))
    return inst


# keypoint 0 is visible at (1.5, 2.5): cell x=1, y=2, flat index 9; keypoint 1 is not labelled
ONE_VISIBLE = [[[1.5, 2.5, 2.0], [3.0, 3.0, 0.0]]]


def _logits_with_peak(value: float = 2.0) -> torch.Tensor:
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 0, 2, 1] = value
    logits[0, 1] = 7.0  # invisible keypoint: ignored by the loss
    return logits


def test_keypoint_loss_hand_computed_and_normalizers():
    expected = math.log(math.exp(2.0) + 15) - 2.0
    with EventStorage():
        by_visible = keypoint_rcnn_loss(_logits_with_peak(), [_instance(ONE_VISIBLE)], normalizer=None)
        by_number = keypoint_rcnn_loss(_logits_with_peak(), [_instance(ONE_VISIBLE)], normalizer=4.0)
    assert by_visible.item() == pytest.approx(expected, rel=1e-6)
    assert by_number.item() == pytest.approx(expected / 4.0, rel=1e-6)


def test_keypoint_loss_without_visible_keypoints_is_zero_and_logged():
    logits = torch.randn(1, 2, 4, 4, requires_grad=True)
    with EventStorage() as storage:
        loss = keypoint_rcnn_loss(logits, [_instance([[[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]]])], normalizer=None)
        skipped = storage.latest()["kpts_num_skipped_batches"][0]
        empty = keypoint_rcnn_loss(logits[:0], [_instance([])], normalizer=None)
        assert storage.latest()["kpts_num_skipped_batches"][0] == skipped + 1
    assert loss.item() == 0.0 and empty.item() == 0.0
    loss.backward()
    assert logits.grad is not None


def test_keypoint_inference_decodes_the_peak():
    logits = _logits_with_peak(value=4.0)
    detections = Instances((10, 10))
    detections.pred_boxes = Boxes(torch.tensor([[0.0, 0.0, 4.0, 4.0]]))
    empty = Instances((10, 10))
    empty.pred_boxes = Boxes(torch.zeros(0, 4))
    keypoint_rcnn_inference(logits, [detections, empty])
    assert detections.pred_keypoints.shape == (1, 2, 3)
    torch.testing.assert_close(detections.pred_keypoints[0, 0, :2], torch.tensor([1.5, 2.5]))
    # score: the softmax probability of the peak over the 16 cells
    assert detections.pred_keypoints[0, 0, 2].item() == pytest.approx(math.exp(4.0) / (math.exp(4.0) + 15), rel=1e-4)
    torch.testing.assert_close(detections.pred_keypoint_heatmaps, logits)
    assert empty.pred_keypoints.shape == (0, 2, 3) and empty.pred_keypoint_heatmaps.shape == (0, 2, 4, 4)


def _tiny_cfg():
    cfg = get_cfg()
    cfg.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS = (8, 8)
    cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS = 2
    return cfg


def test_head_from_config_keys_and_shapes():
    head = build_keypoint_head(_tiny_cfg(), ShapeSpec(channels=6, height=14, width=14))
    assert isinstance(head, KRCNNConvDeconvUpsampleHead)
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == {
        "conv_fcn1.weight": (8, 6, 3, 3),
        "conv_fcn1.bias": (8,),
        "conv_fcn2.weight": (8, 8, 3, 3),
        "conv_fcn2.bias": (8,),
        "score_lowres.weight": (8, 2, 4, 4),
        "score_lowres.bias": (2,),
    }
    # stride-2 deconv, then 2x bilinear upsampling: 14 -> 56
    assert head.layers(torch.randn(3, 6, 14, 14)).shape == (3, 2, 56, 56)
    assert head.loss_normalizer == "visible"

    cfg = _tiny_cfg()
    cfg.MODEL.ROI_KEYPOINT_HEAD.NORMALIZE_LOSS_BY_VISIBLE_KEYPOINTS = False
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 16
    cfg.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.25
    head = build_keypoint_head(cfg, ShapeSpec(channels=6, height=14, width=14))
    assert head.loss_normalizer == pytest.approx(2 * 16 * 0.25)


def test_head_loss_normalizer_times_images_and_weight():
    head = KRCNNConvDeconvUpsampleHead(
        ShapeSpec(channels=3), num_keypoints=2, conv_dims=[4], loss_normalizer=2.0, loss_weight=3.0
    )
    x = torch.randn(1, 3, 1, 1)
    instances = [_instance(ONE_VISIBLE), _instance([])]
    with EventStorage():
        losses = head(x, instances)
        expected = keypoint_rcnn_loss(head.layers(x), instances, normalizer=2 * 2.0) * 3.0
    torch.testing.assert_close(losses["loss_keypoint"], expected)
    with pytest.raises(ValueError, match="loss_normalizer"):
        KRCNNConvDeconvUpsampleHead(ShapeSpec(channels=3), num_keypoints=2, conv_dims=[4], loss_normalizer="all")


def test_head_runs_channels_last_in_cpu_inference_with_the_same_heatmaps():
    torch.manual_seed(0)
    head = KRCNNConvDeconvUpsampleHead(ShapeSpec(channels=6), num_keypoints=3, conv_dims=[8, 8]).eval()
    x = torch.randn(4, 6, 7, 7)
    with torch.no_grad():
        assert channels_last_pays(x, head.conv_fcn1)
        heatmaps = head.layers(x)
    head.train()  # training: NCHW throughout, the reference layout
    expected = head.layers(x)
    assert heatmaps.shape == (4, 3, 28, 28) and heatmaps.is_contiguous()
    torch.testing.assert_close(heatmaps, expected, rtol=1e-5, atol=1e-6)
