"""detectron2's TorchScript helpers (``detectron2.export.torchscript``), as far as modet goes.

modet does not script models: TorchScript is deprecated in PyTorch, and modet's models export
through ``torch.export`` and ONNX instead (``export_program``, ``export_onnx``).
``scripting_with_instances`` therefore says so, clearly, instead of scripting.

What it keeps is the typed-fields form of ``Instances`` that detectron2 generates for
TorchScript: ``patch_instances(fields)`` yields a class holding exactly the declared fields,
with ``from_instances`` and ``convert_scripted_instances`` converting both ways, so code that
moves results between the two forms keeps working.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from modet.structures import Instances

__all__ = ["convert_scripted_instances", "patch_instances", "scripting_with_instances"]

_class_ids = itertools.count()


class _TypedInstances:
    """Base of the classes ``patch_instances`` makes: an image size and a fixed set of fields."""

    _field_types: dict[str, Any] = {}

    def __init__(self, image_size: tuple[int, int], **fields: Any):
        self.image_size = image_size
        self._values: dict[str, Any] = {}
        for name, value in fields.items():
            self.set(name, value)

    @classmethod
    def from_instances(cls, instances: Instances) -> _TypedInstances:
        """The same image size and fields; a field the class does not declare is an error."""
        return cls(instances.image_size, **instances.get_fields())

    def set(self, name: str, value: Any) -> None:
        if name not in self._field_types:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; its fields are {sorted(self._field_types)}"
            )
        self._values[name] = value

    def has(self, name: str) -> bool:
        return name in self._values

    def get_fields(self) -> dict[str, Any]:
        return dict(self._values)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        if name in type(self)._field_types:
            raise AttributeError(f"{type(self).__name__}: field {name!r} is not set")
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("image_size", "_values"):
            super().__setattr__(name, value)
        else:
            self.set(name, value)

    def __len__(self) -> int:
        for value in self._values.values():
            return len(value)
        raise NotImplementedError("Empty Instances does not support __len__!")


@contextlib.contextmanager
def patch_instances(fields: Mapping[str, Any]) -> Iterator[type[_TypedInstances]]:
    """Yield a new ``Instances``-like class whose fields are exactly ``fields`` (name -> type,
    e.g. ``{"proposal_boxes": Boxes, "scores": Tensor}``)."""
    if not fields:
        raise ValueError("patch_instances needs at least one field (name -> type)")
    name = f"ScriptedInstances{next(_class_ids)}"
    yield type(name, (_TypedInstances,), {"_field_types": dict(fields), "__module__": __name__})


def convert_scripted_instances(instances: _TypedInstances) -> Instances:
    """A regular ``Instances`` with the set fields of a ``patch_instances`` class's object."""
    result = Instances(instances.image_size)
    for name, value in instances.get_fields().items():
        result.set(name, value)
    return result


def scripting_with_instances(model: torch.nn.Module, fields: Mapping[str, Any]) -> Any:
    """detectron2 scripts ``model`` with TorchScript here. modet does not: it raises, naming the
    supported ways to export."""
    raise NotImplementedError(
        f"modet does not script models with TorchScript ({type(model).__name__}); export it with "
        "modet.export.export_program (torch.export) or export_onnx, or trace it with TracingAdapter"
    )
