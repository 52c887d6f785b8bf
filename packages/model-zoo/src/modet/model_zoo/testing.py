"""Helpers for tests that build zoo models (detectron2's ``detectron2.utils.testing.get_model_no_weights``)."""

from __future__ import annotations

import torch
from torch import nn

from modet.core.config import CfgNode, instantiate
from modet.modeling import build_model

from .model_zoo import get_config

__all__ = ["get_model_no_weights"]


def get_model_no_weights(config_path: str) -> nn.Module:
    """The model of a zoo config (YAML or LazyConfig ``.py``) with random weights: nothing is loaded,
    not even the ImageNet initialisation ``model_zoo.get`` would download. On CPU without CUDA."""
    cfg = get_config(config_path)
    if isinstance(cfg, CfgNode):
        if not torch.cuda.is_available():
            cfg.MODEL.DEVICE = "cpu"
        return build_model(cfg)
    return instantiate(cfg.model)
