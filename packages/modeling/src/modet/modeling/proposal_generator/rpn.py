"""Region Proposal Network: ``StandardRPNHead``, ``RPN`` (matching, sampling, losses, proposals)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from modet.core.config import CfgNode, configurable
from modet.core.events import get_event_storage
from modet.core.registry import Registry
from modet.ops import Conv2d, ShapeSpec, cat
from modet.structures import Boxes, ImageList, Instances

from ..anchor_generator import build_anchor_generator
from ..backbone.backbone import required_size
from ..box_regression import Box2BoxTransform, _dense_box_regression_loss
from ..matcher import Matcher, _match_anchors
from ..sampling import subsample_labels
from .proposal_utils import find_top_rpn_proposals

__all__ = ["RPN", "RPN_HEAD_REGISTRY", "StandardRPNHead", "build_rpn_head"]

RPN_HEAD_REGISTRY = Registry("rpn_head", "RPN_HEAD")


def build_rpn_head(cfg: CfgNode, input_shape: list[ShapeSpec]) -> nn.Module:
    """The RPN head named by ``cfg.MODEL.RPN.HEAD_NAME``."""
    return RPN_HEAD_REGISTRY.get(cfg.MODEL.RPN.HEAD_NAME)(cfg, input_shape)


class StandardRPNHead(nn.Module):
    """Shared 3x3 conv(s) + ReLU, then 1x1 convs for objectness logits and anchor deltas, on every level."""

    @configurable
    def __init__(
        self, *, in_channels: int, num_anchors: int, box_dim: int = 4, conv_dims: list[int] | tuple[int, ...] = (-1,)
    ) -> None:
        """``conv_dims``: widths of the hidden convs; -1 keeps ``in_channels``."""
        super().__init__()
        cur_channels = in_channels
        self.conv: nn.Module
        if len(conv_dims) == 1:
            out_channels = cur_channels if conv_dims[0] == -1 else conv_dims[0]
            self.conv = self._get_rpn_conv(cur_channels, out_channels)
            cur_channels = out_channels
        else:
            self.conv = nn.Sequential()
            for k, conv_dim in enumerate(conv_dims):
                out_channels = cur_channels if conv_dim == -1 else conv_dim
                if out_channels <= 0:
                    raise ValueError(f"Conv output channels should be greater than 0. Got {out_channels}")
                self.conv.add_module(f"conv{k}", self._get_rpn_conv(cur_channels, out_channels))
                cur_channels = out_channels
        self.objectness_logits = nn.Conv2d(cur_channels, num_anchors, kernel_size=1, stride=1)
        self.anchor_deltas = nn.Conv2d(cur_channels, num_anchors * box_dim, kernel_size=1, stride=1)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, std=0.01)
                if layer.bias is not None:
                    nn.init.constant_(layer.bias, 0)

    @staticmethod
    def _get_rpn_conv(in_channels: int, out_channels: int) -> Conv2d:
        return Conv2d(
            in_channels, out_channels, kernel_size=3, stride=1, padding=1, activation=nn.ReLU(), winograd=True
        )

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: list[ShapeSpec]) -> dict[str, Any]:
        in_channels = {required_size(s.channels, "StandardRPNHead: channels of an input feature") for s in input_shape}
        if len(in_channels) != 1:
            raise ValueError(f"Each level must have the same channel! Got {sorted(in_channels)}")
        anchor_generator: Any = build_anchor_generator(cfg, input_shape)  # any generator with num_anchors
        num_anchors = set(anchor_generator.num_anchors)
        if len(num_anchors) != 1:
            raise ValueError("Each level must have the same number of anchors per spatial position")
        return {
            "in_channels": in_channels.pop(),
            "num_anchors": num_anchors.pop(),
            "box_dim": anchor_generator.box_dim,
            "conv_dims": cfg.MODEL.RPN.CONV_DIMS,
        }

    def forward(self, features: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per level: objectness logits (N, A, Hi, Wi) and anchor deltas (N, A*box_dim, Hi, Wi)."""
        pred_objectness_logits, pred_anchor_deltas = [], []
        for x in features:
            t = self.conv(x)
            pred_objectness_logits.append(self.objectness_logits(t))
            pred_anchor_deltas.append(self.anchor_deltas(t))
        return pred_objectness_logits, pred_anchor_deltas


