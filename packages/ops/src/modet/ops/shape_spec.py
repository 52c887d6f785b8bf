"""``ShapeSpec``: the shape of a feature map, passed between backbones and heads."""

from __future__ import annotations

import numbers

import attrs

__all__ = ["ShapeSpec"]


def _optional_int(instance: ShapeSpec, attribute: attrs.Attribute, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"ShapeSpec.{attribute.name} must be an int or None, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"ShapeSpec.{attribute.name} must be non-negative, got {value}")


@attrs.define(frozen=True, slots=True)
class ShapeSpec:
    """Channels, height, width and stride of a tensor; any of them may be unknown (None).

    Same fields and order as detectron2's ``ShapeSpec``, so both ``ShapeSpec(channels=256,
    stride=4)`` and ``ShapeSpec(256, None, None, 4)`` work.
    """

    channels: int | None = attrs.field(default=None, validator=_optional_int)
    height: int | None = attrs.field(default=None, validator=_optional_int)
    width: int | None = attrs.field(default=None, validator=_optional_int)
    stride: int | None = attrs.field(default=None, validator=_optional_int)
