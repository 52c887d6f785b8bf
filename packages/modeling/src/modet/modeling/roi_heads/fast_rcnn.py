"""Fast R-CNN box predictor: class scores and box deltas per region, their losses and inference.

Shapes: N images, R regions over the batch, Ri regions in image i, K foreground classes.
``gt_classes`` lie in [0, K], K being background; -1 marks an ignored region.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from modet.core.config import configurable
from modet.core.events import get_event_storage
from modet.ops import ShapeSpec, batched_nms, cat, cross_entropy, is_exporting, nonzero_tuple
from modet.structures import Boxes, Instances

from ..backbone.backbone import required_size
from ..box_regression import Box2BoxTransform, _dense_box_regression_loss
from .per_image import split_per_image

__all__ = ["FastRCNNOutputLayers", "fast_rcnn_inference", "fast_rcnn_inference_single_image"]

logger = logging.getLogger(__name__)


def fast_rcnn_inference(
    boxes: list[torch.Tensor] | tuple[torch.Tensor, ...],
    scores: list[torch.Tensor] | tuple[torch.Tensor, ...],
    image_shapes: list[tuple[int, int]],
    score_thresh: float,
    nms_thresh: float,
    topk_per_image: int,
) -> tuple[list[Instances], list[torch.Tensor]]:
    """Threshold, per-class NMS and top-k for every image of a batch.

    Args:
        boxes: per image, (Ri, K*4) class-specific or (Ri, 4) class-agnostic boxes.
        scores: per image, (Ri, K+1) class probabilities, background last.
        image_shapes: per image, (height, width) to clip boxes to.
        score_thresh: keep detections scoring strictly above this.
        nms_thresh: IoU threshold of the per-class NMS.
        topk_per_image: keep at most this many detections per image; < 0 keeps all.

    Returns:
        The detections per image (``pred_boxes``, ``scores``, ``pred_classes``), and per image
        the index in [0, Ri) of the region each detection came from.
    """
    if not (len(boxes) == len(scores) == len(image_shapes)):
        raise ValueError(
            f"fast_rcnn_inference: boxes, scores and image_shapes must have one entry per image, "
            f"got {len(boxes)}, {len(scores)} and {len(image_shapes)}"
        )
    result_per_image = [
        fast_rcnn_inference_single_image(
            boxes_per_image, scores_per_image, image_shape, score_thresh, nms_thresh, topk_per_image
        )
        for scores_per_image, boxes_per_image, image_shape in zip(scores, boxes, image_shapes)
    ]
    return [x[0] for x in result_per_image], [x[1] for x in result_per_image]


def _log_classification_stats(pred_logits: torch.Tensor, gt_classes: torch.Tensor, prefix: str = "fast_rcnn") -> None:
    """Put ``{prefix}/cls_accuracy``, ``fg_cls_accuracy`` and ``false_negative`` into the EventStorage."""
    num_instances = gt_classes.numel()
    if num_instances == 0:
        return
    pred_classes = pred_logits.argmax(dim=1)
    bg_class_ind = pred_logits.shape[1] - 1

    fg_inds = (gt_classes >= 0) & (gt_classes < bg_class_ind)
    num_fg = int(fg_inds.sum().item())
    fg_gt_classes = gt_classes[fg_inds]
    fg_pred_classes = pred_classes[fg_inds]

    num_false_negative = int((fg_pred_classes == bg_class_ind).sum().item())
    num_accurate = int((pred_classes == gt_classes).sum().item())
    fg_num_accurate = int((fg_pred_classes == fg_gt_classes).sum().item())

    storage = get_event_storage()
    storage.put_scalar(f"{prefix}/cls_accuracy", num_accurate / num_instances)
    if num_fg > 0:
        storage.put_scalar(f"{prefix}/fg_cls_accuracy", fg_num_accurate / num_fg)
        storage.put_scalar(f"{prefix}/false_negative", num_false_negative / num_fg)


def fast_rcnn_inference_single_image(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_shape: tuple[int, int],
    score_thresh: float,
    nms_thresh: float,
    topk_per_image: int,
) -> tuple[Instances, torch.Tensor]:
    """:func:`fast_rcnn_inference` for one image."""
    if boxes.dim() != 2 or boxes.shape[1] % 4 != 0 or scores.dim() != 2 or boxes.shape[0] != scores.shape[0]:
        raise ValueError(
            "fast_rcnn_inference_single_image: expected boxes (R, 4) or (R, K*4) and scores (R, K+1) "
            f"with the same R, got boxes {tuple(boxes.shape)} and scores {tuple(scores.shape)}"
        )
    # Regions whose boxes or scores are inf/nan (a diverged model) are dropped, not propagated.
    valid_mask = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
    if is_exporting() or not valid_mask.all():  # no data-dependent branch in an exported graph
        boxes = boxes[valid_mask]
        scores = scores[valid_mask]

    scores = scores[:, :-1]
    num_bbox_reg_classes = boxes.shape[1] // 4
    if num_bbox_reg_classes not in (1, scores.shape[1]):
        raise ValueError(
            f"fast_rcnn_inference_single_image: boxes have {num_bbox_reg_classes} classes but scores "
            f"have {scores.shape[1]} foreground classes"
        )
    clipped = Boxes(boxes.reshape(-1, 4))
    clipped.clip(image_shape)
    boxes = clipped.tensor.view(-1, num_bbox_reg_classes, 4)  # R x C x 4

    # Filter by score first: it makes NMS cheaper. filter_inds rows are (region, class).
    filter_mask = scores > score_thresh  # R x K
    filter_inds = filter_mask.nonzero()
    boxes = boxes[filter_inds[:, 0], 0] if num_bbox_reg_classes == 1 else boxes[filter_mask]
    scores = scores[filter_mask]

    keep = batched_nms(boxes, scores, filter_inds[:, 1], nms_thresh)
    if topk_per_image >= 0:
        keep = keep[:topk_per_image]
    boxes, scores, filter_inds = boxes[keep], scores[keep], filter_inds[keep]

    result = Instances(image_shape)
    result.pred_boxes = Boxes(boxes)
    result.scores = scores
    result.pred_classes = filter_inds[:, 1]
    return result, filter_inds[:, 0]


def _default_fed_loss_cls_weights(cfg: Any) -> Callable[[], torch.Tensor]:
    """detectron2's default: class frequencies of ``cfg.DATASETS.TRAIN`` (needs modet-data)."""

    def load() -> torch.Tensor:
        try:
            from modet.data.detection_utils import get_fed_loss_cls_weights  # the `fed-loss` extra
        except ImportError as exc:
            raise ImportError(
                "MODEL.ROI_BOX_HEAD.USE_FED_LOSS needs class frequencies from modet-data "
                "(modet.data.detection_utils.get_fed_loss_cls_weights): install modet-data, or build "
                "FastRCNNOutputLayers with get_fed_loss_cls_weights=<callable returning a (K,) tensor>"
            ) from exc
        return get_fed_loss_cls_weights(
            dataset_names=cfg.DATASETS.TRAIN,
            freq_weight_power=cfg.MODEL.ROI_BOX_HEAD.FED_LOSS_FREQ_WEIGHT_POWER,
        )

    return load


