"""``PicklableWrapper``: lets lambdas and local functions cross process boundaries (detectron2's
``detectron2.utils.serialize``), e.g. a dataset's mapper sent to dataloader workers."""

from __future__ import annotations

from typing import Any

import cloudpickle

__all__ = ["PicklableWrapper"]


class PicklableWrapper:
    """Wrap any object so that it pickles through cloudpickle (which serialises lambdas and
    closures by value). Calls and attribute lookups go to the wrapped object."""

    _obj: Any

    def __init__(self, obj: Any):
        while isinstance(obj, PicklableWrapper):
            obj = obj._obj  # never nest wrappers
        self._obj = obj

    def __reduce__(self):
        return cloudpickle.loads, (cloudpickle.dumps(self._obj),)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._obj(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "_obj":  # not yet set (e.g. during copy): no recursion
            raise AttributeError(name)
        return getattr(self._obj, name)
