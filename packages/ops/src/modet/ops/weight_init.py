"""Caffe2-style initializations (fvcore.nn.weight_init), used by detectron2's layers and heads."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

__all__ = ["c2_msra_fill", "c2_xavier_fill"]


def _weight_and_bias(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    # Any layer with ``weight`` and an optional ``bias`` (Conv2d, Linear, ...); nn.Module's
    # typing cannot say which attributes a subclass has.
    return cast(torch.Tensor, module.weight), cast("torch.Tensor | None", module.bias)


def c2_xavier_fill(module: nn.Module) -> None:
    """Caffe2's XavierFill: uniform He init with a=1 (fan_in), zero bias."""
    weight, bias = _weight_and_bias(module)
    nn.init.kaiming_uniform_(weight, a=1)
    if bias is not None:
        nn.init.constant_(bias, 0)


def c2_msra_fill(module: nn.Module) -> None:
    """Caffe2's MSRAFill: normal He init (fan_out, ReLU gain), zero bias."""
    weight, bias = _weight_and_bias(module)
    nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
    if bias is not None:
        nn.init.constant_(bias, 0)
