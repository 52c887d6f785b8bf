"""Cascade R-CNN ROI heads: box stages with rising IoU thresholds, each refining the previous boxes."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn
from torch.autograd.function import Function

from modet.core.config import configurable
from modet.core.events import get_event_storage
from modet.ops import ROIPooler, ShapeSpec
from modet.structures import Boxes, ImageList, Instances, pairwise_iou

from ..box_regression import Box2BoxTransform
from ..matcher import Matcher, _gt_classes_of_matches
from .box_head import build_box_head
from .fast_rcnn import FastRCNNOutputLayers, fast_rcnn_inference
from .roi_heads import StandardROIHeads, _init_box_pooler, _mean

__all__ = ["CascadeROIHeads"]


class _ScaleGradient(Function):
    """Identity forward; multiplies the gradient by ``scale`` on the way back."""

    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return input

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_output * ctx.scale, None


class CascadeROIHeads(StandardROIHeads):
    """Cascade R-CNN (Cai & Vasconcelos): one box head, predictor and matcher per stage."""

    box_head: nn.ModuleList  # one per stage (box_predictor holds one predictor per stage too)

    @configurable
    def __init__(
        self,
        *,
        box_in_features: list[str],
        box_pooler: ROIPooler,
        box_heads: list[nn.Module],
        box_predictors: list[nn.Module],
        proposal_matchers: list[Matcher],
        **kwargs: Any,
    ) -> None:
        """
        Args:
            box_pooler: crops region features for every stage.
            box_heads: the box head of each stage.
            box_predictors: the box predictor of each stage.
            proposal_matchers: the matcher of each stage: the first matches the RPN proposals,
                the others match the boxes predicted by the previous stage.
        """
        if "proposal_matcher" in kwargs:
            raise TypeError(
                "CascadeROIHeads takes 'proposal_matchers=' for each stage instead of one 'proposal_matcher='."
            )
        # The base class matches the RPN proposals with the first stage's matcher.
        kwargs["proposal_matcher"] = proposal_matchers[0]
        num_stages = self.num_cascade_stages = len(box_heads)
        if not (len(box_predictors) == len(proposal_matchers) == num_stages):
            raise ValueError(
                f"CascadeROIHeads: {num_stages} box heads, {len(box_predictors)} box predictors and "
                f"{len(proposal_matchers)} matchers; there must be one of each per stage"
            )
        super().__init__(
            box_in_features=box_in_features,
            box_pooler=box_pooler,
            box_head=nn.ModuleList(box_heads),
            box_predictor=nn.ModuleList(box_predictors),
            **kwargs,
        )
        self.proposal_matchers = proposal_matchers

    @classmethod
    def from_config(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:  # type: ignore[override]  # detectron2's from_config: subclasses also take input_shape
        ret = super().from_config(cfg, input_shape)
        ret.pop("proposal_matcher")
        return ret

    @classmethod
    def _init_box_head(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        box_cfg = cfg.MODEL.ROI_BOX_HEAD
        cascade_bbox_reg_weights = cfg.MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS
        cascade_ious = cfg.MODEL.ROI_BOX_CASCADE_HEAD.IOUS
        if len(cascade_bbox_reg_weights) != len(cascade_ious):
            raise ValueError(
                f"MODEL.ROI_BOX_CASCADE_HEAD: {len(cascade_bbox_reg_weights)} BBOX_REG_WEIGHTS but "
                f"{len(cascade_ious)} IOUS; they give one entry per stage"
            )
        if not box_cfg.CLS_AGNOSTIC_BBOX_REG:
            raise ValueError(
                "CascadeROIHeads only supports class-agnostic regression: set MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG"
            )
        if cascade_ious[0] != cfg.MODEL.ROI_HEADS.IOU_THRESHOLDS[0]:
            raise ValueError(
                f"MODEL.ROI_BOX_CASCADE_HEAD.IOUS[0] ({cascade_ious[0]}) must equal "
                f"MODEL.ROI_HEADS.IOU_THRESHOLDS[0] ({cfg.MODEL.ROI_HEADS.IOU_THRESHOLDS[0]})"
            )

        in_features, box_pooler, pooled_shape = _init_box_pooler(cfg, input_shape)
        box_heads, box_predictors, proposal_matchers = [], [], []
        for match_iou, bbox_reg_weights in zip(cascade_ious, cascade_bbox_reg_weights):
            box_head = build_box_head(cfg, pooled_shape)
            box_heads.append(box_head)
            box_predictors.append(
                FastRCNNOutputLayers(
                    cfg, box_head.output_shape, box2box_transform=Box2BoxTransform(weights=bbox_reg_weights)
                )
            )
            proposal_matchers.append(Matcher([match_iou], [0, 1], allow_low_quality_matches=False))
        return {
            "box_in_features": in_features,
            "box_pooler": box_pooler,
            "box_heads": box_heads,
            "box_predictors": box_predictors,
            "proposal_matchers": proposal_matchers,
        }

    def forward(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        """See :meth:`ROIHeads.forward`."""
        del images
        proposals = self._sample_for_training(proposals, targets)
        # Each branch returns its losses in training, its instances in inference.
        if self.training:
            # The later stages match their own boxes against the targets.
            losses = cast(dict[str, torch.Tensor], self._forward_box(features, proposals, targets))
            losses.update(cast(dict[str, torch.Tensor], self._forward_mask(features, proposals)))
            losses.update(cast(dict[str, torch.Tensor], self._forward_keypoint(features, proposals)))
            return proposals, losses
        pred_instances = cast(list[Instances], self._forward_box(features, proposals))
        pred_instances = self.forward_with_given_boxes(features, pred_instances)
        return pred_instances, {}

    def _forward_box(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """Run the stages; losses (suffixed ``_stage{k}``) in training, detections in inference,
        scored by the stages' averaged class probabilities with the last stage's boxes."""
        feature_list = [features[f] for f in self.box_in_features]
        head_outputs = []  # (predictor, predictions, proposals)
        prev_pred_boxes: list[torch.Tensor] | tuple[torch.Tensor, ...] = []  # set by each stage for the next
        image_sizes = [x.image_size for x in proposals]
        for k in range(self.num_cascade_stages):
            if k > 0:
                # The previous stage's boxes are this stage's proposals.
                proposals = self._create_proposals_from_boxes(prev_pred_boxes, image_sizes)
                if self.training:
                    assert targets is not None  # forward's _sample_for_training refuses None in training
                    proposals = self._match_and_label_boxes(proposals, k, targets)
            predictions = self._run_stage(feature_list, proposals, k)
            prev_pred_boxes = self.box_predictor[k].predict_boxes(predictions, proposals)
            head_outputs.append((self.box_predictor[k], predictions, proposals))

        if self.training:
            losses = {}
            storage = get_event_storage()
            for stage, (predictor, predictions, stage_proposals) in enumerate(head_outputs):
                with storage.name_scope(f"stage{stage}"):
                    stage_losses = predictor.losses(predictions, stage_proposals)
                losses.update({f"{name}_stage{stage}": value for name, value in stage_losses.items()})
            return losses

        # Per stage, per image: Ri x (K+1) probabilities; averaged over the stages.
        scores_per_stage = [h[0].predict_probs(h[1], h[2]) for h in head_outputs]
        scores = [
            sum(list(scores_per_image)) * (1.0 / self.num_cascade_stages) for scores_per_image in zip(*scores_per_stage)
        ]
        predictor, predictions, last_proposals = head_outputs[-1]
        boxes = predictor.predict_boxes(predictions, last_proposals)
        pred_instances, _ = fast_rcnn_inference(
            boxes,
            scores,
            image_sizes,
            predictor.test_score_thresh,
            predictor.test_nms_thresh,
            predictor.test_topk_per_image,
        )
        return pred_instances

    @torch.no_grad()
    def _match_and_label_boxes(
        self, proposals: list[Instances], stage: int, targets: list[Instances]
    ) -> list[Instances]:
        """Label the stage's proposals foreground/background with the stage's matcher; adds
        ``gt_classes`` and ``gt_boxes``. Logs ``stage{k}/roi_head/num_fg_samples`` and ``num_bg_samples``."""
        num_fg_samples, num_bg_samples = [], []
        for proposals_per_image, targets_per_image in zip(proposals, targets):
            match_quality_matrix = pairwise_iou(targets_per_image.gt_boxes, proposals_per_image.proposal_boxes)
            # proposal_labels are 0 or 1
            matched_idxs, proposal_labels = self.proposal_matchers[stage](match_quality_matrix)
            proposals_per_image.gt_classes = _gt_classes_of_matches(
                targets_per_image.gt_classes, matched_idxs, proposal_labels, self.num_classes
            )
            if len(targets_per_image) > 0:
                proposals_per_image.gt_boxes = targets_per_image.gt_boxes[matched_idxs]
            else:
                proposals_per_image.gt_boxes = Boxes(
                    targets_per_image.gt_boxes.tensor.new_zeros((len(proposals_per_image), 4))
                )

            num_fg_samples.append((proposal_labels == 1).sum().item())
            num_bg_samples.append(proposal_labels.numel() - num_fg_samples[-1])

        storage = get_event_storage()
        storage.put_scalar(f"stage{stage}/roi_head/num_fg_samples", _mean(num_fg_samples))
        storage.put_scalar(f"stage{stage}/roi_head/num_bg_samples", _mean(num_bg_samples))
        return proposals

    def _run_stage(
        self, features: list[torch.Tensor], proposals: list[Instances], stage: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One stage's (scores, deltas) for the proposals."""
        box_features = self.box_pooler(features, [x.proposal_boxes for x in proposals])
        # The original averages the stage losses but scales up the heads' gradients; equivalently,
        # sum the losses and scale down the gradient that reaches the shared features.
        box_features = _ScaleGradient.apply(box_features, 1.0 / self.num_cascade_stages)
        box_features = self.box_head[stage](box_features)
        return self.box_predictor[stage](box_features)

    def _create_proposals_from_boxes(
        self, boxes: list[torch.Tensor] | tuple[torch.Tensor, ...], image_sizes: list[tuple[int, int]]
    ) -> list[Instances]:
        """Per image, proposals from the previous stage's (Ri, 4) boxes, clipped to the image and
        without gradient. Empty boxes are dropped in training only: at inference the stages' scores
        must stay aligned to be averaged."""
        proposals = []
        for boxes_tensor, image_size in zip(boxes, image_sizes):
            boxes_per_image = Boxes(boxes_tensor.detach())
            boxes_per_image.clip(image_size)
            if self.training:
                boxes_per_image = boxes_per_image[boxes_per_image.nonempty()]
            prop = Instances(image_size)
            prop.proposal_boxes = boxes_per_image
            proposals.append(prop)
        return proposals
