"""ROI heads: match and sample proposals in training, then run the per-region box/mask/keypoint heads."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from modet.core.config import configurable
from modet.core.events import get_event_storage
from modet.core.registry import Registry
from modet.ops import ROIPooler, ShapeSpec, nonzero_tuple
from modet.structures import Boxes, ImageList, Instances, pairwise_iou

from ..backbone.backbone import required_size
from ..backbone.resnet import BottleneckBlock, ResNet
from ..matcher import Matcher, _gt_classes_of_matches
from ..proposal_generator.proposal_utils import add_ground_truth_to_proposals
from ..sampling import subsample_labels
from .box_head import build_box_head
from .fast_rcnn import FastRCNNOutputLayers
from .keypoint_head import build_keypoint_head
from .mask_head import build_mask_head

__all__ = [
    "ROI_HEADS_REGISTRY",
    "ROIHeads",
    "Res5ROIHeads",
    "StandardROIHeads",
    "build_roi_heads",
    "select_foreground_proposals",
    "select_proposals_with_visible_keypoints",
]

ROI_HEADS_REGISTRY = Registry("roi_heads", "ROI_HEADS")
ROI_HEADS_REGISTRY.__doc__ = """
Registry for ROI heads in a generalized R-CNN model: they take feature maps and region
proposals and do the per-region computation. Called with ``obj(cfg, input_shape)``.
"""

logger = logging.getLogger(__name__)


def build_roi_heads(cfg: Any, input_shape: dict[str, ShapeSpec]) -> nn.Module:
    """Build the ROI heads named by ``cfg.MODEL.ROI_HEADS.NAME``."""
    name = cfg.MODEL.ROI_HEADS.NAME
    return ROI_HEADS_REGISTRY.get(name)(cfg, input_shape)


def _mean(counts: Sequence[float]) -> float:
    """Mean of per-image counts for the EventStorage; NaN without images."""
    return sum(counts) / len(counts) if counts else float("nan")


def select_foreground_proposals(
    proposals: list[Instances], bg_label: int
) -> tuple[list[Instances], list[torch.Tensor]]:
    """Keep the proposals whose ``gt_classes`` is neither -1 (ignored) nor ``bg_label``.

    Returns the kept proposals per image and, per image, the boolean selection mask.
    """
    if not isinstance(proposals, (list, tuple)) or not proposals or not isinstance(proposals[0], Instances):
        raise TypeError("select_foreground_proposals expects a non-empty list of Instances, one per image")
    if not proposals[0].has("gt_classes"):
        raise ValueError("select_foreground_proposals: the proposals have no 'gt_classes' field")
    fg_proposals = []
    fg_selection_masks = []
    for proposals_per_image in proposals:
        gt_classes = proposals_per_image.gt_classes
        fg_selection_mask = (gt_classes != -1) & (gt_classes != bg_label)
        fg_idxs = fg_selection_mask.nonzero().squeeze(1)
        fg_proposals.append(proposals_per_image[fg_idxs])
        fg_selection_masks.append(fg_selection_mask)
    return fg_proposals, fg_selection_masks


def select_proposals_with_visible_keypoints(proposals: list[Instances]) -> list[Instances]:
    """Keep the proposals that contain at least one visible gt keypoint (inside the box, v >= 1).

    Unlike Detectron, proposals are sampled first and filtered afterwards, which makes no
    measurable difference and is simpler. Logs ``keypoint_head/num_fg_samples``.
    """
    ret = []
    all_num_fg = []
    for proposals_per_image in proposals:
        # An image without annotations (hard negatives) is kept as is.
        if len(proposals_per_image) == 0:
            ret.append(proposals_per_image)
            continue
        gt_keypoints = proposals_per_image.gt_keypoints.tensor  # R x K x 3
        vis_mask = gt_keypoints[:, :, 2] >= 1
        xs, ys = gt_keypoints[:, :, 0], gt_keypoints[:, :, 1]
        proposal_boxes = proposals_per_image.proposal_boxes.tensor.unsqueeze(dim=1)  # R x 1 x 4
        kp_in_box = (
            (xs >= proposal_boxes[:, :, 0])
            & (xs <= proposal_boxes[:, :, 2])
            & (ys >= proposal_boxes[:, :, 1])
            & (ys <= proposal_boxes[:, :, 3])
        )
        selection = (kp_in_box & vis_mask).any(dim=1)
        selection_idxs = nonzero_tuple(selection)[0]
        all_num_fg.append(selection_idxs.numel())
        ret.append(proposals_per_image[selection_idxs])

    storage = get_event_storage()
    storage.put_scalar("keypoint_head/num_fg_samples", _mean(all_num_fg) if all_num_fg else 0.0)
    return ret


class ROIHeads(nn.Module):
    """Base class: the proposal-to-ground-truth matching and sampling that most ROI heads share.

    Subclasses crop per-region features from the proposals and run their heads in ``forward``.
    """

    @configurable
    def __init__(
        self,
        *,
        num_classes: int,
        batch_size_per_image: int,
        positive_fraction: float,
        proposal_matcher: Matcher,
        proposal_append_gt: bool = True,
    ) -> None:
        """
        Args:
            num_classes: foreground classes (background excluded); also the background label.
            batch_size_per_image: proposals sampled per image for training.
            positive_fraction: the most foreground the sample may hold.
            proposal_matcher: matches proposals to ground truth.
            proposal_append_gt: add the gt boxes to the proposals before matching.
        """
        super().__init__()
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.num_classes = num_classes
        self.proposal_matcher = proposal_matcher
        self.proposal_append_gt = proposal_append_gt

    @classmethod
    def from_config(cls, cfg: Any) -> dict[str, Any]:
        roi_heads = cfg.MODEL.ROI_HEADS
        return {
            "batch_size_per_image": roi_heads.BATCH_SIZE_PER_IMAGE,
            "positive_fraction": roi_heads.POSITIVE_FRACTION,
            "num_classes": roi_heads.NUM_CLASSES,
            "proposal_append_gt": roi_heads.PROPOSAL_APPEND_GT,
            "proposal_matcher": Matcher(
                roi_heads.IOU_THRESHOLDS, roi_heads.IOU_LABELS, allow_low_quality_matches=False
            ),
        }

    def _sample_proposals(
        self, matched_idxs: torch.Tensor, matched_labels: torch.Tensor, gt_classes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Label N proposals from their match to M gt boxes, then sample them.

        Returns the sampled proposal indices in [0, N) and their labels: a class in
        [0, num_classes), ``num_classes`` for background, or -1 for ignored.
        """
        gt_classes = _gt_classes_of_matches(gt_classes, matched_idxs, matched_labels, self.num_classes)
        sampled_fg_idxs, sampled_bg_idxs = subsample_labels(
            gt_classes, self.batch_size_per_image, self.positive_fraction, self.num_classes
        )
        sampled_idxs = torch.cat([sampled_fg_idxs, sampled_bg_idxs], dim=0)
        return sampled_idxs, gt_classes[sampled_idxs]

    @torch.no_grad()
    def label_and_sample_proposals(self, proposals: list[Instances], targets: list[Instances]) -> list[Instances]:
        """Match proposals to ground truth, label them and sample ``batch_size_per_image`` per image.

        Returns, per image, the sampled proposals with ``proposal_boxes``, ``gt_classes`` and, when
        the image has ground truth, every other ``gt_*`` field of the matched target (``gt_boxes``,
        ``gt_masks``…; meaningful for foreground only). Logs ``roi_head/num_fg_samples`` and
        ``roi_head/num_bg_samples``.
        """
        if len(proposals) != len(targets):
            raise ValueError(
                f"label_and_sample_proposals: {len(proposals)} images of proposals but {len(targets)} of targets"
            )
        # Early in training the learned proposals are poor; adding the gt boxes guarantees the
        # second stage some foreground examples.
        if self.proposal_append_gt:
            proposals = add_ground_truth_to_proposals([x.gt_boxes for x in targets], proposals)

        proposals_with_gt = []
        num_fg_samples = []
        num_bg_samples = []
        for proposals_per_image, targets_per_image in zip(proposals, targets):
            has_gt = len(targets_per_image) > 0
            match_quality_matrix = pairwise_iou(targets_per_image.gt_boxes, proposals_per_image.proposal_boxes)
            matched_idxs, matched_labels = self.proposal_matcher(match_quality_matrix)
            sampled_idxs, gt_classes = self._sample_proposals(
                matched_idxs, matched_labels, targets_per_image.gt_classes
            )

            proposals_per_image = proposals_per_image[sampled_idxs]
            proposals_per_image.gt_classes = gt_classes

            if has_gt:
                sampled_targets = matched_idxs[sampled_idxs]
                # Heads such as masks and keypoints filter these again; indexing twice is cheap.
                for trg_name, trg_value in targets_per_image.get_fields().items():
                    if trg_name.startswith("gt_") and not proposals_per_image.has(trg_name):
                        proposals_per_image.set(trg_name, trg_value[sampled_targets])
            # Without ground truth there is no sensible dummy gt_* value: only gt_classes
            # (all background) is set.

            num_bg_samples.append((gt_classes == self.num_classes).sum().item())
            num_fg_samples.append(gt_classes.numel() - num_bg_samples[-1])
            proposals_with_gt.append(proposals_per_image)

        storage = get_event_storage()
        storage.put_scalar("roi_head/num_fg_samples", _mean(num_fg_samples))
        storage.put_scalar("roi_head/num_bg_samples", _mean(num_bg_samples))
        return proposals_with_gt

    def _sample_for_training(self, proposals: list[Instances], targets: list[Instances] | None) -> list[Instances]:
        """In training, :meth:`label_and_sample_proposals` (``targets`` required); in inference, ``proposals``."""
        if not self.training:
            return proposals
        if not targets:
            raise ValueError("'targets' argument is required during training (the ROI heads need the ground truth)")
        return self.label_and_sample_proposals(proposals, targets)

    def _check_given_boxes(self, instances: list[Instances]) -> None:
        """The checks of ``forward_with_given_boxes``: inference only, on predicted boxes and classes."""
        if self.training:
            raise RuntimeError("forward_with_given_boxes is for inference: call model.eval() first")
        if not (instances[0].has("pred_boxes") and instances[0].has("pred_classes")):
            raise ValueError("forward_with_given_boxes: instances need 'pred_boxes' and 'pred_classes'")

    def forward(
        self,
        images: ImageList,
        features: dict[str, torch.Tensor],
        proposals: list[Instances],
        targets: list[Instances] | None = None,
    ) -> tuple[list[Instances], dict[str, torch.Tensor]]:
        """
        Args:
            images: the batch (most heads do not use it).
            features: feature maps by name, each (N, C, H, W).
            proposals: per image, ``proposal_boxes`` and ``objectness_logits``.
            targets: per image, the ground truth (``gt_boxes``, ``gt_classes``, ``gt_masks``,
                ``gt_keypoints``); training only.

        Returns:
            The detected instances per image (inference; may be empty in training) and the
            dict of losses (training).
        """
        raise NotImplementedError