class RPN(nn.Module):
    """Region Proposal Network (Faster R-CNN), returning proposals and, in training, its losses."""

    @configurable
    def __init__(
        self,
        *,
        in_features: list[str],
        head: nn.Module,
        anchor_generator: nn.Module,
        anchor_matcher: Matcher,
        box2box_transform: Box2BoxTransform,
        batch_size_per_image: int,
        positive_fraction: float,
        pre_nms_topk: tuple[int, int],
        post_nms_topk: tuple[int, int],
        nms_thresh: float = 0.7,
        min_box_size: float = 0.0,
        anchor_boundary_thresh: float = -1.0,
        loss_weight: float | dict[str, float] = 1.0,
        box_reg_loss_type: str = "smooth_l1",
        smooth_l1_beta: float = 0.0,
    ) -> None:
        """``pre_nms_topk``/``post_nms_topk`` are (training, inference) pairs; ``loss_weight`` a float or
        per-loss dict (``loss_rpn_cls``, ``loss_rpn_loc``)."""
        super().__init__()
        self.in_features = in_features
        self.rpn_head = head
        self.anchor_generator = anchor_generator
        self.anchor_matcher = anchor_matcher
        self.box2box_transform = box2box_transform
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.pre_nms_topk = {True: pre_nms_topk[0], False: pre_nms_topk[1]}
        self.post_nms_topk = {True: post_nms_topk[0], False: post_nms_topk[1]}
        self.nms_thresh = nms_thresh
        self.min_box_size = float(min_box_size)
        self.anchor_boundary_thresh = anchor_boundary_thresh
        if isinstance(loss_weight, (int, float)):
            loss_weight = {"loss_rpn_cls": loss_weight, "loss_rpn_loc": loss_weight}
        self.loss_weight = loss_weight
        self.box_reg_loss_type = box_reg_loss_type
        self.smooth_l1_beta = smooth_l1_beta

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        rpn = cfg.MODEL.RPN
        in_features = rpn.IN_FEATURES
        missing = [f for f in in_features if f not in input_shape]
        if missing:
            raise ValueError(
                f"MODEL.RPN.IN_FEATURES {missing} are not backbone outputs; the backbone gives {sorted(input_shape)}"
            )
        shapes = [input_shape[f] for f in in_features]
        return {
            "in_features": in_features,
            "min_box_size": cfg.MODEL.PROPOSAL_GENERATOR.MIN_SIZE,
            "nms_thresh": rpn.NMS_THRESH,
            "batch_size_per_image": rpn.BATCH_SIZE_PER_IMAGE,
            "positive_fraction": rpn.POSITIVE_FRACTION,
            "loss_weight": {
                "loss_rpn_cls": rpn.LOSS_WEIGHT,
                "loss_rpn_loc": rpn.BBOX_REG_LOSS_WEIGHT * rpn.LOSS_WEIGHT,
            },
            "anchor_boundary_thresh": rpn.BOUNDARY_THRESH,
            "box2box_transform": Box2BoxTransform(weights=rpn.BBOX_REG_WEIGHTS),
            "box_reg_loss_type": rpn.BBOX_REG_LOSS_TYPE,
            "smooth_l1_beta": rpn.SMOOTH_L1_BETA,
            "pre_nms_topk": (rpn.PRE_NMS_TOPK_TRAIN, rpn.PRE_NMS_TOPK_TEST),
            "post_nms_topk": (rpn.POST_NMS_TOPK_TRAIN, rpn.POST_NMS_TOPK_TEST),
            "anchor_generator": build_anchor_generator(cfg, shapes),
            "anchor_matcher": Matcher(rpn.IOU_THRESHOLDS, rpn.IOU_LABELS, allow_low_quality_matches=True),
            "head": build_rpn_head(cfg, shapes),
        }

    def _subsample_labels(self, label: torch.Tensor) -> torch.Tensor:
        """Keep a random balanced minibatch of labels; the rest become -1 (ignored)."""
        pos_idx, neg_idx = subsample_labels(label, self.batch_size_per_image, self.positive_fraction, 0)
        label.fill_(-1)
        label.scatter_(0, pos_idx, 1)
        label.scatter_(0, neg_idx, 0)
        return label

    @torch.no_grad()
    def label_and_sample_anchors(
        self, anchors: list[Boxes], gt_instances: list[Instances]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per image: anchor labels (1 fg, 0 bg, -1 ignored) and the matched gt box of each anchor."""
        all_anchors = Boxes.cat(anchors)
        gt_labels, matched_gt_boxes = [], []
        for gt in gt_instances:
            _, gt_labels_i, matched_gt_boxes_i = _match_anchors(self.anchor_matcher, all_anchors, gt.gt_boxes)
            if self.anchor_boundary_thresh >= 0:
                # Anchors that stick out of the image by more than the threshold are ignored.
                anchors_inside_image = all_anchors.inside_box(gt.image_size, self.anchor_boundary_thresh)
                gt_labels_i[~anchors_inside_image] = -1
            gt_labels_i = self._subsample_labels(gt_labels_i)
            gt_labels.append(gt_labels_i)
            matched_gt_boxes.append(matched_gt_boxes_i)
        return gt_labels, matched_gt_boxes

    def losses(
        self,
        anchors: list[Boxes],
        pred_objectness_logits: list[torch.Tensor],
        gt_labels: list[torch.Tensor],
        pred_anchor_deltas: list[torch.Tensor],
        gt_boxes: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """``loss_rpn_cls`` (BCE on sampled anchors) and ``loss_rpn_loc`` (box regression on positives),
        both normalised by ``batch_size_per_image * num_images``; logs anchor counts to the EventStorage."""
        num_images = len(gt_labels)
        labels = torch.stack(gt_labels)
        pos_mask = labels == 1
        storage = get_event_storage()
        storage.put_scalar("rpn/num_pos_anchors", pos_mask.sum().item() / num_images)
        storage.put_scalar("rpn/num_neg_anchors", (labels == 0).sum().item() / num_images)

        localization_loss = _dense_box_regression_loss(
            anchors,
            self.box2box_transform,
            pred_anchor_deltas,
            gt_boxes,
            pos_mask,
            box_reg_loss_type=self.box_reg_loss_type,
            smooth_l1_beta=self.smooth_l1_beta,
        )
        valid_mask = labels >= 0
        objectness_loss = F.binary_cross_entropy_with_logits(
            cat(pred_objectness_logits, dim=1)[valid_mask],
            labels[valid_mask].to(torch.float32),
            reduction="sum",
        )
        normalizer = self.batch_size_per_image * num_images
        losses = {"loss_rpn_cls": objectness_loss / normalizer, "loss_rpn_loc": localization_loss / normalizer}
        return {k: v * self.loss_weight.get(k, 1.0) for k, v in losses.items()}

    def forward(
        self, images: ImageList, features: dict[str, torch.Tensor], gt_instances: list[Instances] | None = None
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        """Proposals for each image (``proposal_boxes``, ``objectness_logits``) and the losses (empty in eval)."""
        level_features = [features[f] for f in self.in_features]
        anchors = self.anchor_generator(level_features)
        pred_objectness_logits, pred_anchor_deltas = self.rpn_head(level_features)
        # (N, A, Hi, Wi) -> (N, Hi*Wi*A), matching the anchors' position-major order.
        pred_objectness_logits = [score.permute(0, 2, 3, 1).flatten(1) for score in pred_objectness_logits]
        # (N, A*B, Hi, Wi) -> (N, A, B, Hi, Wi) -> (N, Hi, Wi, A, B) -> (N, Hi*Wi*A, B)
        box_dim = self.anchor_generator.box_dim
        pred_anchor_deltas = [
            x.view(x.shape[0], -1, box_dim, x.shape[-2], x.shape[-1]).permute(0, 3, 4, 1, 2).flatten(1, -2)
            for x in pred_anchor_deltas
        ]
        if self.training:
            if gt_instances is None:
                raise ValueError("RPN requires gt_instances in training!")
            gt_labels, gt_boxes = self.label_and_sample_anchors(anchors, gt_instances)
            losses = self.losses(anchors, pred_objectness_logits, gt_labels, pred_anchor_deltas, gt_boxes)
        else:
            losses = {}
        proposals = self.predict_proposals(anchors, pred_objectness_logits, pred_anchor_deltas, images.image_sizes)
        return proposals, losses

    def predict_proposals(
        self,
        anchors: list[Boxes],
        pred_objectness_logits: list[torch.Tensor],
        pred_anchor_deltas: list[torch.Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> list[Instances]:
        """Decode and select proposals; no gradient flows into them (they are fixed for the ROI heads)."""
        with torch.no_grad():
            pred_proposals = self._decode_proposals(anchors, pred_anchor_deltas)
            return find_top_rpn_proposals(
                pred_proposals,
                pred_objectness_logits,
                image_sizes,
                self.nms_thresh,
                self.pre_nms_topk[self.training],
                self.post_nms_topk[self.training],
                self.min_box_size,
                self.training,
            )

    def _decode_proposals(self, anchors: list[Boxes], pred_anchor_deltas: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per level: (N, Hi*Wi*A, B) boxes from the anchors and predicted deltas."""
        num_images = pred_anchor_deltas[0].shape[0]
        proposals = []
        for anchors_i, pred_anchor_deltas_i in zip(anchors, pred_anchor_deltas):
            box_dim = anchors_i.tensor.size(1)
            pred_anchor_deltas_i = pred_anchor_deltas_i.reshape(-1, box_dim)
            anchor_boxes_i = anchors_i.tensor.unsqueeze(0).expand(num_images, -1, -1).reshape(-1, box_dim)
            proposals_i = self.box2box_transform.apply_deltas(pred_anchor_deltas_i, anchor_boxes_i)
            proposals.append(proposals_i.view(num_images, -1, box_dim))
        return proposals
