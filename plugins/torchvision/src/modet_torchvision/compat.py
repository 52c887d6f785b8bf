"""What a torchvision-trained detector needs from modet beyond detectron2's built-ins.

- anchors: torchvision rounds its cell anchors to whole pixels and orders them
  aspect-ratio-major (for each ratio, every size); detectron2 keeps fractional corners and
  orders them size-major. A checkpoint's RPN/RetinaNet outputs are laid out per anchor, so
  its anchors must be these.
- RetinaNet's p6/p7: torchvision computes them from p5, detectron2 from res5.
"""

from __future__ import annotations

import torch

from modet.modeling.anchor_generator import DefaultAnchorGenerator
from modet.modeling.backbone import FPN
from modet.modeling.backbone.fpn import LastLevelP6P7
from modet.modeling.backbone.resnet import build_resnet_backbone


class TorchvisionAnchorGenerator(DefaultAnchorGenerator):
    """``DefaultAnchorGenerator`` with torchvision's rounded, ratio-major cell anchors."""

    def generate_cell_anchors(self, sizes=(32, 64, 128, 256, 512), aspect_ratios=(0.5, 1, 2)) -> torch.Tensor:
        # float32 throughout, as torchvision computes them, so halves round the same way
        scales = torch.as_tensor(sizes, dtype=torch.float32)
        h_ratios = torch.sqrt(torch.as_tensor(aspect_ratios, dtype=torch.float32))
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
        return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def build_retinanet_resnet_fpn_p5_backbone(cfg, input_shape):
    """detectron2's RetinaNet backbone, but with p6/p7 computed from p5 as torchvision does."""

    out_channels = cfg.MODEL.FPN.OUT_CHANNELS
    return FPN(
        bottom_up=build_resnet_backbone(cfg, input_shape),
        in_features=list(cfg.MODEL.FPN.IN_FEATURES),
        out_channels=out_channels,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelP6P7(out_channels, out_channels, in_feature="p5"),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )
