"""modet.ops: detectron2's ``detectron2.layers`` on PyTorch and torchvision.ops, nothing compiled."""

from importlib.metadata import version as _distribution_version

from .aspp import ASPP
from .batch_norm import CycleBatchNormList, FrozenBatchNorm2d, LayerNorm, NaiveSyncBatchNorm, get_norm
from .blocks import CNNBlockBase, DepthwiseSeparableConv2d
from .deform_conv import DeformConv, ModulatedDeformConv
from .losses import (
    ciou_loss,
    diou_loss,
    giou_loss,
    sigmoid_focal_loss,
    sigmoid_focal_loss_jit,
    sigmoid_focal_loss_star,
    sigmoid_focal_loss_star_jit,
    smooth_l1_loss,
)
from .mask_ops import paste_masks_in_image
from .nms import batched_nms, batched_nms_rotated, nms, nms_rotated
from .poolers import ROIPooler, assign_boxes_to_levels, convert_boxes_to_pooler_format
from .roi_align import ROIAlign, roi_align
from .roi_align_rotated import ROIAlignRotated, roi_align_rotated
from .rotated_boxes import pairwise_iou_rotated
from .shape_spec import ShapeSpec
from .wrappers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Linear,
    cat,
    cross_entropy,
    empty_input_loss_func_wrapper,
    interpolate,
    is_exporting,
    move_device_like,
    nonzero_tuple,
    shapes_to_tensor,
)

__version__ = _distribution_version("modet-ops")  # the one source of the version is pyproject.toml

__all__ = [
    "ASPP",
    "BatchNorm2d",
    "CNNBlockBase",
    "Conv2d",
    "ConvTranspose2d",
    "CycleBatchNormList",
    "DeformConv",
    "DepthwiseSeparableConv2d",
    "FrozenBatchNorm2d",
    "LayerNorm",
    "Linear",
    "ModulatedDeformConv",
    "NaiveSyncBatchNorm",
    "ROIAlign",
    "ROIAlignRotated",
    "ROIPooler",
    "ShapeSpec",
    "assign_boxes_to_levels",
    "batched_nms",
    "batched_nms_rotated",
    "cat",
    "ciou_loss",
    "convert_boxes_to_pooler_format",
    "cross_entropy",
    "diou_loss",
    "empty_input_loss_func_wrapper",
    "get_norm",
    "giou_loss",
    "interpolate",
    "is_exporting",
    "move_device_like",
    "nms",
    "nms_rotated",
    "nonzero_tuple",
    "pairwise_iou_rotated",
    "paste_masks_in_image",
    "roi_align",
    "roi_align_rotated",
    "shapes_to_tensor",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_jit",
    "sigmoid_focal_loss_star",
    "sigmoid_focal_loss_star_jit",
    "smooth_l1_loss",
]
