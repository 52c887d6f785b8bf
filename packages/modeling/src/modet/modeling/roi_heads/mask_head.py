"""Mask heads: per-region mask logits, the Mask R-CNN loss and mask inference."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from modet.core.config import configurable
from modet.core.events import get_event_storage
from modet.core.registry import Registry
from modet.ops import Conv2d, ConvTranspose2d, ShapeSpec, cat, get_norm
from modet.ops.weight_init import c2_msra_fill
from modet.ops.wrappers import channels_last_pays, eager_cpu_inference
from modet.structures import Instances

from ..backbone.backbone import required_size
from .per_image import split_per_image

__all__ = [
    "ROI_MASK_HEAD_REGISTRY",
    "BaseMaskRCNNHead",
    "MaskRCNNConvUpsampleHead",
    "build_mask_head",
    "mask_rcnn_inference",
    "mask_rcnn_loss",
]

ROI_MASK_HEAD_REGISTRY = Registry("roi_mask_head", "ROI_MASK_HEAD")
ROI_MASK_HEAD_REGISTRY.__doc__ = """
Registry for mask heads, which predict instance masks from per-region features.
The registered object is called with ``obj(cfg, input_shape)``.
"""


def mask_rcnn_loss(pred_mask_logits: torch.Tensor, instances: list[Instances], vis_period: int = 0) -> torch.Tensor:
    """Mean binary cross entropy between the mask logits of each region's gt class and its gt mask
    cropped to the region and resized to the logits' side.

    Args:
        pred_mask_logits: (B, C, M, M) class-specific or (B, 1, M, M) class-agnostic logits, B the
            number of foreground regions over the batch, in the order of ``instances``.
        instances: per image, the foreground regions with ``proposal_boxes``, ``gt_masks`` and
            (class-specific) ``gt_classes``.
        vis_period: put predicted/gt masks into the EventStorage every this many iterations (0: never).

    Also logs ``mask_rcnn/accuracy``, ``mask_rcnn/false_positive`` and ``mask_rcnn/false_negative``.
    """
    if pred_mask_logits.dim() != 4 or pred_mask_logits.size(2) != pred_mask_logits.size(3):
        raise ValueError(f"mask_rcnn_loss: expected square logits (B, C, M, M), got {tuple(pred_mask_logits.shape)}")
    cls_agnostic_mask = pred_mask_logits.size(1) == 1
    total_num_masks = pred_mask_logits.size(0)
    mask_side_len = pred_mask_logits.size(2)

    gt_classes_per_image: list[torch.Tensor] = []
    gt_masks_per_image_list: list[torch.Tensor] = []
    for instances_per_image in instances:
        if len(instances_per_image) == 0:
            continue
        if not cls_agnostic_mask:
            gt_classes_per_image.append(instances_per_image.gt_classes.to(dtype=torch.int64))
        gt_masks_per_image = instances_per_image.gt_masks.crop_and_resize(
            instances_per_image.proposal_boxes.tensor, mask_side_len
        ).to(device=pred_mask_logits.device)
        gt_masks_per_image_list.append(gt_masks_per_image)  # (Ri, M, M)

    if len(gt_masks_per_image_list) == 0:
        return pred_mask_logits.sum() * 0

    gt_masks = cat(gt_masks_per_image_list, dim=0)
    if gt_masks.shape[0] != total_num_masks:
        raise ValueError(
            f"mask_rcnn_loss: {total_num_masks} predicted masks but {gt_masks.shape[0]} foreground instances"
        )

    if cls_agnostic_mask:
        pred_mask_logits = pred_mask_logits[:, 0]
    else:
        indices = torch.arange(total_num_masks, device=pred_mask_logits.device)
        gt_classes = cat(gt_classes_per_image, dim=0).to(pred_mask_logits.device)
        pred_mask_logits = pred_mask_logits[indices, gt_classes]

    # crop_and_resize may return bool or float masks depending on the mask type.
    gt_masks_bool = gt_masks if gt_masks.dtype == torch.bool else gt_masks > 0.5
    gt_masks = gt_masks.to(dtype=torch.float32)

    # Training accuracy with the gt classes and a 0.5 threshold.
    mask_incorrect = (pred_mask_logits > 0.0) != gt_masks_bool
    mask_accuracy = 1 - (mask_incorrect.sum().item() / max(mask_incorrect.numel(), 1.0))
    num_positive = gt_masks_bool.sum().item()
    false_positive = (mask_incorrect & ~gt_masks_bool).sum().item() / max(gt_masks_bool.numel() - num_positive, 1.0)
    false_negative = (mask_incorrect & gt_masks_bool).sum().item() / max(num_positive, 1.0)

    storage = get_event_storage()
    storage.put_scalar("mask_rcnn/accuracy", mask_accuracy)
    storage.put_scalar("mask_rcnn/false_positive", false_positive)
    storage.put_scalar("mask_rcnn/false_negative", false_negative)
    if vis_period > 0 and storage.iter % vis_period == 0:
        pred_masks = pred_mask_logits.sigmoid()
        vis_masks = torch.cat([pred_masks, gt_masks], dim=2)
        name = "Left: mask prediction;   Right: mask GT"
        for idx, vis_mask in enumerate(vis_masks):
            storage.put_image(name + f" ({idx})", torch.stack([vis_mask] * 3, dim=0))

    return F.binary_cross_entropy_with_logits(pred_mask_logits, gt_masks, reduction="mean")


def mask_rcnn_inference(pred_mask_logits: torch.Tensor, pred_instances: list[Instances]) -> None:
    """Attach ``pred_masks`` (Ri, 1, M, M) soft masks of each instance's predicted class.

    The masks stay at the head's resolution; pasting into the image is the postprocessing's job.
    """
    cls_agnostic_mask = pred_mask_logits.size(1) == 1

    if cls_agnostic_mask:
        mask_probs_pred = pred_mask_logits.sigmoid()
    else:
        num_masks = pred_mask_logits.shape[0]
        class_pred = cat([i.pred_classes for i in pred_instances])
        indices = torch.arange(num_masks, device=class_pred.device)
        mask_probs_pred = pred_mask_logits[indices, class_pred][:, None].sigmoid()
    # (B, 1, M, M)

    for prob, instances in zip(split_per_image(mask_probs_pred, pred_instances), pred_instances):
        instances.pred_masks = prob


class BaseMaskRCNNHead(nn.Module):
    """The Mask R-CNN loss and inference around a subclass's ``layers``."""

    @configurable
    def __init__(self, *, loss_weight: float = 1.0, vis_period: int = 0) -> None:
        """
        Args:
            loss_weight: multiplier of ``loss_mask``.
            vis_period: see :func:`mask_rcnn_loss`.
        """
        super().__init__()
        self.vis_period = vis_period
        self.loss_weight = loss_weight

    @classmethod
    def from_config(cls, cfg: Any, input_shape: Any) -> dict[str, Any]:
        return {"vis_period": cfg.VIS_PERIOD}

    def forward(self, x: Any, instances: list[Instances]) -> dict[str, torch.Tensor] | list[Instances]:
        """A dict with ``loss_mask`` in training; ``instances`` with ``pred_masks`` in inference."""
        x = self.layers(x)
        if self.training:
            return {"loss_mask": mask_rcnn_loss(x, instances, self.vis_period) * self.loss_weight}
        mask_rcnn_inference(x, instances)
        return instances

    def layers(self, x: Any) -> torch.Tensor:
        """The network: region features -> mask logits."""
        raise NotImplementedError


