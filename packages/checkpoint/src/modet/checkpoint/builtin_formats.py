"""The checkpoint formats modet-checkpoint ships: torch, detectron2/Caffe2 ``.pkl`` and pycls.

They are registered through the ``modet_checkpoint_formats`` hook in ``plugin.py``, like any
third-party format.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from .errors import CorruptCheckpointError
from .formats import CheckpointFormat
from .safe_pickle import _import_numpy_attr, safe_load_pickle

__all__ = ["PICKLE_FORMAT", "PYCLS_FORMAT", "TORCH_FORMAT", "builtin_formats"]

logger = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
# torch.save's legacy (non-zip) files start with a pickled magic number (protocol 2, LONG1).
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def _numpy_safe_globals() -> list[Any]:
    """numpy array/scalar reconstruction, under numpy 2 and numpy 1.x names, for weights_only loads.

    Training states sometimes hold numpy scalars or arrays (e.g. from a scheduler); rebuilding
    them runs no code from the file, like the ``.pkl`` unpickler's allow-list.
    """
    reconstruct = _import_numpy_attr("multiarray", "_reconstruct")
    scalar = _import_numpy_attr("multiarray", "scalar")
    dtype_classes = {type(np.dtype(code)) for code in "?bhilqBHILQefdgFDG"}
    allowed: list[Any] = [np.ndarray, np.dtype, reconstruct, scalar, *dtype_classes]
    for core in ("numpy.core", "numpy._core"):
        allowed += [(reconstruct, f"{core}.multiarray._reconstruct"), (scalar, f"{core}.multiarray.scalar")]
    return allowed


def _torch_load(path: str) -> Any:
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is None:  # torch < 2.5
        return torch.load(path, map_location="cpu", weights_only=True)
    with safe_globals(_numpy_safe_globals()):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_torch(path: str) -> dict[str, Any]:
    """A ``torch.save`` file: a full checkpoint ``{"model": ..., ...}`` or a bare state dict."""
    loaded = _torch_load(path)
    if not isinstance(loaded, dict):
        raise CorruptCheckpointError(f"Checkpoint {path} holds a {type(loaded).__name__}, not a dict or state dict")
    if "model" not in loaded:
        loaded = {"model": loaded}
    return loaded


def save_torch(obj: Any, path: str) -> None:
    # Through a file object, so the archive's inner folder name does not depend on the
    # (temporary) file name and equal checkpoints are equal bytes.
    with open(path, "wb") as f:
        torch.save(obj, f)


def sniff_torch(head: bytes) -> bool:
    return head.startswith(_ZIP_MAGIC) or head.startswith(_TORCH_LEGACY_MAGIC)


def load_pickle(path: str) -> dict[str, Any]:
    """A detectron2 model-zoo ``.pkl`` or a Caffe2 Detectron ``.pkl``, through the safe unpickler."""
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise CorruptCheckpointError(f"Checkpoint {path} holds a {type(data).__name__}, expected a dict")
    if "model" in data and "__author__" in data:
        logger.info("Reading a file from '%s'", data["__author__"])
        return data
    # Caffe2 / Detectron1: detection models keep weights under "blobs", ImageNet models at the top.
    blobs = data.get("blobs", data)
    if not isinstance(blobs, dict):
        raise CorruptCheckpointError(f"Checkpoint {path} has 'blobs' of type {type(blobs).__name__}, expected a dict")
    weights = {name: value for name, value in blobs.items() if not name.endswith("_momentum")}
    return {"model": weights, "__author__": "Caffe2", "matching_heuristics": True}


def sniff_pickle(head: bytes) -> bool:
    # Protocol 2+ pickles start with PROTO; legacy torch files are pickles too but belong to torch.
    return head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and not sniff_torch(head)


def load_pycls(path: str) -> dict[str, Any]:
    """A pycls ``.pyth`` checkpoint (``{"model_state": ...}``), matched to the model by suffix heuristics."""
    data = _torch_load(path)
    if not isinstance(data, dict) or "model_state" not in data:
        raise CorruptCheckpointError(
            f"Cannot load .pyth file {path}: pycls checkpoints contain 'model_state', this one does not"
        )
    state = {k: v for k, v in data["model_state"].items() if not k.endswith("num_batches_tracked")}
    return {"model": state, "__author__": "pycls", "matching_heuristics": True}


TORCH_FORMAT = CheckpointFormat(
    name="torch",
    suffixes=(".pth", ".pt", ".pth.tar", ".ckpt"),
    load=load_torch,
    save=save_torch,
    sniff=sniff_torch,
    description="torch.save files, read with torch.load(weights_only=True)",
)
PICKLE_FORMAT = CheckpointFormat(
    name="detectron2-pkl",
    suffixes=(".pkl",),
    load=load_pickle,
    sniff=sniff_pickle,
    description="detectron2 model-zoo and Caffe2 Detectron pickles, read with a numpy-only unpickler",
)
PYCLS_FORMAT = CheckpointFormat(
    name="pycls",
    suffixes=(".pyth",),
    load=load_pycls,
    description="pycls ImageNet checkpoints",
)


def builtin_formats() -> list[CheckpointFormat]:
    return [TORCH_FORMAT, PICKLE_FORMAT, PYCLS_FORMAT]
