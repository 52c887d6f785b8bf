"""fvcore's Caffe2-style initialisations (``c2_msra_fill``, ``c2_xavier_fill``), as detectron2 uses them."""

from __future__ import annotations

from torch import nn


def c2_msra_fill(module: nn.Module) -> None:
    """Kaiming normal over fan-out (Caffe2 ``MSRAFill``), zero bias."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, 0)


def c2_xavier_fill(module: nn.Module) -> None:
    """Caffe2 ``XavierFill``: uniform with scale sqrt(3 / fan_in), zero bias."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, 0)