# detectron2's layout: the head's forward(x, instances) comes first in the MRO, Sequential holds the layers.
class MaskRCNNConvUpsampleHead(BaseMaskRCNNHead, nn.Sequential):
    """3x3 convs (``mask_fcn1``…), a 2x ``deconv`` with ReLU, and a 1x1 ``predictor``."""

    @configurable
    def __init__(
        self, input_shape: ShapeSpec, *, num_classes: int, conv_dims: list[int], conv_norm: Any = "", **kwargs: Any
    ) -> None:
        """
        Args:
            input_shape: shape of the pooled region features.
            num_classes: mask classes (1 for class-agnostic masks).
            conv_dims: channels of each conv; the last one is the deconv's.
            conv_norm: normalization of the convs (see :func:`modet.ops.get_norm`).
        """
        super().__init__(**kwargs)
        if len(conv_dims) < 1:
            raise ValueError("MaskRCNNConvUpsampleHead: conv_dims must have at least one entry (the deconv's)")

        self.conv_norm_relus: list[nn.Module] = []
        cur_channels = required_size(input_shape.channels, "MaskRCNNConvUpsampleHead: input_shape.channels")
        for k, conv_dim in enumerate(conv_dims[:-1]):
            conv = Conv2d(
                cur_channels,
                conv_dim,
                kernel_size=3,
                stride=1,
                padding=1,
                bias=not conv_norm,
                norm=get_norm(conv_norm, conv_dim),
                activation=nn.ReLU(),
                winograd=True,
            )
            self.add_module(f"mask_fcn{k + 1}", conv)
            self.conv_norm_relus.append(conv)
            cur_channels = conv_dim

        self.deconv = ConvTranspose2d(cur_channels, conv_dims[-1], kernel_size=2, stride=2, padding=0)
        self.add_module("deconv_relu", nn.ReLU())
        cur_channels = conv_dims[-1]

        self.predictor = Conv2d(cur_channels, num_classes, kernel_size=1, stride=1, padding=0)

        for layer in [*self.conv_norm_relus, self.deconv]:
            c2_msra_fill(layer)
        nn.init.normal_(self.predictor.weight, std=0.001)
        if self.predictor.bias is not None:
            nn.init.constant_(self.predictor.bias, 0)

    @classmethod
    def from_config(cls, cfg: Any, input_shape: ShapeSpec) -> dict[str, Any]:
        ret = super().from_config(cfg, input_shape)
        head = cfg.MODEL.ROI_MASK_HEAD
        ret.update(
            conv_dims=[head.CONV_DIM] * (head.NUM_CONV + 1),  # +1 for the deconv
            conv_norm=head.NORM,
            input_shape=input_shape,
            num_classes=1 if head.CLS_AGNOSTIC_MASK else cfg.MODEL.ROI_HEADS.NUM_CLASSES,
        )
        return ret

    def layers(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x)
        return x

    def forward(  # type: ignore[override]  # the head's forward(x, instances), not Sequential's
        self, x: Any, instances: list[Instances]
    ) -> dict[str, torch.Tensor] | list[Instances]:
        if not self.training and self._predicted_class_only(x):
            mask_rcnn_inference(self._predicted_class_logits(x, instances), instances)
            return instances
        return super().forward(x, instances)

    def _predicted_class_only(self, x: Any) -> bool:
        """Whether inference may compute only the logits of each region's predicted class (the
        only ones mask_rcnn_inference reads): this class's own layers, class-specific masks, eager
        CPU inference. A subclass with other layers, a graph capture or a GPU take the plain way."""
        return (
            type(self).layers is MaskRCNNConvUpsampleHead.layers
            and isinstance(x, torch.Tensor)
            and eager_cpu_inference(x)  # first: a graph capture must not see the size test below
            and x.shape[0] > 0
            and self.predictor.out_channels > 1
            and self.predictor.norm is None
            and self.predictor.activation is None
        )

    def _predicted_class_logits(self, x: torch.Tensor, instances: list[Instances]) -> torch.Tensor:
        """(R, 1, M, M) logits of each region's predicted class: ``layers`` with the 1x1 predictor
        applied to that class alone (1/num_classes of its work), channels-last (oneDNN's deconv
        takes half its NCHW time) and the deconv's ReLU in place. Equal to ``layers(x)[i, class_i]``
        up to float rounding."""
        if self.conv_norm_relus and channels_last_pays(x, self.conv_norm_relus[0]):
            x = x.contiguous(memory_format=torch.channels_last)
        for conv in self.conv_norm_relus:
            x = conv(x)
        x = F.relu_(self.deconv(x.contiguous(memory_format=torch.channels_last)))
        classes = cat([i.pred_classes for i in instances])
        weight = self.predictor.weight.flatten(1)[classes]  # (R, C)
        logits = torch.bmm(weight.unsqueeze(1), x.flatten(2))  # (R, 1, M*M)
        if self.predictor.bias is not None:
            logits += self.predictor.bias[classes].view(-1, 1, 1)
        return logits.view(x.shape[0], 1, *x.shape[2:])


def build_mask_head(cfg: Any, input_shape: Any) -> nn.Module:
    """Build the mask head named by ``cfg.MODEL.ROI_MASK_HEAD.NAME``."""
    name = cfg.MODEL.ROI_MASK_HEAD.NAME
    return ROI_MASK_HEAD_REGISTRY.get(name)(cfg, input_shape)
