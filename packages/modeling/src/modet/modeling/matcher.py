"""``Matcher``: assign each prediction (anchor, proposal) to its best ground truth and a label."""

from __future__ import annotations

import itertools

import torch

from modet.ops import nonzero_tuple
from modet.structures import Boxes, pairwise_iou

__all__ = ["Matcher"]


class Matcher:
    """Label each column of an (M ground truths x N predictions) quality matrix.

    ``thresholds`` split the best quality of each prediction into intervals
    [-inf, t0), [t0, t1), ..., [tk, inf) and ``labels`` (one per interval, each in {-1, 0, 1}:
    ignore, negative, positive) label them. With ``allow_low_quality_matches``, predictions that
    are the best match of some ground truth become positive even below the threshold.
    """

    def __init__(self, thresholds: list[float], labels: list[int], allow_low_quality_matches: bool = False) -> None:
        thresholds = list(thresholds)
        if not thresholds or thresholds[0] <= 0:
            raise ValueError(f"Matcher thresholds must be positive and non-empty, got {thresholds}")
        thresholds = [-float("inf"), *thresholds, float("inf")]
        if not all(low <= high for low, high in itertools.pairwise(thresholds)):
            raise ValueError(f"Matcher thresholds must be sorted, got {thresholds[1:-1]}")
        if not all(label in (-1, 0, 1) for label in labels):
            raise ValueError(f"Matcher labels must be -1, 0 or 1, got {labels}")
        if len(labels) != len(thresholds) - 1:
            raise ValueError(f"Matcher needs {len(thresholds) - 1} labels for thresholds {thresholds[1:-1]}")
        self.thresholds = thresholds
        self.labels = list(labels)
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, match_quality_matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(matches: int64 index of the best ground truth, match_labels: int8 label) per prediction."""
        if match_quality_matrix.dim() != 2:
            raise ValueError(f"match_quality_matrix must be 2-D, got shape {tuple(match_quality_matrix.shape)}")
        if match_quality_matrix.numel() == 0:
            num_predictions = match_quality_matrix.size(1)
            # No ground truth (or no predictions): everything gets the lowest interval's label.
            default_matches = match_quality_matrix.new_full((num_predictions,), 0, dtype=torch.int64)
            default_labels = match_quality_matrix.new_full((num_predictions,), self.labels[0], dtype=torch.int8)
            return default_matches, default_labels
        if not torch.all(match_quality_matrix >= 0):
            raise ValueError("match_quality_matrix must be non-negative (IoU-like)")

        matched_vals, matches = match_quality_matrix.max(dim=0)
        match_labels = matches.new_full(matches.size(), 1, dtype=torch.int8)
        for label, low, high in zip(self.labels, self.thresholds[:-1], self.thresholds[1:]):
            match_labels[(matched_vals >= low) & (matched_vals < high)] = label
        if self.allow_low_quality_matches:
            self.set_low_quality_matches_(match_labels, match_quality_matrix)
        return matches, match_labels

    def set_low_quality_matches_(self, match_labels: torch.Tensor, match_quality_matrix: torch.Tensor) -> None:
        """Make positive every prediction tied for the best quality of some ground truth (Faster R-CNN §3.1.2)."""
        highest_quality_foreach_gt, _ = match_quality_matrix.max(dim=1)
        _, pred_inds_with_highest_quality = nonzero_tuple(match_quality_matrix == highest_quality_foreach_gt[:, None])
        match_labels[pred_inds_with_highest_quality] = 1


def _match_anchors(
    matcher: Matcher, anchors: Boxes, gt_boxes: Boxes
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Match every anchor of an image (all levels in one ``Boxes``) to its ground-truth boxes by IoU.

    Returns per anchor: the index of its best gt box, the matcher's label, and that gt box (R, 4);
    without gt boxes the boxes are zeros (unused: every anchor is then background).
    """
    matched_idxs, match_labels = matcher(pairwise_iou(gt_boxes, anchors))
    match_labels = match_labels.to(device=gt_boxes.device)
    if len(gt_boxes) == 0:
        return matched_idxs, match_labels, torch.zeros_like(anchors.tensor)
    return matched_idxs, match_labels, gt_boxes.tensor[matched_idxs]


def _gt_classes_of_matches(
    gt_classes: torch.Tensor, matched_idxs: torch.Tensor, match_labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Class targets of matched predictions: the matched gt's class, ``num_classes`` (background)
    where the matcher said 0 or the image has no gt, and -1 (ignored) where it said -1."""
    if gt_classes.numel() == 0:
        return torch.zeros_like(matched_idxs) + num_classes
    classes = gt_classes[matched_idxs]
    classes[match_labels == 0] = num_classes
    classes[match_labels == -1] = -1
    return classes
