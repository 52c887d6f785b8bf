"""Caffe2-style initialisations the heads use (fvcore's ``c2_msra_fill`` / ``c2_xavier_fill``)."""

from __future__ import annotations

from torch import nn


def c2_msra_fill(module: nn.Module) -> None:
    """Caffe2 ``MSRAFill``: kaiming normal over fan-out for the weight, zero bias."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, 0)


def c2_xavier_fill(module: nn.Module) -> None:
    """Caffe2 ``XavierFill`` (uniform, scale sqrt(3 / fan_in)), zero bias."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, 0)
