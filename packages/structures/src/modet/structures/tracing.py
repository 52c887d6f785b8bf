"""Whether the model is being captured by ``torch.export``, for code that has a branch-free form."""

from __future__ import annotations

import torch

__all__ = ["is_exporting"]


def is_exporting() -> bool:
    """True while ``torch.export`` (also under ``torch.onnx.export(dynamo=True)``) captures the model.

    Code with a branch on a data-dependent value (a count of boxes, ``tensor.all()``) takes its
    branch-free form then; both forms give the same numbers. modet.ops re-exports it.
    """
    check = getattr(torch.compiler, "is_exporting", None)  # torch >= 2.7
    return bool(check is not None and check())
