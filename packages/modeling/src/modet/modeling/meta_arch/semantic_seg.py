"""Semantic segmentation: ``SemanticSegmentor`` and the FPN head of :paper:`PanopticFPN`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from modet.core.config import CfgNode, configurable
from modet.core.registry import Registry
from modet.ops import Conv2d, ShapeSpec, get_norm
from modet.ops.weight_init import c2_msra_fill
from modet.structures import ImageList

from ..backbone import Backbone, build_backbone
from ..backbone.backbone import required_size
from ..postprocessing import sem_seg_postprocess
from .base import ImageModel, requested_size

__all__ = ["SEM_SEG_HEADS_REGISTRY", "SemSegFPNHead", "SemanticSegmentor", "build_sem_seg_head"]

SEM_SEG_HEADS_REGISTRY = Registry("sem_seg_head", "SEM_SEG_HEADS")
SEM_SEG_HEADS_REGISTRY.__doc__ = """
Registry for semantic segmentation heads, which make semantic segmentation predictions
from feature maps.
"""


def gather_sem_seg_targets(
    batched_inputs: list[dict[str, Any]], model: ImageModel, *, owner: str, required: bool
) -> Tensor | None:
    """Pad every input's ``sem_seg`` into one (N, H, W) int64 batch on ``model``'s device.

    The inputs were checked by the model's ``_check_inputs`` (see ``input_checks``); the
    padding (to the backbone's size divisibility, like the images) holds the head's
    ``ignore_value``. Returns None when no input has ``sem_seg`` and ``required`` is False;
    ``owner`` names the model in errors.
    """
    present = ["sem_seg" in x for x in batched_inputs]
    if not any(present) and not required:
        return None
    if not all(present):
        missing = [i for i, p in enumerate(present) if not p]
        raise ValueError(f"{owner}: 'sem_seg' is missing from input(s) {missing}; training needs it in every input")
    targets = [item["sem_seg"].to(device=model.device, dtype=torch.long) for item in batched_inputs]
    backbone = model.backbone
    head: Any = model.sem_seg_head  # any head with ``ignore_value`` (SemSegFPNHead or a user's)
    return ImageList.from_tensors(
        targets, backbone.size_divisibility, head.ignore_value, backbone.padding_constraints
    ).tensor


class SemanticSegmentor(ImageModel):
    """Backbone + semantic segmentation head; outputs ``{"sem_seg": (C, H, W) logits}`` per image."""

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        pixel_mean: list[float],
        pixel_std: list[float],
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.sem_seg_head = sem_seg_head
        self._register_pixel_stats(pixel_mean, pixel_std)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict[str, Any]:
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "sem_seg_head": build_sem_seg_head(cfg, backbone.output_shape()),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    def forward(self, batched_inputs: list[dict[str, Any]]) -> Any:
        """Losses (``loss_sem_seg``) in training; a list of ``{"sem_seg": Tensor}`` in inference.

        ``sem_seg`` outputs are logits resized to each input's ``height``/``width``.
        """
        self._check_inputs(batched_inputs, needs_instances=False, needs_event_storage=False)
        # Targets first: bad ground truth fails before any compute.
        targets = gather_sem_seg_targets(batched_inputs, self, owner="SemanticSegmentor", required=self.training)
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        results, losses = self.sem_seg_head(features, targets)
        if self.training:
            return losses
        return [
            {"sem_seg": sem_seg_postprocess(result, image_size, *requested_size(input_per_image, image_size))}
            for result, input_per_image, image_size in zip(results, batched_inputs, images.image_sizes)
        ]


def build_sem_seg_head(cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> nn.Module:
    """Build the semantic segmentation head named by ``cfg.MODEL.SEM_SEG_HEAD.NAME``."""
    return SEM_SEG_HEADS_REGISTRY.get(cfg.MODEL.SEM_SEG_HEAD.NAME)(cfg, input_shape)


class SemSegFPNHead(nn.Module):
    """The semantic head of :paper:`PanopticFPN`: every FPN level is brought to ``common_stride``
    by conv + 2x upsampling stages, the levels are summed, and a 1x1 conv predicts classes.
    """

    @configurable
    def __init__(
        self,
        input_shape: dict[str, ShapeSpec],
        *,
        num_classes: int,
        conv_dims: int,
        common_stride: int,
        loss_weight: float = 1.0,
        norm: str | None = None,
        ignore_value: int = -1,
    ) -> None:
        """
        Args:
            input_shape: the features the head uses, by name.
            conv_dims: channels of the per-level convs.
            common_stride: stride all levels are upsampled to before summing.
            loss_weight: multiplies the cross-entropy loss.
            norm: normalisation of the per-level convs ("GN", "", None...).
            ignore_value: label that gets no loss (also used to pad the targets).
        """
        super().__init__()
        strides = {
            name: required_size(shape.stride, f"SemSegFPNHead: stride of feature {name!r}")
            for name, shape in input_shape.items()
        }
        shapes = sorted(input_shape.items(), key=lambda item: strides[item[0]])
        if not shapes:
            raise ValueError("SemSegFPNHead(input_shape=) cannot be empty!")
        self.in_features = [name for name, _ in shapes]
        self.ignore_value = ignore_value
        self.common_stride = common_stride
        self.loss_weight = loss_weight
        self.num_classes = num_classes

        self.scale_heads = []
        for name, shape in shapes:
            head_ops: list[nn.Module] = []
            head_length = max(1, int(math.log2(strides[name]) - math.log2(common_stride)))
            for k in range(head_length):
                conv = Conv2d(
                    shape.channels if k == 0 else conv_dims,
                    conv_dims,
                    kernel_size=3,
                    stride=1,
                    padding=1,
                    bias=not norm,
                    norm=get_norm(norm, conv_dims),
                    activation=F.relu,
                    winograd=True,
                )
                c2_msra_fill(conv)
                head_ops.append(conv)
                if shape.stride != common_stride:
                    head_ops.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.scale_heads.append(nn.Sequential(*head_ops))
            self.add_module(name, self.scale_heads[-1])
        self.predictor = Conv2d(conv_dims, num_classes, kernel_size=1, stride=1, padding=0)
        c2_msra_fill(self.predictor)

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        in_features = cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES
        missing = [f for f in in_features if f not in input_shape]
        if missing:
            raise ValueError(
                f"MODEL.SEM_SEG_HEAD.IN_FEATURES names {missing}, which the backbone does not produce "
                f"(it has {sorted(input_shape)})"
            )
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in in_features},
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "conv_dims": cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM,
            "common_stride": cfg.MODEL.SEM_SEG_HEAD.COMMON_STRIDE,
            "norm": cfg.MODEL.SEM_SEG_HEAD.NORM,
            "loss_weight": cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT,
        }

    def forward(self, features: dict[str, Tensor], targets: Tensor | None = None) -> tuple[Tensor | None, dict]:
        """Training: ``(None, losses)``; inference: ``(logits at input resolution, {})``."""
        x = self.layers(features)
        if self.training:
            if targets is None:
                raise ValueError("SemSegFPNHead needs sem_seg targets in training")
            return None, self.losses(x, targets)
        x = F.interpolate(x, scale_factor=self.common_stride, mode="bilinear", align_corners=False)
        return x, {}

    def layers(self, features: dict[str, Tensor]) -> Tensor:
        """Logits (N, num_classes, H / common_stride, W / common_stride): the levels' sum, classified."""
        x = self.scale_heads[0](features[self.in_features[0]])
        for head, name in zip(self.scale_heads[1:], self.in_features[1:]):
            x = x + head(features[name])
        return self.predictor(x)

    def losses(self, predictions: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """``loss_sem_seg``: cross entropy at input resolution, ignoring ``ignore_value`` pixels."""
        predictions = predictions.float()  # cross-entropy in half precision is unstable
        predictions = F.interpolate(predictions, scale_factor=self.common_stride, mode="bilinear", align_corners=False)
        loss = F.cross_entropy(predictions, targets, reduction="mean", ignore_index=self.ignore_value)
        return {"loss_sem_seg": loss * self.loss_weight}
