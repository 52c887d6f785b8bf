"""Keypoint heads: per-region keypoint heatmaps, the Keypoint R-CNN loss and keypoint inference."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from modet.core.config import configurable
from modet.core.events import get_event_storage
from modet.core.registry import Registry
from modet.ops import Conv2d, ConvTranspose2d, ShapeSpec, cat
from modet.ops.wrappers import channels_last_pays
from modet.structures import Instances, heatmaps_to_keypoints

from ..backbone.backbone import required_size
from .per_image import split_per_image

__all__ = [
    "ROI_KEYPOINT_HEAD_REGISTRY",
    "BaseKeypointRCNNHead",
    "KRCNNConvDeconvUpsampleHead",
    "build_keypoint_head",
    "keypoint_rcnn_inference",
    "keypoint_rcnn_loss",
]

# Batches whose loss had nothing to learn from (no visible keypoint), logged as detectron2 does.
_TOTAL_SKIPPED = 0

ROI_KEYPOINT_HEAD_REGISTRY = Registry("roi_keypoint_head", "ROI_KEYPOINT_HEAD")
ROI_KEYPOINT_HEAD_REGISTRY.__doc__ = """
Registry for keypoint heads, which make keypoint predictions from per-region features.
The registered object is called with ``obj(cfg, input_shape)``.
"""


def build_keypoint_head(cfg: Any, input_shape: Any) -> nn.Module:
    """Build the keypoint head named by ``cfg.MODEL.ROI_KEYPOINT_HEAD.NAME``."""
    name = cfg.MODEL.ROI_KEYPOINT_HEAD.NAME
    return ROI_KEYPOINT_HEAD_REGISTRY.get(name)(cfg, input_shape)


def keypoint_rcnn_loss(
    pred_keypoint_logits: torch.Tensor, instances: list[Instances], normalizer: float | None
) -> torch.Tensor:
    """Cross entropy over the S*S heatmap cells of each visible keypoint, summed and divided by
    ``normalizer`` (None: by the number of visible keypoints in the batch).

    Args:
        pred_keypoint_logits: (N, K, S, S) logits, N the regions over the batch in the order of
            ``instances``.
        instances: per image, regions with ``proposal_boxes`` and ``gt_keypoints``.
        normalizer: what to divide the summed loss by.
    """
    if pred_keypoint_logits.dim() != 4:
        raise ValueError(f"keypoint_rcnn_loss: expected logits (N, K, S, S), got {tuple(pred_keypoint_logits.shape)}")
    heatmaps = []
    valid = []

    keypoint_side_len = pred_keypoint_logits.shape[2]
    for instances_per_image in instances:
        if len(instances_per_image) == 0:
            continue
        keypoints = instances_per_image.gt_keypoints
        heatmaps_per_image, valid_per_image = keypoints.to_heatmap(
            instances_per_image.proposal_boxes.tensor, keypoint_side_len
        )
        heatmaps.append(heatmaps_per_image.view(-1))
        valid.append(valid_per_image.view(-1))

    if len(heatmaps):
        keypoint_targets = cat(heatmaps, dim=0)
        valid_inds = torch.nonzero(cat(valid, dim=0).to(dtype=torch.uint8)).squeeze(1)

    # The mean in cross entropy is undefined on an empty set: return a zero that keeps the graph.
    if len(heatmaps) == 0 or valid_inds.numel() == 0:
        global _TOTAL_SKIPPED
        _TOTAL_SKIPPED += 1
        storage = get_event_storage()
        storage.put_scalar("kpts_num_skipped_batches", _TOTAL_SKIPPED, smoothing_hint=False)
        return pred_keypoint_logits.sum() * 0

    N, K, H, W = pred_keypoint_logits.shape
    pred_keypoint_logits = pred_keypoint_logits.view(N * K, H * W)
    if keypoint_targets.numel() != N * K:
        raise ValueError(
            f"keypoint_rcnn_loss: {N} x {K} predicted heatmaps but {keypoint_targets.numel()} gt keypoints"
        )

    keypoint_loss = F.cross_entropy(
        pred_keypoint_logits[valid_inds], keypoint_targets[valid_inds].long(), reduction="sum"
    )

    if normalizer is None:
        normalizer = valid_inds.numel()
    return keypoint_loss / normalizer


def keypoint_rcnn_inference(pred_keypoint_logits: torch.Tensor, pred_instances: list[Instances]) -> None:
    """Decode heatmaps into ``pred_keypoints`` (Ri, K, 3) of (x, y, score) in image coordinates, and
    keep the raw logits as ``pred_keypoint_heatmaps`` (Ri, K, S, S), for each image's instances."""
    bboxes_flat = cat([b.pred_boxes.tensor for b in pred_instances], dim=0)

    pred_keypoint_logits = pred_keypoint_logits.detach()
    decoded = heatmaps_to_keypoints(pred_keypoint_logits, bboxes_flat.detach())
    # heatmaps_to_keypoints gives (x, y, logit, score): keep x, y and score.
    keypoint_results = split_per_image(decoded[:, :, [0, 1, 3]], pred_instances)
    heatmap_results = split_per_image(pred_keypoint_logits, pred_instances)

    for keypoints_per_image, heatmaps_per_image, instances_per_image in zip(
        keypoint_results, heatmap_results, pred_instances
    ):
        instances_per_image.pred_keypoints = keypoints_per_image
        instances_per_image.pred_keypoint_heatmaps = heatmaps_per_image


