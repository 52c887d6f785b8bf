"""Base class of fully-convolutional ("dense") detectors such as RetinaNet, as in detectron2."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from modet.structures import Boxes, ImageList, Instances

from ..backbone import Backbone
from ..backbone.backbone import required_size
from ..box_regression import Box2BoxTransform, Box2BoxTransformLinear
from .base import ImageModel

__all__ = ["DenseDetector", "permute_to_N_HWA_K", "top_scores"]


def permute_to_N_HWA_K(tensor: Tensor, K: int) -> Tensor:
    """Reshape a per-level prediction from (N, A*K, H, W) to (N, H*W*A, K)."""
    if tensor.dim() != 4:
        raise ValueError(f"permute_to_N_HWA_K expects a 4-d (N, A*K, H, W) tensor, got shape {tuple(tensor.shape)}")
    N, _, H, W = tensor.shape
    tensor = tensor.view(N, -1, K, H, W)
    tensor = tensor.permute(0, 3, 4, 1, 2)
    return tensor.reshape(N, -1, K)


def top_scores(scores: Tensor, score_thresh: float, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` highest of the flat ``scores`` above ``score_thresh``, highest first, and their
    indices: detectron2's threshold, ``nonzero`` and ``topk`` on the (anchors, classes) scores,
    with one ``nonzero`` of the flat mask where it took two of the 2-d one (same ``topk`` input,
    same result; RetinaNet's P3 holds 9.8 million class scores).
    """
    keep = (scores > score_thresh).nonzero().squeeze(1)
    top, order = scores[keep].topk(min(k, keep.shape[0]))  # shape, not len(): symbolic under export
    return top, keep[order]


class DenseDetector(ImageModel):
    """A detector that makes per-pixel predictions on every feature level (e.g. RetinaNet, FCOS).

    Subclasses implement ``forward_training`` and ``forward_inference``; this class handles
    normalisation, batching and rescaling outputs to the requested ``height``/``width``.
    """

    box2box_transform: Box2BoxTransform | Box2BoxTransformLinear  # set by the subclass

    def __init__(
        self,
        backbone: Backbone,
        head: nn.Module,
        head_in_features: list[str] | None = None,
        *,
        pixel_mean: list[float],
        pixel_std: list[float],
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        if head_in_features is None:
            shapes = self.backbone.output_shape()
            self.head_in_features = sorted(
                shapes.keys(), key=lambda name: required_size(shapes[name].stride, f"stride of feature {name!r}")
            )
        else:
            self.head_in_features = list(head_in_features)
        self._register_pixel_stats(pixel_mean, pixel_std)

    def forward(self, batched_inputs: list[dict[str, Any]]) -> Any:
        """Losses (dict) in training; a list of ``{"instances": Instances}`` in inference."""
        self._check_inputs(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        features = [features[name] for name in self.head_in_features]
        predictions = self.head(features)

        if self.training:
            gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
            return self.forward_training(images, features, predictions, gt_instances)

        results = self.forward_inference(images, features, predictions)
        return self._postprocess(results, batched_inputs, images.image_sizes)

    def forward_training(
        self, images: ImageList, features: list[Tensor], predictions: Any, gt_instances: list[Instances]
    ) -> dict[str, Tensor]:
        """The losses, from the head's ``predictions`` on ``features`` and the ground truth."""
        raise NotImplementedError

    def forward_inference(self, images: ImageList, features: list[Tensor], predictions: Any) -> list[Instances]:
        """Detections per image at the network's input resolution (rescaled by :meth:`forward`)."""
        raise NotImplementedError

    def _transpose_dense_predictions(
        self, predictions: Sequence[list[Tensor]], dims_per_anchor: list[int]
    ) -> list[list[Tensor]]:
        """Turn each per-level (N, A*K, Hi, Wi) prediction into (N, Hi*Wi*A, K)."""
        if len(predictions) != len(dims_per_anchor):
            raise ValueError(f"got {len(predictions)} prediction kinds but {len(dims_per_anchor)} dims_per_anchor")
        return [
            [permute_to_N_HWA_K(x, dim_per_anchor) for x in pred]
            for pred, dim_per_anchor in zip(predictions, dims_per_anchor)
        ]

    def _ema_update(self, name: str, value: float, initial_value: float, momentum: float = 0.9) -> float:
        """Update and return the exponential moving average stored as ``self.<name>``.

        Used for the loss normaliser: the number of foreground anchors varies a lot at small
        batch sizes, and normalising by its EMA is more stable (detectron2's behaviour).
        """
        old = getattr(self, name) if hasattr(self, name) else initial_value
        new = old * momentum + value * (1 - momentum)
        setattr(self, name, new)
        return new

    def _decode_per_level_predictions(
        self,
        anchors: Boxes,
        pred_scores: Tensor,
        pred_deltas: Tensor,
        score_thresh: float,
        topk_candidates: int,
        image_size: tuple[int, int],
    ) -> Instances:
        """Keep scores above ``score_thresh``, then the top ``topk_candidates``, and decode their boxes.

        ``pred_scores`` is (Hi*Wi*A, K) and ``pred_deltas`` (Hi*Wi*A, 4) for one image and level.
        """
        num_classes = pred_scores.shape[1]
        pred_scores, flat_idxs = top_scores(pred_scores.flatten(), score_thresh, topk_candidates)
        anchor_idxs, classes_idxs = flat_idxs // num_classes, flat_idxs % num_classes

        pred_boxes = self.box2box_transform.apply_deltas(pred_deltas[anchor_idxs], anchors.tensor[anchor_idxs])
        return Instances(image_size, pred_boxes=Boxes(pred_boxes), scores=pred_scores, pred_classes=classes_idxs)

    def _decode_multi_level_predictions(
        self,
        anchors: list[Boxes],
        pred_scores: list[Tensor],
        pred_deltas: list[Tensor],
        score_thresh: float,
        topk_candidates: int,
        image_size: tuple[int, int],
    ) -> Instances:
        """:meth:`_decode_per_level_predictions` on every level, concatenated."""
        predictions = [
            self._decode_per_level_predictions(anchors_i, scores_i, deltas_i, score_thresh, topk_candidates, image_size)
            for scores_i, deltas_i, anchors_i in zip(pred_scores, pred_deltas, anchors)
        ]
        return Instances.cat(predictions)
