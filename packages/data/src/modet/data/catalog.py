"""``DatasetCatalog`` (name -> function returning list[dict]) and ``MetadataCatalog`` (name -> Metadata)."""

from __future__ import annotations

import logging
import types
from collections import UserDict
from collections.abc import Callable
from typing import Any

__all__ = ["DatasetCatalog", "Metadata", "MetadataCatalog"]

logger = logging.getLogger(__name__)

_builtins_registered = False


def _register_builtin_datasets() -> None:
    """Register detectron2's builtin COCO datasets once, on the first use of either catalog."""
    global _builtins_registered
    if _builtins_registered:
        return
    _builtins_registered = True  # before registering: registration itself uses the catalogs
    from .datasets.builtin import datasets_root, register_all_coco  # deferred: .datasets imports this module

    register_all_coco(datasets_root())


class _CatalogDict(UserDict):
    """A ``UserDict`` whose entries include detectron2's builtin datasets from its first use."""

    @property
    def data(self) -> dict[str, Any]:
        _register_builtin_datasets()
        return self._entries

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._entries = value


class _DatasetCatalog(_CatalogDict):
    """A global map from a dataset name to a function that returns the dataset as ``list[dict]``.

    Registering a function rather than the data keeps registration cheap: nothing is read
    until a loader asks for the dataset. detectron2's builtin COCO datasets (``coco_2017_train``,
    ``keypoints_coco_2017_val``…, see ``modet.data.datasets.builtin``) are registered on first use.
    """

    def register(self, name: str, func: Callable[[], list[dict]]) -> None:
        if not callable(func):
            raise TypeError(f"DatasetCatalog.register({name!r}, ...) needs a callable returning list[dict]")
        if name in self:
            raise KeyError(f"Dataset '{name}' is already registered!")
        self[name] = func

    def get(self, name: str) -> list[dict]:  # type: ignore[override]
        try:
            func = self[name]
        except KeyError as exc:
            raise KeyError(
                f"Dataset '{name}' is not registered! Available datasets are: {', '.join(self.keys()) or '(none)'}"
            ) from exc
        return func()

    def list(self) -> list[str]:
        return list(self.keys())

    def remove(self, name: str) -> None:
        self.pop(name)

    def __str__(self) -> str:
        return f"DatasetCatalog(registered datasets: {', '.join(self.keys())})"

    __repr__ = __str__


DatasetCatalog = _DatasetCatalog()


class Metadata(types.SimpleNamespace):
    """Attributes shared by a whole dataset (``thing_classes``, ``keypoint_names``, ``json_file``…).

    An attribute, once set, cannot change to a different value: two parts of a program
    disagreeing about a dataset is an error, not a silent overwrite.
    """

    name: str = "N/A"

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        raise AttributeError(
            f"Attribute '{key}' does not exist in the metadata of dataset '{self.name}'. "
            f"Available keys are {sorted(self.__dict__)}."
        )

    def __setattr__(self, key: str, val: Any) -> None:
        if key in self.__dict__:
            old = self.__dict__[key]
            if not _same_value(old, val):
                raise AssertionError(
                    f"Attribute '{key}' in the metadata of '{self.name}' cannot be set to a different value!\n"
                    f"{old} != {val}"
                )
        super().__setattr__(key, val)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def set(self, **kwargs: Any) -> Metadata:
        for key, val in kwargs.items():
            setattr(self, key, val)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)


def _same_value(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and other values without a plain truth value
        return a is b


class _MetadataCatalog(_CatalogDict):
    """A global map from a dataset name to its ``Metadata``, created empty on first access.

    detectron2's builtin COCO datasets come with their metadata (class names and colours,
    keypoint names, flip map and skeleton, panoptic stuff classes).
    """

    def get(self, name: str) -> Metadata:  # type: ignore[override]
        if not name:
            raise ValueError("MetadataCatalog.get() needs a non-empty dataset name")
        if name not in self:
            self[name] = Metadata(name=name)
        return self[name]

    def list(self) -> list[str]:
        return list(self.keys())

    def remove(self, name: str) -> None:
        self.pop(name)

    def __str__(self) -> str:
        return f"MetadataCatalog(registered metadata: {', '.join(self.keys())})"

    __repr__ = __str__


MetadataCatalog = _MetadataCatalog()