class BaseKeypointRCNNHead(nn.Module):
    """The Keypoint R-CNN loss and inference (Mask R-CNN paper, Sec. 5) around a subclass's ``layers``."""

    @configurable
    def __init__(self, *, num_keypoints: int, loss_weight: float = 1.0, loss_normalizer: float | str = 1.0) -> None:
        """
        Args:
            num_keypoints: keypoints per instance.
            loss_weight: multiplier of ``loss_keypoint``.
            loss_normalizer: a number: divide the loss by it times the number of images;
                "visible": divide by the number of visible keypoints in the batch.
        """
        super().__init__()
        self.num_keypoints = num_keypoints
        self.loss_weight = loss_weight
        if not (loss_normalizer == "visible" or isinstance(loss_normalizer, (int, float))):
            raise ValueError(f"loss_normalizer must be a number or 'visible', got {loss_normalizer!r}")
        self.loss_normalizer = loss_normalizer

    @classmethod
    def from_config(cls, cfg: Any, input_shape: Any) -> dict[str, Any]:
        head = cfg.MODEL.ROI_KEYPOINT_HEAD
        ret: dict[str, Any] = {"loss_weight": head.LOSS_WEIGHT, "num_keypoints": head.NUM_KEYPOINTS}
        if head.NORMALIZE_LOSS_BY_VISIBLE_KEYPOINTS:
            ret["loss_normalizer"] = "visible"
        else:
            # The expected number of visible keypoints of a full batch of foreground regions.
            roi_heads = cfg.MODEL.ROI_HEADS
            ret["loss_normalizer"] = ret["num_keypoints"] * roi_heads.BATCH_SIZE_PER_IMAGE * roi_heads.POSITIVE_FRACTION
        return ret

    def forward(self, x: Any, instances: list[Instances]) -> dict[str, torch.Tensor] | list[Instances]:
        """A dict with ``loss_keypoint`` in training; ``instances`` with ``pred_keypoints`` in inference."""
        x = self.layers(x)
        if self.training:
            num_images = len(instances)
            # __init__ allows one string, "visible"
            normalizer = None if isinstance(self.loss_normalizer, str) else num_images * self.loss_normalizer
            return {"loss_keypoint": keypoint_rcnn_loss(x, instances, normalizer=normalizer) * self.loss_weight}
        keypoint_rcnn_inference(x, instances)
        return instances

    def layers(self, x: Any) -> torch.Tensor:
        """The network: region features -> keypoint heatmap logits."""
        raise NotImplementedError


class KRCNNConvDeconvUpsampleHead(BaseKeypointRCNNHead, nn.Sequential):  # type: ignore[misc]  # detectron2's layout: the base's forward(x, instances) comes first in the MRO, Sequential only holds the layers
    """3x3 convs (``conv_fcn1``…), a stride-2 ``score_lowres`` deconv, then 2x bilinear upsampling."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, num_keypoints: int, conv_dims: list[int], **kwargs: Any) -> None:
        """
        Args:
            input_shape: shape of the pooled region features.
            conv_dims: output channels of each conv, e.g. (512,) * 8.
        """
        super().__init__(num_keypoints=num_keypoints, **kwargs)

        up_scale = 2.0
        in_channels = required_size(input_shape.channels, "KRCNNConvDeconvUpsampleHead: input_shape.channels")

        for idx, layer_channels in enumerate(conv_dims, 1):
            self.add_module(
                f"conv_fcn{idx}", Conv2d(in_channels, layer_channels, 3, stride=1, padding=1, winograd=True)
            )
            self.add_module(f"conv_fcn_relu{idx}", nn.ReLU())
            in_channels = layer_channels

        deconv_kernel = 4
        self.score_lowres = ConvTranspose2d(
            in_channels, num_keypoints, deconv_kernel, stride=2, padding=deconv_kernel // 2 - 1
        )
        self.up_scale = up_scale

        for name, param in self.named_parameters():
            if "bias" in name:
                nn.init.constant_(param, 0)
            elif "weight" in name:
                # Caffe2's MSRAFill is kaiming normal over fan-out.
                nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")

    @classmethod
    def from_config(cls, cfg: Any, input_shape: ShapeSpec) -> dict[str, Any]:
        ret = super().from_config(cfg, input_shape)
        ret["input_shape"] = input_shape
        ret["conv_dims"] = cfg.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS
        return ret

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = not self.training and channels_last_pays(x, next(iter(self)))  # conv_fcn1
        if channels_last:  # 10-15% faster convolutions of region batches on CPUs
            x = x.contiguous(memory_format=torch.channels_last)
        for layer in self:
            x = layer(x)
        x = F.interpolate(x, scale_factor=self.up_scale, mode="bilinear", align_corners=False)
        return x.contiguous() if channels_last else x
