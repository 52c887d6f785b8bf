"""The flat form of a model's input and output, and the schema that turns it back into ``list[dict]``.

One image per call: inputs are ``image`` (C, H, W), ``height`` and ``width`` (int64 scalars, the
output size the model's ``list[dict]`` contract takes from the input dict). Outputs are the
tensors of the output dict in a fixed order; the schema (JSON, kept beside the exported file)
names each one and says how to rebuild ``Instances`` / ``Boxes`` / ``sem_seg`` from them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from modet.structures import Boxes, Instances

__all__ = ["SCHEMA_SUFFIX", "SCHEMA_VERSION", "flatten_outputs", "read_schema", "unflatten_outputs", "write_schema"]

SCHEMA_VERSION = 1
SCHEMA_SUFFIX = ".schema.json"
INPUT_NAMES = ("image", "height", "width")
# Keys of a model's output dict that hold Instances (detections, or an RPN's proposals).
INSTANCES_KEYS = ("instances", "proposals")


def flatten_outputs(output: dict[str, Any]) -> tuple[list[torch.Tensor], list[dict[str, str]]]:
    """Tensors of one image's output dict, and for each its entry of the output schema.

    ``panoptic_seg`` is left out: it is combined from ``instances`` and ``sem_seg`` after the
    graph (see :func:`unflatten_outputs`), as detectron2's export does.
    """
    tensors: list[torch.Tensor] = []
    entries: list[dict[str, str]] = []
    for key, value in output.items():
        if key in INSTANCES_KEYS:
            for field, field_value in value.get_fields().items():
                kind = "Boxes" if isinstance(field_value, Boxes) else "Tensor"
                tensor = field_value.tensor if isinstance(field_value, Boxes) else field_value
                if not isinstance(tensor, torch.Tensor):
                    raise TypeError(f"output {key}.{field} is a {type(field_value).__name__}, not a tensor or Boxes")
                tensors.append(tensor)
                entries.append({"name": f"{key}.{field}", "key": key, "field": field, "kind": kind})
        elif key == "sem_seg":
            tensors.append(value)
            entries.append({"name": key, "key": key, "kind": "Tensor"})
        elif key != "panoptic_seg":
            raise TypeError(f"output key {key!r} has no flat form (known: {(*INSTANCES_KEYS, 'sem_seg')})")
    return tensors, entries


def unflatten_outputs(
    schema: dict[str, Any], tensors: list[torch.Tensor] | tuple[torch.Tensor, ...], output_size: tuple[int, int]
) -> dict[str, Any]:
    """One image's output dict, rebuilt from the flat outputs by the schema.

    ``output_size`` is the (height, width) the outputs were produced for (``Instances.image_size``).
    """
    entries = schema["outputs"]
    if len(tensors) != len(entries):
        raise ValueError(f"got {len(tensors)} outputs, the schema names {len(entries)}: {[e['name'] for e in entries]}")
    output: dict[str, Any] = {}
    for entry, tensor in zip(entries, tensors):
        key = entry["key"]
        if key in INSTANCES_KEYS:
            instances = output.setdefault(key, Instances(output_size))
            instances.set(entry["field"], Boxes(tensor) if entry["kind"] == "Boxes" else tensor)
        else:
            output[key] = tensor
    panoptic = schema.get("panoptic")
    if panoptic is not None:
        # The greedy placement of instances is sequential: it runs here, on the graph's outputs.
        from modet.modeling.meta_arch.panoptic_fpn import combine_semantic_and_instance_outputs

        output["panoptic_seg"] = combine_semantic_and_instance_outputs(
            output["instances"],
            output["sem_seg"].argmax(dim=0),
            panoptic["overlap_threshold"],
            panoptic["stuff_area_threshold"],
            panoptic["instances_score_threshold"],
        )
    return output


def schema_path(path: str | os.PathLike) -> Path:
    """Where the schema of the exported file ``path`` lives: ``<path>.schema.json``."""
    return Path(str(path) + SCHEMA_SUFFIX)


def write_schema(path: str | os.PathLike, schema: dict[str, Any]) -> Path:
    """Write the schema of ``path`` beside it, atomically; returns the schema's path."""
    target = schema_path(path)
    write_atomically(target, lambda tmp: Path(tmp).write_text(json.dumps(schema, indent=2) + "\n"))
    return target


def read_schema(path: str | os.PathLike) -> dict[str, Any]:
    """The schema kept beside the exported file ``path``; a clear error when it is missing or foreign."""
    target = schema_path(path)
    if not target.is_file():
        raise FileNotFoundError(f"{path}: its schema {target} is missing (export_onnx/export_program write both)")
    try:
        schema = json.loads(target.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{target} is not a modet export schema (not JSON: {exc})") from None
    if not isinstance(schema, dict) or schema.get("format") != "modet-export":
        raise ValueError(f"{target} is not a modet export schema (no 'format': 'modet-export')")
    if schema.get("version") != SCHEMA_VERSION:
        raise ValueError(f"{target} has schema version {schema.get('version')!r}; this modet reads {SCHEMA_VERSION}")
    return schema


def write_atomically(target: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``target``, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
