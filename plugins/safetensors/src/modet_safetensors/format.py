"""The ``.safetensors`` checkpoint format.

A safetensors file holds named tensors and a string-to-string header, and loading it runs no
code. A modet checkpoint (``{"model": state_dict, "optimizer": ..., "iteration": 7}``) is
stored as:

- every model tensor under its own state-dict key, so other tools read the file as a plain
  state dict;
- every other tensor (optimizer moments...) under ``<entry>/<path>``, e.g.
  ``optimizer/state/0/exp_avg``;
- in the header, ``modet.layout``: the non-model entries as JSON with tensors replaced by
  their names, ``modet.model_keys`` (state-dict order) and ``modet.model_metadata`` (the state
  dict's ``_metadata``: module versions, which e.g. FrozenBatchNorm2d reads when loading).

A file without that header (from any other tool) loads as ``{"model": tensors}``.
"""

from __future__ import annotations

import json
import struct
from collections import OrderedDict
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from modet.checkpoint import CheckpointFormat

__all__ = ["SAFETENSORS_FORMAT", "load_safetensors", "save_safetensors", "sniff_safetensors"]

LAYOUT_KEY = "modet.layout"
MODEL_KEYS_KEY = "modet.model_keys"
MODEL_METADATA_KEY = "modet.model_metadata"
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # the limit safetensors itself enforces


class _Encoder:
    """Turns nested checkpoint data into JSON, moving tensors into a flat name -> tensor dict."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def encode(self, value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            self.tensors[path] = value
            return {"__tensor__": path}
        if isinstance(value, dict):
            return {
                "__dict__": [[self.encode(k, f"{path}/<key>"), self.encode(v, f"{path}/{k}")] for k, v in value.items()]
            }
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{path}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}/{i}") for i, v in enumerate(value)]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise TypeError(
            f"Cannot store {type(value).__name__} at {path!r} in a .safetensors checkpoint: only tensors, "
            "numbers, strings, None, and lists, tuples and dicts of them can be stored"
        )


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        if "__dict__" in value:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__dict__"]}
        raise ValueError(f"unknown entry in {LAYOUT_KEY}: {sorted(value)}")
    return value


def _storable(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Dense, contiguous CPU tensors that share no memory (what safetensors requires)."""
    result: dict[str, torch.Tensor] = {}
    seen_storages: set[int] = set()
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu()
        storage = tensor.untyped_storage()
        whole = tensor.is_contiguous() and storage.nbytes() == tensor.numel() * tensor.element_size()
        if not whole or storage.data_ptr() in seen_storages:
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        if tensor.numel():
            seen_storages.add(tensor.untyped_storage().data_ptr())
        result[name] = tensor
    return result


def save_safetensors(obj: dict[str, Any], path: str) -> None:
    """Write a modet checkpoint (or a bare state dict) to ``path`` as safetensors."""
    if not isinstance(obj, dict):
        raise TypeError(f"A .safetensors checkpoint must be a dict, got {type(obj).__name__}")
    # A full checkpoint {"model": ..., extras}, or a bare state dict.
    model = obj.get("model", obj)
    extras = {k: v for k, v in obj.items() if k != "model"} if model is not obj else {}
    tensors: dict[str, torch.Tensor] = {}
    for key, value in model.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"model entry {key!r} is a {type(value).__name__}; a state dict holds tensors")
        if "/" in key:
            raise ValueError(f"model key {key!r} contains '/', which modet reserves for non-model tensors")
        tensors[key] = value
    extra_tensors: dict[str, torch.Tensor] = {}
    layout = {key: _Encoder(extra_tensors).encode(value, key) for key, value in extras.items()}
    tensors.update(extra_tensors)
    model_metadata = getattr(model, "_metadata", None)
    header = {
        "format": "pt",
        LAYOUT_KEY: json.dumps(layout),
        MODEL_KEYS_KEY: json.dumps(list(model)),
        MODEL_METADATA_KEY: json.dumps(dict(model_metadata) if model_metadata is not None else None),
    }
    data = safetensors_bytes(_storable(tensors), metadata=header)
    with open(path, "wb") as f:
        f.write(data)


def load_safetensors(path: str) -> dict[str, Any]:
    """Read ``path``: a modet checkpoint if it has modet's header, else ``{"model": tensors}``."""
    with safe_open(path, framework="pt", device="cpu") as f:
        header = f.metadata() or {}
        tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    if LAYOUT_KEY not in header:
        return {"model": tensors}
    model: OrderedDict[str, torch.Tensor] = OrderedDict(
        (key, tensors[key]) for key in json.loads(header[MODEL_KEYS_KEY])
    )
    model_metadata = json.loads(header.get(MODEL_METADATA_KEY, "null"))
    if model_metadata is not None:
        model._metadata = OrderedDict(model_metadata)  # type: ignore[attr-defined]
    extras = {key: _decode(value, tensors) for key, value in json.loads(header[LAYOUT_KEY]).items()}
    return {"model": model, **extras}


def sniff_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then the JSON header."""
    if len(head) < 10:
        return False
    (header_size,) = struct.unpack("<Q", head[:8])
    return 2 <= header_size <= _MAX_HEADER_BYTES and head[8:9] == b"{"


SAFETENSORS_FORMAT = CheckpointFormat(
    name="safetensors",
    suffixes=(".safetensors",),
    load=load_safetensors,
    save=save_safetensors,
    sniff=sniff_safetensors,
    description="safetensors files (no code runs on load); modet checkpoints keep optimizer state and extras",
)