class FastRCNNOutputLayers(nn.Module):
    """Two linear layers: K+1 classification logits and (K or 1) x 4 box regression deltas."""

    fed_loss_cls_weights: torch.Tensor  # a buffer, with use_fed_loss only

    @configurable
    def __init__(
        self,
        input_shape: ShapeSpec | int,
        *,
        box2box_transform: Box2BoxTransform,
        num_classes: int,
        test_score_thresh: float = 0.0,
        test_nms_thresh: float = 0.5,
        test_topk_per_image: int = 100,
        cls_agnostic_bbox_reg: bool = False,
        smooth_l1_beta: float = 0.0,
        box_reg_loss_type: str = "smooth_l1",
        loss_weight: float | dict[str, float] = 1.0,
        use_fed_loss: bool = False,
        use_sigmoid_ce: bool = False,
        get_fed_loss_cls_weights: Callable[[], torch.Tensor] | None = None,
        fed_loss_num_classes: int = 50,
    ) -> None:
        """
        Args:
            input_shape: shape of the per-region features (flattened here).
            box2box_transform: encodes/decodes the box deltas.
            num_classes: number of foreground classes.
            test_score_thresh, test_nms_thresh, test_topk_per_image: inference filtering.
            cls_agnostic_bbox_reg: one set of deltas for all classes.
            smooth_l1_beta: L1/L2 transition of the smooth-L1 loss (0 is L1).
            box_reg_loss_type: "smooth_l1", "giou", "diou" or "ciou".
            loss_weight: one weight for all losses, or a dict per loss name
                ("loss_cls", "loss_box_reg").
            use_fed_loss: federated loss (needs ``use_sigmoid_ce``): the classification loss is
                computed on the gt classes plus sampled negative classes only.
            use_sigmoid_ce: per-class binary cross entropy instead of softmax cross entropy.
            get_fed_loss_cls_weights: called once, returns (K,) weights (class frequencies) to
                sample the negative classes of the federated loss.
            fed_loss_num_classes: number of classes the federated loss keeps.
        """
        super().__init__()
        if isinstance(input_shape, int):  # backward compatibility
            input_shape = ShapeSpec(channels=input_shape)
        self.num_classes = num_classes
        channels = required_size(input_shape.channels, "FastRCNNOutputLayers: input_shape.channels")
        input_size = channels * (input_shape.width or 1) * (input_shape.height or 1)
        # num_classes foreground classes plus one background class.
        self.cls_score = nn.Linear(input_size, num_classes + 1)
        num_bbox_reg_classes = 1 if cls_agnostic_bbox_reg else num_classes
        box_dim = len(box2box_transform.weights)
        self.bbox_pred = nn.Linear(input_size, num_bbox_reg_classes * box_dim)

        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        for layer in [self.cls_score, self.bbox_pred]:
            nn.init.constant_(layer.bias, 0)

        self.box2box_transform = box2box_transform
        self.smooth_l1_beta = smooth_l1_beta
        self.test_score_thresh = test_score_thresh
        self.test_nms_thresh = test_nms_thresh
        self.test_topk_per_image = test_topk_per_image
        self.box_reg_loss_type = box_reg_loss_type
        if isinstance(loss_weight, (int, float)):
            loss_weight = {"loss_cls": float(loss_weight), "loss_box_reg": float(loss_weight)}
        self.loss_weight = loss_weight
        self.use_fed_loss = use_fed_loss
        self.use_sigmoid_ce = use_sigmoid_ce
        self.fed_loss_num_classes = fed_loss_num_classes

        if self.use_fed_loss:
            if not self.use_sigmoid_ce:
                raise ValueError("use_fed_loss=True needs use_sigmoid_ce=True (federated loss is a sigmoid loss)")
            if get_fed_loss_cls_weights is None:
                raise ValueError("use_fed_loss=True needs get_fed_loss_cls_weights, a callable returning (K,) weights")
            fed_loss_cls_weights = torch.as_tensor(get_fed_loss_cls_weights())
            if fed_loss_cls_weights.shape != (self.num_classes,):
                raise ValueError(
                    f"get_fed_loss_cls_weights() returned shape {tuple(fed_loss_cls_weights.shape)}, "
                    f"expected ({self.num_classes},): one weight per foreground class"
                )
            self.register_buffer("fed_loss_cls_weights", fed_loss_cls_weights)

    @classmethod
    def from_config(cls, cfg: Any, input_shape: ShapeSpec) -> dict[str, Any]:
        box_head = cfg.MODEL.ROI_BOX_HEAD
        return {
            "input_shape": input_shape,
            "box2box_transform": Box2BoxTransform(weights=box_head.BBOX_REG_WEIGHTS),
            "num_classes": cfg.MODEL.ROI_HEADS.NUM_CLASSES,
            "cls_agnostic_bbox_reg": box_head.CLS_AGNOSTIC_BBOX_REG,
            "smooth_l1_beta": box_head.SMOOTH_L1_BETA,
            "test_score_thresh": cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST,
            "test_nms_thresh": cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST,
            "test_topk_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
            "box_reg_loss_type": box_head.BBOX_REG_LOSS_TYPE,
            "loss_weight": {"loss_box_reg": box_head.BBOX_REG_LOSS_WEIGHT},
            "use_fed_loss": box_head.USE_FED_LOSS,
            "use_sigmoid_ce": box_head.USE_SIGMOID_CE,
            "get_fed_loss_cls_weights": _default_fed_loss_cls_weights(cfg),
            "fed_loss_num_classes": box_head.FED_LOSS_NUM_CLASSES,
        }

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-region features (R, ...) -> scores (R, K+1) and deltas (R, K*4) or (R, 4)."""
        if x.dim() > 2:
            x = torch.flatten(x, start_dim=1)
        scores = self.cls_score(x)
        proposal_deltas = self.bbox_pred(x)
        return scores, proposal_deltas

    def losses(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> dict[str, torch.Tensor]:
        """``loss_cls`` and ``loss_box_reg`` for proposals carrying ``proposal_boxes``, ``gt_classes``
        (and ``gt_boxes`` when an image has ground truth)."""
        scores, proposal_deltas = predictions

        gt_classes = (
            cat([p.gt_classes for p in proposals], dim=0)
            if len(proposals)
            else torch.empty(0, dtype=torch.long, device=scores.device)
        )
        _log_classification_stats(scores, gt_classes)

        if len(proposals):
            proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)  # Rx4
            if proposal_boxes.requires_grad:
                raise ValueError("FastRCNNOutputLayers.losses: proposal boxes must not require gradients")
            # Images without ground truth have no gt_boxes; their proposals are all background and
            # never reach the regression loss, so the proposal boxes are a harmless placeholder.
            gt_boxes = cat(
                [(p.gt_boxes if p.has("gt_boxes") else p.proposal_boxes).tensor for p in proposals],
                dim=0,
            )
        else:
            proposal_boxes = gt_boxes = torch.empty((0, 4), device=proposal_deltas.device)

        if self.use_sigmoid_ce:
            loss_cls = self.sigmoid_cross_entropy_loss(scores, gt_classes)
        else:
            loss_cls = cross_entropy(scores, gt_classes, reduction="mean")

        losses = {
            "loss_cls": loss_cls,
            "loss_box_reg": self.box_reg_loss(proposal_boxes, gt_boxes, proposal_deltas, gt_classes),
        }
        return {k: v * self.loss_weight.get(k, 1.0) for k, v in losses.items()}

    def get_fed_loss_classes(
        self, gt_classes: torch.Tensor, num_fed_loss_classes: int, num_classes: int, weight: torch.Tensor
    ) -> torch.Tensor:
        """The unique gt classes, plus negatives sampled by ``weight`` up to ``num_fed_loss_classes``."""
        unique_gt_classes = torch.unique(gt_classes)
        prob = unique_gt_classes.new_ones(num_classes + 1).float()
        prob[-1] = 0
        if len(unique_gt_classes) < num_fed_loss_classes:
            prob[:num_classes] = weight.float().clone()
            prob[unique_gt_classes] = 0
            sampled_negative_classes = torch.multinomial(
                prob, num_fed_loss_classes - len(unique_gt_classes), replacement=False
            )
            fed_loss_classes = torch.cat([unique_gt_classes, sampled_negative_classes])
        else:
            fed_loss_classes = unique_gt_classes
        return fed_loss_classes

    def sigmoid_cross_entropy_loss(self, pred_class_logits: torch.Tensor, gt_classes: torch.Tensor) -> torch.Tensor:
        """Binary cross entropy per foreground class (background is the all-zero target), summed
        over classes and averaged over regions; with ``use_fed_loss`` only the federated classes count."""
        if pred_class_logits.numel() == 0:
            return pred_class_logits.new_zeros([1])[0]

        N = pred_class_logits.shape[0]
        K = pred_class_logits.shape[1] - 1

        target = pred_class_logits.new_zeros(N, K + 1)
        target[torch.arange(len(gt_classes), device=gt_classes.device), gt_classes] = 1
        target = target[:, :K]

        cls_loss = F.binary_cross_entropy_with_logits(pred_class_logits[:, :-1], target, reduction="none")

        if self.use_fed_loss:
            fed_loss_classes = self.get_fed_loss_classes(
                gt_classes,
                num_fed_loss_classes=self.fed_loss_num_classes,
                num_classes=K,
                weight=self.fed_loss_cls_weights,
            )
            fed_loss_classes_mask = fed_loss_classes.new_zeros(K + 1)
            fed_loss_classes_mask[fed_loss_classes] = 1
            fed_loss_classes_mask = fed_loss_classes_mask[:K]
            weight: torch.Tensor | float = fed_loss_classes_mask.view(1, K).expand(N, K).float()
        else:
            weight = 1

        return torch.sum(cls_loss * weight) / N

    def box_reg_loss(
        self,
        proposal_boxes: torch.Tensor,
        gt_boxes: torch.Tensor,
        pred_deltas: torch.Tensor,
        gt_classes: torch.Tensor,
    ) -> torch.Tensor:
        """Regression loss of the foreground regions, normalised by the number of all regions R.

        Dividing by R rather than by the foreground count gives every foreground region the same
        weight whatever the foreground fraction of its batch.
        """
        box_dim = proposal_boxes.shape[1]  # 4 or 5
        fg_inds = nonzero_tuple((gt_classes >= 0) & (gt_classes < self.num_classes))[0]
        if pred_deltas.shape[1] == box_dim:  # class-agnostic regression
            fg_pred_deltas = pred_deltas[fg_inds]
        else:
            fg_pred_deltas = pred_deltas.view(-1, self.num_classes, box_dim)[fg_inds, gt_classes[fg_inds]]

        loss_box_reg = _dense_box_regression_loss(
            [proposal_boxes[fg_inds]],
            self.box2box_transform,
            [fg_pred_deltas.unsqueeze(0)],
            [gt_boxes[fg_inds]],
            ...,
            self.box_reg_loss_type,
            self.smooth_l1_beta,
        )
        return loss_box_reg / max(gt_classes.numel(), 1.0)  # 0 when there are no regions

    def inference(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> tuple[list[Instances], list[torch.Tensor]]:
        """Detections per image by :func:`fast_rcnn_inference`, with this head's test thresholds."""
        boxes = self.predict_boxes(predictions, proposals)
        scores = self.predict_probs(predictions, proposals)
        image_shapes = [x.image_size for x in proposals]
        return fast_rcnn_inference(
            boxes,
            scores,
            image_shapes,
            self.test_score_thresh,
            self.test_nms_thresh,
            self.test_topk_per_image,
        )

    def predict_boxes_for_gt_classes(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> list[torch.Tensor] | tuple[torch.Tensor, ...]:
        """Per image (Ri, 4): the box predicted for each region's gt class (background and ignored
        regions use class 0 / K-1 by clamping)."""
        if not len(proposals):
            return []
        _, proposal_deltas = predictions
        proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)
        N, B = proposal_boxes.shape
        predict_boxes = self.box2box_transform.apply_deltas(proposal_deltas, proposal_boxes)  # N x (K*B)

        K = predict_boxes.shape[1] // B
        if K > 1:
            gt_classes = torch.cat([p.gt_classes for p in proposals], dim=0)
            gt_classes = gt_classes.clamp_(0, K - 1)
            predict_boxes = predict_boxes.view(N, K, B)[
                torch.arange(N, dtype=torch.long, device=predict_boxes.device), gt_classes
            ]
        return split_per_image(predict_boxes, proposals)

    def predict_boxes(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> list[torch.Tensor] | tuple[torch.Tensor, ...]:
        """Per image, decoded boxes (Ri, K*4) or (Ri, 4) for class-agnostic regression."""
        if not len(proposals):
            return []
        _, proposal_deltas = predictions
        proposal_boxes = cat([p.proposal_boxes.tensor for p in proposals], dim=0)
        predict_boxes = self.box2box_transform.apply_deltas(proposal_deltas, proposal_boxes)  # N x (K*B)
        return split_per_image(predict_boxes, proposals)

    def predict_probs(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> list[torch.Tensor] | tuple[torch.Tensor, ...]:
        """Per image, class probabilities (Ri, K+1): softmax, or per-class sigmoid with ``use_sigmoid_ce``."""
        scores, _ = predictions
        probs = scores.sigmoid() if self.use_sigmoid_ce else F.softmax(scores, dim=-1)
        return split_per_image(probs, proposals)
