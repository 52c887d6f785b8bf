"""``Instances``: the per-image list of detected or annotated objects, stored as equal-length fields."""

from __future__ import annotations

import itertools
from typing import Any

import torch

from .tracing import is_exporting


class Instances:
    """A list of instances in one image, with fields (boxes, masks, labels, scores...) of equal length.

    Fields are set and read as attributes (``instances.pred_boxes = Boxes(...)``) or with
    ``set/get/has/remove``. ``instances[idx]`` indexes every field (int, slice, bool mask or
    index tensor) and returns a new ``Instances``. Non-field attributes must start with "_".
    """

    def __init__(self, image_size: tuple[int, int], **kwargs: Any):
        """``image_size`` is (height, width); keyword arguments become fields."""
        self._image_size = image_size
        self._fields: dict[str, Any] = {}
        for k, v in kwargs.items():
            self.set(k, v)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the image."""
        return self._image_size

    def __setattr__(self, name: str, val: Any) -> None:
        if name.startswith("_"):
            super().__setattr__(name, val)
        else:
            self.set(name, val)

    def __getattr__(self, name: str) -> Any:
        if name == "_fields" or name not in self._fields:
            raise AttributeError(f"Cannot find field '{name}' in the given Instances!")
        return self._fields[name]

    def set(self, name: str, value: Any) -> None:
        """Set field ``name``; its length must equal that of the fields already present."""
        if is_exporting():  # lengths are symbolic there (no int to compare); modet's models keep them equal
            self._fields[name] = value
            return
        try:
            data_len = len(value)
        except TypeError:
            raise TypeError(
                f"Instances field '{name}' must have a length (tensor, list, Boxes...), got {type(value).__name__}"
            ) from None
        if self._fields and data_len != len(self):
            raise ValueError(f"Adding a field '{name}' of length {data_len} to an Instances of length {len(self)}")
        self._fields[name] = value

    def has(self, name: str) -> bool:
        """Whether field ``name`` exists."""
        return name in self._fields

    def remove(self, name: str) -> None:
        """Remove field ``name``."""
        if name not in self._fields:
            raise KeyError(f"Instances has no field '{name}'; fields are {list(self._fields)}")
        del self._fields[name]

    def get(self, name: str) -> Any:
        """The field called ``name``."""
        if name not in self._fields:
            raise KeyError(f"Instances has no field '{name}'; fields are {list(self._fields)}")
        return self._fields[name]

    def get_fields(self) -> dict[str, Any]:
        """The name -> value dict of fields; modifying it modifies this object."""
        return self._fields

    def to(self, *args: Any, **kwargs: Any) -> Instances:
        """A new Instances with ``.to(*args, **kwargs)`` applied to every field that has it."""
        ret = Instances(self._image_size)
        for k, v in self._fields.items():
            if hasattr(v, "to"):
                v = v.to(*args, **kwargs)
            ret.set(k, v)
        return ret

    def __getitem__(self, item: int | slice | torch.Tensor) -> Instances:
        """Index every field by ``item``; an int keeps a length-1 Instances."""
        if type(item) is int:
            if item >= len(self) or item < -len(self):
                raise IndexError(f"Instances index {item} out of range for {len(self)} instances")
            item = slice(item, None, len(self))
        ret = Instances(self._image_size)
        for k, v in self._fields.items():
            ret.set(k, v[item])
        return ret

    def __len__(self) -> int:
        for v in self._fields.values():
            return len(v)
        raise NotImplementedError("Empty Instances does not support __len__!")

    def __iter__(self):
        raise NotImplementedError("`Instances` object is not iterable!")

    @staticmethod
    def cat(instance_lists: list[Instances]) -> Instances:
        """Concatenate Instances of the same image size; fields are joined with torch.cat, list + or ``type.cat``."""
        if not isinstance(instance_lists, (list, tuple)) or len(instance_lists) == 0:
            raise ValueError("Instances.cat expects a non-empty list of Instances")
        for i, inst in enumerate(instance_lists):
            if not isinstance(inst, Instances):
                raise TypeError(f"Instances.cat: element {i} is a {type(inst).__name__}, not Instances")
        if len(instance_lists) == 1:
            return instance_lists[0]

        image_size = instance_lists[0].image_size
        if not isinstance(image_size, torch.Tensor):  # tensors are compared elsewhere when tracing
            for i, inst in enumerate(instance_lists[1:], start=1):
                if inst.image_size != image_size:
                    raise ValueError(
                        f"Instances.cat: element {i} has image_size {inst.image_size}, element 0 has {image_size}"
                    )
        ret = Instances(image_size)
        for k in instance_lists[0]._fields:
            values = [i.get(k) for i in instance_lists]
            v0 = values[0]
            merged: Any
            if isinstance(v0, torch.Tensor):
                merged = torch.cat(values, dim=0)
            elif isinstance(v0, list):
                merged = list(itertools.chain(*values))
            elif hasattr(type(v0), "cat"):
                merged = type(v0).cat(values)
            else:
                raise ValueError(f"Unsupported type {type(v0)} for concatenation of field '{k}'")
            ret.set(k, merged)
        return ret

    def __str__(self) -> str:
        fields = ", ".join(f"{k}: {v}" for k, v in self._fields.items())
        num = len(self) if self._fields else 0
        return (
            f"{self.__class__.__name__}(num_instances={num}, image_height={self._image_size[0]}, "
            f"image_width={self._image_size[1]}, fields=[{fields}])"
        )

    __repr__ = __str__
