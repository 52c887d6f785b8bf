"""``META_ARCH_REGISTRY`` and ``build_model``."""

from __future__ import annotations

import torch
from torch import nn

from modet.core.config import CfgNode
from modet.core.registry import Registry

__all__ = ["META_ARCH_REGISTRY", "build_model"]

META_ARCH_REGISTRY = Registry("meta_arch", "META_ARCH")


def _device(cfg: CfgNode) -> torch.device:
    try:
        device = torch.device(cfg.MODEL.DEVICE)
    except RuntimeError as exc:
        raise ValueError(f"cfg.MODEL.DEVICE {cfg.MODEL.DEVICE!r} is not a device name: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"cfg.MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but CUDA is not available here; "
            "set cfg.MODEL.DEVICE = 'cpu' (the default 'cuda' follows detectron2)"
        )
    return device


def build_model(cfg: CfgNode) -> nn.Module:
    """The model named by ``cfg.MODEL.META_ARCHITECTURE``, on ``cfg.MODEL.DEVICE``, with random weights.

    Loading weights is the checkpointer's job (``DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)``).
    """
    meta_arch = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    device = _device(cfg)
    model = meta_arch(cfg)
    model.to(device)
    torch._C._log_api_usage_once("modet.modeling.meta_arch." + cfg.MODEL.META_ARCHITECTURE)
    return model
