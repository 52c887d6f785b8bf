"""Helpers for tests of code built on modet's structures (detectron2's ``detectron2.utils.testing``).

- :func:`random_boxes`: valid random XYXY boxes.
- :func:`assert_instances_allclose`: two ``Instances`` hold the same fields and values.
- :func:`convert_scripted_instances`: an ``Instances`` from any object carrying the same fields
  (a TorchScript-compiled Instances class, for example).
- :func:`reload_script_model`: a TorchScript module saved and loaded back, as a deployment would.
"""

from __future__ import annotations

import io
from typing import Any

import torch

from .boxes import Boxes
from .instances import Instances
from .masks import ROIMasks

__all__ = ["assert_instances_allclose", "convert_scripted_instances", "random_boxes", "reload_script_model"]


def random_boxes(num_boxes: int, max_coord: float = 100, device: str | torch.device = "cpu") -> torch.Tensor:
    """An (num_boxes, 4) float tensor of XYXY boxes with 1 <= x0 <= x1 < max_coord (and the same for y).

    Corners start at >= 1 so no box is degenerate at the origin, and the far corner is the near
    one plus a non-negative size, so widths and heights are never negative.
    """
    boxes = torch.rand(num_boxes, 4, device=device) * (max_coord * 0.5)
    boxes.clamp_(min=1.0)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def convert_scripted_instances(instances: Any) -> Instances:
    """A plain :class:`Instances` with the fields of ``instances``.

    ``instances`` is an ``Instances`` or an object with ``image_size`` and either ``get_fields()``
    or detectron2's scripted layout (``_field_names`` with values in ``_<name>``, ``None`` when unset).
    """
    if not hasattr(instances, "image_size"):
        raise TypeError(f"Expected an Instances-like object with an image_size, got {type(instances).__name__}")
    result = Instances(instances.image_size)
    if hasattr(instances, "get_fields"):
        fields = dict(instances.get_fields())
    else:
        fields = {name: getattr(instances, "_" + name, None) for name in instances._field_names}
    for name, value in fields.items():
        if value is not None:
            result.set(name, value)
    return result


def assert_instances_allclose(
    input: Any, other: Any, *, rtol: float = 1e-5, msg: str = "", size_as_tensor: bool = False
) -> None:
    """Raise ``AssertionError`` unless both hold the same image size, field names and close values.

    Floating tensors are compared with an absolute tolerance of ``rtol`` times the field's largest
    magnitude; boxes (coordinates of order 100) with ``100 * rtol``; other tensors exactly.
    ``size_as_tensor`` compares ``image_size`` as tensors (traced models return tensor sizes).
    """
    input = input if isinstance(input, Instances) else convert_scripted_instances(input)
    other = other if isinstance(other, Instances) else convert_scripted_instances(other)
    prefix = msg.rstrip() + " " if msg else "Two Instances are different! "

    if size_as_tensor:
        same_size = torch.equal(torch.as_tensor(input.image_size), torch.as_tensor(other.image_size))
    else:
        same_size = tuple(input.image_size) == tuple(other.image_size)
    assert same_size, prefix + f"image_size is {input.image_size} vs. {other.image_size}!"

    fields, fields_other = sorted(input.get_fields()), sorted(other.get_fields())
    assert fields == fields_other, prefix + f"Fields are {fields} vs {fields_other}!"
    for name in fields:
        a, b = input.get(name), other.get(name)
        if isinstance(a, (Boxes, ROIMasks)):
            assert torch.allclose(a.tensor, b.tensor, atol=100 * rtol), prefix + f"Field {name} differs too much!"
        elif isinstance(a, torch.Tensor):
            if a.dtype.is_floating_point:
                magnitude = a.abs().max().item() if a.numel() else 0.0
                assert torch.allclose(a, b, atol=magnitude * rtol), prefix + f"Field {name} differs too much!"
            else:
                assert torch.equal(a, b), prefix + f"Field {name} is different!"
        else:
            raise ValueError(f"Field {name}: cannot compare values of type {type(a).__name__}")


def reload_script_model(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """Save a TorchScript module to memory and load it back."""
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)
