"""RetinaNet (:paper:`RetinaNet`): a dense detector with a focal-loss classification head."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from modet.core.config import CfgNode, configurable
from modet.core.events import get_event_storage
from modet.ops import (
    Conv2d,
    CycleBatchNormList,
    ShapeSpec,
    batched_nms,
    cat,
    get_norm,
    sigmoid_focal_loss_jit,
)
from modet.structures import Boxes, ImageList, Instances

from ..anchor_generator import build_anchor_generator
from ..backbone import Backbone, build_backbone
from ..backbone.backbone import required_size
from ..box_regression import Box2BoxTransform, _dense_box_regression_loss
from ..matcher import Matcher, _gt_classes_of_matches, _match_anchors
from .dense_detector import DenseDetector

__all__ = ["RetinaNet", "RetinaNetHead"]

logger = logging.getLogger(__name__)


class RetinaNet(DenseDetector):
    """RetinaNet: sigmoid focal loss over anchors on every FPN level, then per-class NMS."""

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: nn.Module,
        head_in_features: list[str],
        anchor_generator: nn.Module,
        box2box_transform: Box2BoxTransform,
        anchor_matcher: Matcher,
        num_classes: int,
        focal_loss_alpha: float = 0.25,
        focal_loss_gamma: float = 2.0,
        smooth_l1_beta: float = 0.0,
        box_reg_loss_type: str = "smooth_l1",
        test_score_thresh: float = 0.05,
        test_topk_candidates: int = 1000,
        test_nms_thresh: float = 0.5,
        max_detections_per_image: int = 100,
        pixel_mean: list[float],
        pixel_std: list[float],
        vis_period: int = 0,
        input_format: str = "BGR",
    ) -> None:
        """
        Args:
            head: predicts per-level logits (N, A*num_classes, H, W) and deltas (N, A*4, H, W).
            anchor_matcher: labels anchors from their IoU with the ground truth.
            box_reg_loss_type: "smooth_l1" or "giou" (or any type ``_dense_box_regression_loss`` knows).
            test_score_thresh: only scores above it are kept before top-k and NMS.
            test_topk_candidates: top-k scores kept per level before NMS.
            max_detections_per_image: detections kept per image after NMS.
        """
        super().__init__(backbone, head, head_in_features, pixel_mean=pixel_mean, pixel_std=pixel_std)
        self.num_classes = num_classes
        self.anchor_generator = anchor_generator
        self.box2box_transform = box2box_transform
        self.anchor_matcher = anchor_matcher
        self.focal_loss_alpha = focal_loss_alpha
        self.focal_loss_gamma = focal_loss_gamma
        self.smooth_l1_beta = smooth_l1_beta
        self.box_reg_loss_type = box_reg_loss_type
        self.test_score_thresh = test_score_thresh
        self.test_topk_candidates = test_topk_candidates
        self.test_nms_thresh = test_nms_thresh
        self.max_detections_per_image = max_detections_per_image
        self.vis_period = vis_period
        self.input_format = input_format

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict[str, Any]:
        backbone = build_backbone(cfg)
        backbone_shape = backbone.output_shape()
        missing = [f for f in cfg.MODEL.RETINANET.IN_FEATURES if f not in backbone_shape]
        if missing:
            raise ValueError(
                f"MODEL.RETINANET.IN_FEATURES names {missing}, which the backbone does not produce "
                f"(it has {sorted(backbone_shape)})"
            )
        feature_shapes = [backbone_shape[f] for f in cfg.MODEL.RETINANET.IN_FEATURES]
        return {
            "backbone": backbone,
            "head": RetinaNetHead(cfg, feature_shapes),
            "anchor_generator": build_anchor_generator(cfg, feature_shapes),
            "box2box_transform": Box2BoxTransform(weights=cfg.MODEL.RETINANET.BBOX_REG_WEIGHTS),
            "anchor_matcher": Matcher(
                cfg.MODEL.RETINANET.IOU_THRESHOLDS,
                cfg.MODEL.RETINANET.IOU_LABELS,
                allow_low_quality_matches=True,
            ),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "num_classes": cfg.MODEL.RETINANET.NUM_CLASSES,
            "head_in_features": cfg.MODEL.RETINANET.IN_FEATURES,
            "focal_loss_alpha": cfg.MODEL.RETINANET.FOCAL_LOSS_ALPHA,
            "focal_loss_gamma": cfg.MODEL.RETINANET.FOCAL_LOSS_GAMMA,
            "smooth_l1_beta": cfg.MODEL.RETINANET.SMOOTH_L1_LOSS_BETA,
            "box_reg_loss_type": cfg.MODEL.RETINANET.BBOX_REG_LOSS_TYPE,
            "test_score_thresh": cfg.MODEL.RETINANET.SCORE_THRESH_TEST,
            "test_topk_candidates": cfg.MODEL.RETINANET.TOPK_CANDIDATES_TEST,
            "test_nms_thresh": cfg.MODEL.RETINANET.NMS_THRESH_TEST,
            "max_detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
            "vis_period": cfg.VIS_PERIOD,
            "input_format": cfg.INPUT.FORMAT,
        }

    def forward_training(
        self,
        images: ImageList,
        features: list[Tensor],
        predictions: tuple[list[Tensor], list[Tensor]],
        gt_instances: list[Instances],
    ) -> dict[str, Tensor]:
        pred_logits, pred_anchor_deltas = self._transpose_dense_predictions(predictions, [self.num_classes, 4])
        anchors = self.anchor_generator(features)
        gt_labels, gt_boxes = self.label_anchors(anchors, gt_instances)
        return self.losses(anchors, pred_logits, gt_labels, pred_anchor_deltas, gt_boxes)

    def losses(
        self,
        anchors: list[Boxes],
        pred_logits: list[Tensor],
        gt_labels: list[Tensor],
        pred_anchor_deltas: list[Tensor],
        gt_boxes: list[Tensor],
    ) -> dict[str, Tensor]:
        """``loss_cls`` (sigmoid focal) and ``loss_box_reg``, both over the EMA of #foreground anchors.

        ``gt_labels``/``gt_boxes`` come from :meth:`label_anchors`; predictions are per level
        (N, Hi*Wi*A, K or 4).
        """
        num_images = len(gt_labels)
        labels = torch.stack(gt_labels)  # (N, R)

        valid_mask = labels >= 0
        pos_mask = valid_mask & (labels != self.num_classes)
        num_pos_anchors = pos_mask.sum().item()
        get_event_storage().put_scalar("num_pos_anchors", num_pos_anchors / num_images)
        normalizer = self._ema_update("loss_normalizer", max(num_pos_anchors, 1), 100)

        # The last one-hot column is background: it gets no classification target.
        gt_labels_target = F.one_hot(labels[valid_mask], num_classes=self.num_classes + 1)[:, :-1]
        loss_cls = sigmoid_focal_loss_jit(
            cat(pred_logits, dim=1)[valid_mask],
            gt_labels_target.to(pred_logits[0].dtype),
            alpha=self.focal_loss_alpha,
            gamma=self.focal_loss_gamma,
            reduction="sum",
        )
        loss_box_reg = _dense_box_regression_loss(
            anchors,
            self.box2box_transform,
            pred_anchor_deltas,
            gt_boxes,
            pos_mask,
            box_reg_loss_type=self.box_reg_loss_type,
            smooth_l1_beta=self.smooth_l1_beta,
        )
        return {"loss_cls": loss_cls / normalizer, "loss_box_reg": loss_box_reg / normalizer}

    @torch.no_grad()
    def label_anchors(self, anchors: list[Boxes], gt_instances: list[Instances]) -> tuple[list[Tensor], list[Tensor]]:
        """Match every anchor (all levels concatenated) to a ground-truth box.

        Returns per image: labels (R,) in {-1 ignore, 0..K-1 class, K background} and the
        matched ground-truth boxes (R, 4) (meaningless for background anchors).
        """
        all_anchors = Boxes.cat(anchors)
        gt_labels = []
        matched_gt_boxes = []
        for gt_per_image in gt_instances:
            matched_idxs, anchor_labels, matched_gt_boxes_i = _match_anchors(
                self.anchor_matcher, all_anchors, gt_per_image.gt_boxes
            )
            gt_labels.append(
                _gt_classes_of_matches(gt_per_image.gt_classes, matched_idxs, anchor_labels, self.num_classes)
            )
            matched_gt_boxes.append(matched_gt_boxes_i)
        return gt_labels, matched_gt_boxes

    def forward_inference(
        self, images: ImageList, features: list[Tensor], predictions: tuple[list[Tensor], list[Tensor]]
    ) -> list[Instances]:
        pred_logits, pred_anchor_deltas = self._transpose_dense_predictions(predictions, [self.num_classes, 4])
        anchors = self.anchor_generator(features)

        results: list[Instances] = []
        for img_idx, image_size in enumerate(images.image_sizes):
            scores_per_image = [x[img_idx].sigmoid_() for x in pred_logits]
            deltas_per_image = [x[img_idx] for x in pred_anchor_deltas]
            results.append(self.inference_single_image(anchors, scores_per_image, deltas_per_image, image_size))
        return results

    def inference_single_image(
        self,
        anchors: list[Boxes],
        box_cls: list[Tensor],
        box_delta: list[Tensor],
        image_size: tuple[int, int],
    ) -> Instances:
        """Per level: threshold, top-k and decode; then class-wise NMS and ``max_detections_per_image``.

        ``box_cls`` holds per-level sigmoid scores (Hi*Wi*A, K), ``box_delta`` (Hi*Wi*A, 4).
        """
        pred = self._decode_multi_level_predictions(
            anchors, box_cls, box_delta, self.test_score_thresh, self.test_topk_candidates, image_size
        )
        keep = batched_nms(pred.pred_boxes.tensor, pred.scores, pred.pred_classes, self.test_nms_thresh)
        return pred[keep[: self.max_detections_per_image]]


class RetinaNetHead(nn.Module):
    """The shared classification and box-regression towers of :paper:`RetinaNet`."""

    @configurable
    def __init__(
        self,
        *,
        input_shape: list[ShapeSpec],
        num_classes: int,
        num_anchors: int,
        conv_dims: list[int],
        norm: str | Callable[[int], nn.Module] = "",
        prior_prob: float = 0.01,
    ) -> None:
        """
        Args:
            input_shape: shapes of the feature levels the head runs on.
            num_anchors: anchors per location (the same on every level).
            conv_dims: output channels of each tower conv.
            norm: normalisation after each tower conv ("" for none). "BN"/"SyncBN" give each
                level its own statistics (:class:`CycleBatchNormList`).
            prior_prob: initial foreground probability; sets the classifier bias.
        """
        super().__init__()
        self._num_features = len(input_shape)
        if norm in ("BN", "SyncBN"):
            logger.info(f"Using domain-specific {norm} in RetinaNetHead with len={self._num_features}.")
            bn_class = nn.BatchNorm2d if norm == "BN" else nn.SyncBatchNorm
            num_levels = self._num_features

            def norm(channels: int) -> nn.Module:
                return CycleBatchNormList(length=num_levels, bn_class=bn_class, num_features=channels)

        else:
            norm_name = str(type(get_norm(norm, 32)))
            if "BN" in norm_name:
                logger.warning(f"Shared BatchNorm (type={norm_name}) may not work well in RetinaNetHead.")

        cls_subnet: list[nn.Module] = []
        bbox_subnet: list[nn.Module] = []
        first_channels = required_size(input_shape[0].channels, "RetinaNetHead: channels of the first feature")
        for in_channels, out_channels in zip([first_channels, *conv_dims], conv_dims):
            for subnet in (cls_subnet, bbox_subnet):
                subnet.append(Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1, winograd=True))
                norm_layer = get_norm(norm, out_channels)
                if norm_layer is not None:
                    subnet.append(norm_layer)
                subnet.append(nn.ReLU())
        self.cls_subnet = nn.Sequential(*cls_subnet)
        self.bbox_subnet = nn.Sequential(*bbox_subnet)
        self.cls_score = Conv2d(
            conv_dims[-1], num_anchors * num_classes, kernel_size=3, stride=1, padding=1, winograd=True
        )
        self.bbox_pred = Conv2d(conv_dims[-1], num_anchors * 4, kernel_size=3, stride=1, padding=1, winograd=True)

        for modules in (self.cls_subnet, self.bbox_subnet, self.cls_score, self.bbox_pred):
            for layer in modules.modules():
                if isinstance(layer, nn.Conv2d):
                    nn.init.normal_(layer.weight, mean=0, std=0.01)
                    if layer.bias is not None:
                        nn.init.constant_(layer.bias, 0)
        # Start every anchor at foreground probability ``prior_prob``, which keeps early focal losses stable.
        if self.cls_score.bias is not None:
            nn.init.constant_(self.cls_score.bias, -math.log((1 - prior_prob) / prior_prob))

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: list[ShapeSpec]) -> dict[str, Any]:
        anchor_generator: Any = build_anchor_generator(cfg, input_shape)  # any generator with num_cell_anchors
        num_anchors = anchor_generator.num_cell_anchors
        if len(set(num_anchors)) != 1:
            raise ValueError(
                f"RetinaNetHead needs the same number of anchors on every level, got {list(num_anchors)} "
                "(MODEL.ANCHOR_GENERATOR.SIZES / ASPECT_RATIOS)"
            )
        return {
            "input_shape": input_shape,
            "num_classes": cfg.MODEL.RETINANET.NUM_CLASSES,
            "conv_dims": [input_shape[0].channels] * cfg.MODEL.RETINANET.NUM_CONVS,
            "prior_prob": cfg.MODEL.RETINANET.PRIOR_PROB,
            "norm": cfg.MODEL.RETINANET.NORM,
            "num_anchors": num_anchors[0],
        }

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], ...]:
        """Per level: logits (N, A*K, Hi, Wi) and box deltas (N, A*4, Hi, Wi)."""
        if len(features) != self._num_features:
            raise ValueError(f"RetinaNetHead was built for {self._num_features} feature levels, got {len(features)}")
        logits = []
        bbox_reg = []
        for feature in features:
            logits.append(self.cls_score(self.cls_subnet(feature)))
            bbox_reg.append(self.bbox_pred(self.bbox_subnet(feature)))
        return logits, bbox_reg