class Res5ROIHeads(ROIHeads):
    """The ROI heads of a "C4" R-CNN: box and mask heads share the crop and a res5 stage run per region
    (ResNet paper, Appendix A)."""

    box_predictor: Any  # FastRCNNOutputLayers or alike (duck-typed, as in detectron2)
    mask_head: nn.Module  # only with mask_on

    @configurable
    def __init__(
        self,
        *,
        in_features: list[str],
        pooler: ROIPooler,
        res5: nn.Module,
        box_predictor: nn.Module,
        mask_head: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            in_features: the one feature map to crop from.
            pooler: crops region features.
            res5: the per-region network (typically ResNet's res5 stage) shared by the heads.
            box_predictor: :class:`FastRCNNOutputLayers` or alike.
            mask_head: optional mask head on the res5 features.
        """
        super().__init__(**kwargs)
        self.in_features = in_features
        self.pooler = pooler
        if isinstance(res5, (list, tuple)):
            res5 = nn.Sequential(*res5)
        self.res5 = res5
        self.box_predictor = box_predictor
        self.mask_on = mask_head is not None
        if mask_head is not None:
            self.mask_head = mask_head

    @classmethod
    def from_config(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:  # type: ignore[override]  # detectron2's from_config: subclasses also take input_shape
        ret = super().from_config(cfg)
        in_features = ret["in_features"] = list(cfg.MODEL.ROI_HEADS.IN_FEATURES)
        pooler_resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
        if cfg.MODEL.KEYPOINT_ON:
            raise ValueError("Res5ROIHeads has no keypoint head: MODEL.KEYPOINT_ON must be False")
        if len(in_features) != 1:
            raise ValueError(f"Res5ROIHeads crops from one feature map, MODEL.ROI_HEADS.IN_FEATURES is {in_features}")
        if in_features[0] not in input_shape:
            raise KeyError(
                f"MODEL.ROI_HEADS.IN_FEATURES names {in_features[0]!r}, the backbone outputs {sorted(input_shape)}"
            )

        ret["pooler"] = _build_pooler(cfg.MODEL.ROI_BOX_HEAD, input_shape, in_features)

        # Subclasses written against older detectron2 may define _build_res5_block as a plain method.
        if not inspect.ismethod(cls._build_res5_block):
            logger.warning("The behavior of _build_res5_block may change. Please do not depend on private methods.")
            cls._build_res5_block = classmethod(cls._build_res5_block)  # type: ignore[method-assign,assignment]  # the old plain-method form, wrapped

        ret["res5"], out_channels = cls._build_res5_block(cfg)
        ret["box_predictor"] = FastRCNNOutputLayers(cfg, ShapeSpec(channels=out_channels, height=1, width=1))

        if cfg.MODEL.MASK_ON:
            ret["mask_head"] = build_mask_head(
                cfg, ShapeSpec(channels=out_channels, width=pooler_resolution, height=pooler_resolution)
            )
        return ret

    @classmethod
    def _build_res5_block(cls, cfg: Any) -> tuple[nn.Module, int]:
        resnets = cfg.MODEL.RESNETS
        stage_channel_factor = 2**3  # res5 has 8x the channels of res2
        num_groups = resnets.NUM_GROUPS
        bottleneck_channels = num_groups * resnets.WIDTH_PER_GROUP * stage_channel_factor
        out_channels = resnets.RES2_OUT_CHANNELS * stage_channel_factor
        if resnets.DEFORM_ON_PER_STAGE[-1]:
            raise ValueError(
                "Deformable conv is not supported in the res5 ROI head (MODEL.RESNETS.DEFORM_ON_PER_STAGE)"
            )

        blocks = ResNet.make_stage(
            BottleneckBlock,
            3,
            stride_per_block=[2, 1, 1],
            in_channels=out_channels // 2,
            bottleneck_channels=bottleneck_channels,
            out_channels=out_channels,
            num_groups=num_groups,
            norm=resnets.NORM,
            stride_in_1x1=resnets.STRIDE_IN_1X1,
        )
        return nn.Sequential(*blocks), out_channels

    def _shared_roi_transform(self, features: list[torch.Tensor], boxes: list[Boxes]) -> torch.Tensor:
        x = self.pooler(features, boxes)
        return self.res5(x)

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
        del targets

        proposal_boxes = [x.proposal_boxes for x in proposals]
        box_features = self._shared_roi_transform([features[f] for f in self.in_features], proposal_boxes)
        predictions = self.box_predictor(box_features.mean(dim=[2, 3]))

        if self.training:
            del features
            losses = self.box_predictor.losses(predictions, proposals)
            if self.mask_on:
                proposals, fg_selection_masks = select_foreground_proposals(proposals, self.num_classes)
                # The crop and res5 are shared: reuse the foreground rows of the box features.
                mask_features = box_features[torch.cat(fg_selection_masks, dim=0)]
                del box_features
                losses.update(self.mask_head(mask_features, proposals))
            return [], losses
        pred_instances, _ = self.box_predictor.inference(predictions, proposals)
        pred_instances = self.forward_with_given_boxes(features, pred_instances)
        return pred_instances, {}

    def forward_with_given_boxes(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> list[Instances]:
        """Add the non-box outputs (``pred_masks``) for the given ``pred_boxes``/``pred_classes``."""
        self._check_given_boxes(instances)

        if self.mask_on:
            feature_list = [features[f] for f in self.in_features]
            x = self._shared_roi_transform(feature_list, [x.pred_boxes for x in instances])
            return self.mask_head(x, instances)
        return instances


class StandardROIHeads(ROIHeads):
    """Each head (box, mask, keypoint) has its own pooler and network; nothing is shared between tasks.

    Used by most models (FPN, C5). Subclass it to change ``forward`` or one of the heads.
    """

    box_predictor: Any  # FastRCNNOutputLayers or alike (duck-typed, as in detectron2)
    # Only with mask_on / keypoint_on:
    mask_in_features: list[str]
    mask_pooler: ROIPooler | None
    mask_head: nn.Module
    keypoint_in_features: list[str]
    keypoint_pooler: ROIPooler | None
    keypoint_head: nn.Module

    @configurable
    def __init__(
        self,
        *,
        box_in_features: list[str],
        box_pooler: ROIPooler,
        box_head: nn.Module,
        box_predictor: nn.Module,
        mask_in_features: list[str] | None = None,
        mask_pooler: ROIPooler | None = None,
        mask_head: nn.Module | None = None,
        keypoint_in_features: list[str] | None = None,
        keypoint_pooler: ROIPooler | None = None,
        keypoint_head: nn.Module | None = None,
        train_on_pred_boxes: bool = False,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            box_in_features: feature maps the box head crops from.
            box_pooler: crops region features for the box head.
            box_head: region features -> box features.
            box_predictor: box features -> scores and deltas (:class:`FastRCNNOutputLayers`).
            mask_in_features: feature maps of the mask head; None without a mask head.
            mask_pooler: crops region features for the mask head; None to hand the mask head
                the feature maps themselves.
            mask_head: the mask head.
            keypoint_in_features, keypoint_pooler, keypoint_head: as for the mask.
            train_on_pred_boxes: train the mask/keypoint heads on the box head's predicted boxes
                rather than on the proposals.
        """
        super().__init__(**kwargs)
        # self.in_features is kept for backward compatibility.
        self.in_features = self.box_in_features = box_in_features
        self.box_pooler = box_pooler
        self.box_head = box_head
        self.box_predictor = box_predictor

        self.mask_on = mask_in_features is not None
        if mask_in_features is not None:
            if mask_head is None:
                raise ValueError("StandardROIHeads: mask_in_features is set but mask_head is None")
            self.mask_in_features = mask_in_features
            self.mask_pooler = mask_pooler
            self.mask_head = mask_head

        self.keypoint_on = keypoint_in_features is not None
        if keypoint_in_features is not None:
            if keypoint_head is None:
                raise ValueError("StandardROIHeads: keypoint_in_features is set but keypoint_head is None")
            self.keypoint_in_features = keypoint_in_features
            self.keypoint_pooler = keypoint_pooler
            self.keypoint_head = keypoint_head

        self.train_on_pred_boxes = train_on_pred_boxes

    @classmethod
    def from_config(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:  # type: ignore[override]  # detectron2's from_config: subclasses also take input_shape
        ret = super().from_config(cfg)
        ret["train_on_pred_boxes"] = cfg.MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES
        missing = [f for f in cfg.MODEL.ROI_HEADS.IN_FEATURES if f not in input_shape]
        if missing:
            raise KeyError(
                f"MODEL.ROI_HEADS.IN_FEATURES names {missing}, which the backbone does not output "
                f"(it outputs {sorted(input_shape)})"
            )
        # Subclasses written before from_config may override _init_*_head as plain methods; those
        # are not bound here and the subclass calls them itself.
        if inspect.ismethod(cls._init_box_head):
            ret.update(cls._init_box_head(cfg, input_shape))
        if inspect.ismethod(cls._init_mask_head):
            ret.update(cls._init_mask_head(cfg, input_shape))
        if inspect.ismethod(cls._init_keypoint_head):
            ret.update(cls._init_keypoint_head(cfg, input_shape))
        return ret

    @classmethod
    def _init_box_head(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        in_features, box_pooler, pooled_shape = _init_box_pooler(cfg, input_shape)
        # "box head" and "box predictor" are split for historical reasons.
        box_head = build_box_head(cfg, pooled_shape)
        box_predictor = FastRCNNOutputLayers(cfg, box_head.output_shape)
        return {
            "box_in_features": in_features,
            "box_pooler": box_pooler,
            "box_head": box_head,
            "box_predictor": box_predictor,
        }

    @classmethod
    def _init_mask_head(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        if not cfg.MODEL.MASK_ON:
            return {}
        return _init_pooled_head(cfg, input_shape, cfg.MODEL.ROI_MASK_HEAD, "mask", build_mask_head)

    @classmethod
    def _init_keypoint_head(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        if not cfg.MODEL.KEYPOINT_ON:
            return {}
        return _init_pooled_head(cfg, input_shape, cfg.MODEL.ROI_KEYPOINT_HEAD, "keypoint", build_keypoint_head)

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
        del targets

        # Each branch returns its losses in training, its instances in inference.
        if self.training:
            losses = cast(dict[str, torch.Tensor], self._forward_box(features, proposals))
            # With train_on_pred_boxes, _forward_box replaced the proposal boxes by predicted ones.
            losses.update(cast(dict[str, torch.Tensor], self._forward_mask(features, proposals)))
            losses.update(cast(dict[str, torch.Tensor], self._forward_keypoint(features, proposals)))
            return proposals, losses
        pred_instances = cast(list[Instances], self._forward_box(features, proposals))
        # Cascaded inference: masks and keypoints only for the final detections.
        pred_instances = self.forward_with_given_boxes(features, pred_instances)
        return pred_instances, {}

    def forward_with_given_boxes(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> list[Instances]:
        """Add ``pred_masks`` / ``pred_keypoints`` for given ``pred_boxes`` and ``pred_classes``
        (used by test-time augmentation and for known boxes)."""
        self._check_given_boxes(instances)

        # Inference only (checked above): the branches return instances.
        instances = cast(list[Instances], self._forward_mask(features, instances))
        instances = cast(list[Instances], self._forward_keypoint(features, instances))
        return instances

    def _forward_box(
        self, features: dict[str, torch.Tensor], proposals: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """The box branch: losses in training, detections in inference.

        With ``train_on_pred_boxes`` in training, the proposals' ``proposal_boxes`` are replaced in
        place by the boxes predicted for their gt classes.
        """
        feature_list = [features[f] for f in self.box_in_features]
        box_features = self.box_pooler(feature_list, [x.proposal_boxes for x in proposals])
        box_features = self.box_head(box_features)
        predictions = self.box_predictor(box_features)
        del box_features

        if self.training:
            losses = self.box_predictor.losses(predictions, proposals)
            # The proposals change in place below, so the losses come first.
            if self.train_on_pred_boxes:
                with torch.no_grad():
                    pred_boxes = self.box_predictor.predict_boxes_for_gt_classes(predictions, proposals)
                    for proposals_per_image, pred_boxes_per_image in zip(proposals, pred_boxes):
                        proposals_per_image.proposal_boxes = Boxes(pred_boxes_per_image)
            return losses
        pred_instances, _ = self.box_predictor.inference(predictions, proposals)
        return pred_instances

    def _forward_mask(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """The mask branch: losses on the foreground proposals in training; ``pred_masks`` added to
        ``instances`` in inference."""
        if not self.mask_on:
            return {} if self.training else instances

        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
        return self._run_instance_head(features, instances, self.mask_in_features, self.mask_pooler, self.mask_head)

    def _forward_keypoint(
        self, features: dict[str, torch.Tensor], instances: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """The keypoint branch: losses on foreground proposals with a visible keypoint in training;
        ``pred_keypoints`` added to ``instances`` in inference."""
        if not self.keypoint_on:
            return {} if self.training else instances

        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
            instances = select_proposals_with_visible_keypoints(instances)
        return self._run_instance_head(
            features, instances, self.keypoint_in_features, self.keypoint_pooler, self.keypoint_head
        )

    def _run_instance_head(
        self,
        features: dict[str, torch.Tensor],
        instances: list[Instances],
        in_features: list[str],
        pooler: ROIPooler | None,
        head: nn.Module,
    ) -> dict[str, torch.Tensor] | list[Instances]:
        """Crop the boxes (proposals in training, predictions in inference) and run a mask/keypoint head;
        without a pooler the head gets the feature maps themselves."""
        if pooler is None:
            return head({f: features[f] for f in in_features}, instances)
        boxes = [x.proposal_boxes if self.training else x.pred_boxes for x in instances]
        return head(pooler([features[f] for f in in_features], boxes), instances)


def _build_pooler(head_cfg: Any, input_shape: dict[str, ShapeSpec], in_features: list[str]) -> ROIPooler:
    """An ROIPooler over ``in_features`` with the POOLER_* settings of a head's config section."""
    return ROIPooler(
        output_size=head_cfg.POOLER_RESOLUTION,
        scales=tuple(
            1.0 / required_size(input_shape[k].stride, f"ROIPooler: stride of feature {k!r}") for k in in_features
        ),
        sampling_ratio=head_cfg.POOLER_SAMPLING_RATIO,
        pooler_type=head_cfg.POOLER_TYPE,
    )


def _init_box_pooler(cfg: Any, input_shape: dict[str, ShapeSpec]) -> tuple[list[str], ROIPooler, ShapeSpec]:
    """The box branch's input features, its pooler, and the shape of the pooled region features."""
    in_features = list(cfg.MODEL.ROI_HEADS.IN_FEATURES)
    # One box head serves every level (FPN), so every level must have the same channels.
    channels = [input_shape[f].channels for f in in_features]
    if len(set(channels)) != 1:
        raise ValueError(
            f"MODEL.ROI_HEADS.IN_FEATURES {in_features} have different channel counts {channels}; "
            "one shared ROI head needs them equal"
        )
    resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
    pooler = _build_pooler(cfg.MODEL.ROI_BOX_HEAD, input_shape, in_features)
    return in_features, pooler, ShapeSpec(channels=channels[0], height=resolution, width=resolution)


def _init_pooled_head(
    cfg: Any, input_shape: dict[str, ShapeSpec], head_cfg: Any, prefix: str, build_head: Any
) -> dict[str, Any]:
    """``{prefix}_in_features``, ``{prefix}_pooler`` and ``{prefix}_head`` for the mask or keypoint head.

    An empty POOLER_TYPE means no pooler: the head then receives the feature maps themselves.
    """
    in_features = list(cfg.MODEL.ROI_HEADS.IN_FEATURES)
    pooler_resolution = head_cfg.POOLER_RESOLUTION
    in_channels = input_shape[in_features[0]].channels

    ret: dict[str, Any] = {f"{prefix}_in_features": in_features}
    if head_cfg.POOLER_TYPE:
        ret[f"{prefix}_pooler"] = _build_pooler(head_cfg, input_shape, in_features)
        shape: Any = ShapeSpec(channels=in_channels, width=pooler_resolution, height=pooler_resolution)
    else:
        ret[f"{prefix}_pooler"] = None
        shape = {f: input_shape[f] for f in in_features}
    ret[f"{prefix}_head"] = build_head(cfg, shape)
    return ret
