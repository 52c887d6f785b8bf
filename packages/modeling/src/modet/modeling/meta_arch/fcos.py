"""FCOS (:paper:`fcos`): an anchor-free dense detector with a centerness branch.

Each location of each feature level is one "anchor point", represented by a square box of
the level's stride. A point is positive for a ground-truth box when it lies inside the box,
within ``center_sampling_radius`` strides of its centre, and the box's largest distance from
the point falls in the level's size range; among several such boxes it takes the smallest.
Box regression predicts the four distances to the box's sides, divided by the stride.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from modet.core.events import get_event_storage
from modet.ops import Conv2d, ShapeSpec, batched_nms, sigmoid_focal_loss_jit
from modet.structures import Boxes, ImageList, Instances, pairwise_point_box_distance

from ..anchor_generator import DefaultAnchorGenerator
from ..backbone import Backbone
from ..box_regression import Box2BoxTransformLinear, _dense_box_regression_loss
from .dense_detector import DenseDetector
from .retinanet import RetinaNetHead

__all__ = ["FCOS", "FCOSHead"]

# A point's match quality to a box is 1e8 - area (higher for smaller boxes), 0 for no match.
_MATCH_SCALE = 1e8


class FCOS(DenseDetector):
    """FCOS: sigmoid focal classification, GIoU box regression and a centerness branch on an FPN."""

    def __init__(
        self,
        *,
        backbone: Backbone,
        head: nn.Module,
        head_in_features: list[str] | None = None,
        box2box_transform: Box2BoxTransformLinear | None = None,
        num_classes: int,
        center_sampling_radius: float = 1.5,
        focal_loss_alpha: float = 0.25,
        focal_loss_gamma: float = 2.0,
        test_score_thresh: float = 0.2,
        test_topk_candidates: int = 1000,
        test_nms_thresh: float = 0.6,
        max_detections_per_image: int = 100,
        pixel_mean: list[float],
        pixel_std: list[float],
    ) -> None:
        """
        Args:
            head: predicts per level logits (N, K, Hi, Wi), box distances (N, 4, Hi, Wi) and
                centerness logits (N, 1, Hi, Wi), like :class:`FCOSHead`.
            box2box_transform: defaults to :class:`Box2BoxTransformLinear` normalised by the stride.
            center_sampling_radius: a positive point lies within this many strides of the box centre.
            test_score_thresh: applies to sqrt(class probability * centerness).
            Other arguments are :class:`RetinaNet`'s.
        """
        super().__init__(backbone, head, head_in_features, pixel_mean=pixel_mean, pixel_std=pixel_std)
        self.num_classes = num_classes
        shapes = backbone.output_shape()
        missing = [f for f in self.head_in_features if f not in shapes]
        if missing:
            raise ValueError(f"FCOS head_in_features {missing} are not backbone outputs (it has {sorted(shapes)})")
        strides = [shapes[f].stride for f in self.head_in_features]
        # One anchor point per location: a square box as large as the stride.
        self.anchor_generator = DefaultAnchorGenerator(
            sizes=[[s] for s in strides], aspect_ratios=[1.0], strides=strides
        )
        self.box2box_transform = box2box_transform or Box2BoxTransformLinear(normalize_by_size=True)
        self.center_sampling_radius = float(center_sampling_radius)
        self.focal_loss_alpha = focal_loss_alpha
        self.focal_loss_gamma = focal_loss_gamma
        self.test_score_thresh = test_score_thresh
        self.test_topk_candidates = test_topk_candidates
        self.test_nms_thresh = test_nms_thresh
        self.max_detections_per_image = max_detections_per_image

    def forward_training(
        self, images: ImageList, features: list[Tensor], predictions: list[list[Tensor]], gt_instances: list[Instances]
    ) -> dict[str, Tensor]:
        pred_logits, pred_anchor_deltas, pred_centerness = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4, 1]
        )
        anchors = self.anchor_generator(features)
        gt_labels, gt_boxes = self.label_anchors(anchors, gt_instances)
        return self.losses(anchors, pred_logits, gt_labels, pred_anchor_deltas, gt_boxes, pred_centerness)

    @torch.no_grad()
    def _match_anchors(self, gt_boxes: Boxes, anchors: list[Boxes]) -> Tensor:
        """(M, R) match quality of M ground-truth boxes and the R anchor points of all levels;
        0 where a point may not take the box, larger for smaller boxes elsewhere."""
        num_anchors_per_level = [len(x) for x in anchors]
        all_anchors = Boxes.cat(anchors)
        anchor_centers = all_anchors.get_centers()  # (R, 2)
        anchor_sizes = all_anchors.tensor[:, 2] - all_anchors.tensor[:, 0]  # (R,): the strides

        # Level i takes boxes whose largest centre-to-side distance lies in (4 s_i, 8 s_i); the
        # first level has no lower bound and the last no upper one.
        lower_bound = anchor_sizes * 4
        lower_bound[: num_anchors_per_level[0]] = 0
        upper_bound = anchor_sizes * 8
        upper_bound[-num_anchors_per_level[-1] :] = float("inf")

        # Centre sampling: the point lies within radius * stride of the box centre.
        center_dists = (anchor_centers[None, :, :] - gt_boxes.get_centers()[:, None, :]).abs_()
        match_quality_matrix = center_dists.max(dim=2).values < self.center_sampling_radius * anchor_sizes[None, :]

        pairwise_dist = pairwise_point_box_distance(anchor_centers, gt_boxes).permute(1, 0, 2)  # (M, R, 4)
        match_quality_matrix &= pairwise_dist.min(dim=2).values > 0  # the point is inside the box
        pairwise_dist = pairwise_dist.max(dim=2).values
        match_quality_matrix &= (pairwise_dist > lower_bound[None, :]) & (pairwise_dist < upper_bound[None, :])

        match_quality_matrix = match_quality_matrix.to(torch.float32)
        match_quality_matrix *= _MATCH_SCALE - gt_boxes.area()[:, None]
        return match_quality_matrix

    @torch.no_grad()
    def label_anchors(self, anchors: list[Boxes], gt_instances: list[Instances]) -> tuple[list[Tensor], list[Tensor]]:
        """Per image: each point's class in [0, K] (K: background; FCOS ignores no point) and its
        matched gt box (R, 4), meaningless for background."""
        gt_labels, matched_gt_boxes = [], []
        for inst in gt_instances:
            if len(inst) > 0:
                match_quality, matched_idxs = self._match_anchors(inst.gt_boxes, anchors).max(dim=0)
                # A point matched to nothing (quality 0) is background: Matcher([1e-5], [0, 1]).
                matched_idxs[match_quality < 1e-5] = -1
                matched_gt_boxes_i = inst.gt_boxes.tensor[matched_idxs.clip(min=0)]
                gt_labels_i = inst.gt_classes[matched_idxs.clip(min=0)]
                gt_labels_i[matched_idxs < 0] = self.num_classes
            else:
                matched_gt_boxes_i = torch.zeros_like(Boxes.cat(anchors).tensor)
                gt_labels_i = torch.full(
                    (len(matched_gt_boxes_i),), self.num_classes, dtype=torch.long, device=matched_gt_boxes_i.device
                )
            gt_labels.append(gt_labels_i)
            matched_gt_boxes.append(matched_gt_boxes_i)
        return gt_labels, matched_gt_boxes

    def losses(
        self,
        anchors: list[Boxes],
        pred_logits: list[Tensor],
        gt_labels: list[Tensor],
        pred_anchor_deltas: list[Tensor],
        gt_boxes: list[Tensor],
        pred_centerness: list[Tensor],
    ) -> dict[str, Tensor]:
        """``loss_fcos_cls`` (sigmoid focal), ``loss_fcos_loc`` (GIoU) and ``loss_fcos_ctr`` (BCE of
        centerness on positives), each over the EMA of the number of positive points."""
        num_images = len(gt_labels)
        gt_labels_all = torch.stack(gt_labels)  # (N, R)
        pos_mask = (gt_labels_all >= 0) & (gt_labels_all != self.num_classes)
        num_pos_anchors = pos_mask.sum().item()
        get_event_storage().put_scalar("num_pos_anchors", num_pos_anchors / num_images)
        normalizer = self._ema_update("loss_normalizer", max(num_pos_anchors, 1), 300)

        # The background column of the one-hot target is dropped: it gets no classification loss.
        gt_labels_target = F.one_hot(gt_labels_all, num_classes=self.num_classes + 1)[:, :, :-1]
        loss_cls = sigmoid_focal_loss_jit(
            torch.cat(pred_logits, dim=1),
            gt_labels_target.to(pred_logits[0].dtype),
            alpha=self.focal_loss_alpha,
            gamma=self.focal_loss_gamma,
            reduction="sum",
        )
        loss_box_reg = _dense_box_regression_loss(
            anchors, self.box2box_transform, pred_anchor_deltas, gt_boxes, pos_mask, box_reg_loss_type="giou"
        )
        ctrness_targets = self.compute_ctrness_targets(anchors, gt_boxes)  # (N, R)
        centerness_logits = torch.cat(pred_centerness, dim=1).squeeze(dim=2)  # (N, R)
        ctrness_loss = F.binary_cross_entropy_with_logits(
            centerness_logits[pos_mask], ctrness_targets[pos_mask], reduction="sum"
        )
        return {
            "loss_fcos_cls": loss_cls / normalizer,
            "loss_fcos_loc": loss_box_reg / normalizer,
            "loss_fcos_ctr": ctrness_loss / normalizer,
        }

    def compute_ctrness_targets(self, anchors: list[Boxes], gt_boxes: list[Tensor]) -> Tensor:
        """(N, R) centerness sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) of each point in its gt box."""
        anchor_tensor = Boxes.cat(anchors).tensor
        reg_targets = torch.stack([self.box2box_transform.get_deltas(anchor_tensor, m) for m in gt_boxes], dim=0)
        if len(reg_targets) == 0:
            return reg_targets.new_zeros(len(reg_targets))
        left_right = reg_targets[:, :, [0, 2]]
        top_bottom = reg_targets[:, :, [1, 3]]
        ctrness = (left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0]) * (
            top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0]
        )
        return torch.sqrt(ctrness)

    def forward_inference(
        self, images: ImageList, features: list[Tensor], predictions: list[list[Tensor]]
    ) -> list[Instances]:
        pred_logits, pred_anchor_deltas, pred_centerness = self._transpose_dense_predictions(
            predictions, [self.num_classes, 4, 1]
        )
        anchors = self.anchor_generator(features)
        results: list[Instances] = []
        for img_idx, image_size in enumerate(images.image_sizes):
            # Score = sqrt(class probability * centerness), eqn. 4 of arXiv:2006.09214.
            scores_per_image = [
                torch.sqrt(x[img_idx].sigmoid_() * y[img_idx].sigmoid_()) for x, y in zip(pred_logits, pred_centerness)
            ]
            deltas_per_image = [x[img_idx] for x in pred_anchor_deltas]
            results.append(self.inference_single_image(anchors, scores_per_image, deltas_per_image, image_size))
        return results

    def inference_single_image(
        self, anchors: list[Boxes], box_cls: list[Tensor], box_delta: list[Tensor], image_size: tuple[int, int]
    ) -> Instances:
        """As :meth:`RetinaNet.inference_single_image`: per-level threshold and top-k, decode, class-wise NMS."""
        pred = self._decode_multi_level_predictions(
            anchors, box_cls, box_delta, self.test_score_thresh, self.test_topk_candidates, image_size
        )
        keep = batched_nms(pred.pred_boxes.tensor, pred.scores, pred.pred_classes, self.test_nms_thresh)
        return pred[keep[: self.max_detections_per_image]]


class FCOSHead(RetinaNetHead):
    """:class:`RetinaNetHead` with one anchor per location and a centerness conv on the box tower.

    No learnable per-level scale (unlike the original FCOS): regression targets are already
    divided by the stride.
    """

    def __init__(self, *, input_shape: list[ShapeSpec], conv_dims: list[int], **kwargs: object) -> None:
        """The arguments of :class:`RetinaNetHead` except ``num_anchors`` (always 1)."""
        super().__init__(input_shape=input_shape, conv_dims=conv_dims, num_anchors=1, **kwargs)
        self._num_features = len(input_shape)
        self.ctrness = Conv2d(conv_dims[-1], 1, kernel_size=3, stride=1, padding=1, winograd=True)
        nn.init.normal_(self.ctrness.weight, std=0.01)
        if self.ctrness.bias is not None:
            nn.init.constant_(self.ctrness.bias, 0)

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Per level: logits (N, K, Hi, Wi), box distances (N, 4, Hi, Wi), centerness logits (N, 1, Hi, Wi)."""
        if len(features) != self._num_features:
            raise ValueError(f"FCOSHead was built for {self._num_features} feature levels, got {len(features)}")
        logits, bbox_reg, ctrness = [], [], []
        for feature in features:
            logits.append(self.cls_score(self.cls_subnet(feature)))
            bbox_feature = self.bbox_subnet(feature)
            bbox_reg.append(self.bbox_pred(bbox_feature))
            ctrness.append(self.ctrness(bbox_feature))
        return logits, bbox_reg, ctrness
