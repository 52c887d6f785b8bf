"""``load(path)``: run an exported file with the model's own ``list[dict]`` contract."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision  # noqa: F401  (registers torchvision::nms / roi_align, which saved programs call)

from .schema import read_schema, unflatten_outputs

__all__ = ["ExportedModel", "load"]

Runner = Callable[[torch.Tensor, int, int], Sequence[torch.Tensor]]


class ExportedModel:
    """An exported model as the original is called: ``model(list[dict]) -> list[dict]``.

    Each input dict has ``image`` ((C, H, W), converted to the dtype the file was exported
    with) and optionally ``height``/``width`` (the output size; default the image's). Images
    run one at a time. Outputs hold ``instances`` (``Instances`` with ``Boxes``), ``proposals``,
    ``sem_seg`` and ``panoptic_seg`` as the model returns them.
    """

    def __init__(self, path: Path | None, schema: dict[str, Any], runner: Runner):
        self.path = path
        self.schema = schema
        self._run = runner
        self._image_dtype = getattr(torch, schema["inputs"][0]["dtype"])
        self._channels = schema["inputs"][0]["shape"][0]

    @property
    def input_names(self) -> list[str]:
        return [entry["name"] for entry in self.schema["inputs"]]

    @property
    def output_names(self) -> list[str]:
        return [entry["name"] for entry in self.schema["outputs"]]

    def __call__(self, batched_inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not isinstance(batched_inputs, (list, tuple)):
            raise TypeError(f"expected a list of dicts (one per image), got {type(batched_inputs).__name__}")
        return [self._run_one(item, index) for index, item in enumerate(batched_inputs)]

    def _run_one(self, item: dict[str, Any], index: int) -> dict[str, Any]:
        image = item.get("image") if isinstance(item, dict) else None
        if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != self._channels:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"batched_inputs[{index}]['image'] must be a ({self._channels}, H, W) tensor, got {shape}")
        height, width = (_size(item, key, image.shape[-2 + i], index) for i, key in enumerate(("height", "width")))
        outputs = self._run(image.to(self._image_dtype), height, width)
        return unflatten_outputs(self.schema, list(outputs), (height, width))

    def __repr__(self) -> str:
        where = "in memory" if self.path is None else repr(str(self.path))
        return f"ExportedModel({where}, {self.schema['model']}, runtime={self.schema['runtime']})"


def _size(item: dict[str, Any], key: str, default: int, index: int) -> int:
    value = item.get(key, default)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"batched_inputs[{index}][{key!r}] must be a positive int (output size), got {value!r}")
    return int(value)


def program_runner(program: torch.export.ExportedProgram) -> Runner:
    """Run an exported program on one image: ``run(image, height, width)`` gives its flat outputs."""
    module = program.module()

    def run(image: torch.Tensor, height: int, width: int) -> Sequence[torch.Tensor]:
        with torch.no_grad():
            return module(image, torch.tensor(height), torch.tensor(width))

    return run


def _onnx_runner(path: Path, providers: Sequence[str] | None, session_options: Any) -> Runner:
    try:
        import onnxruntime  # the `onnx` extra
    except ImportError:
        raise ImportError(f"running {path} needs onnxruntime: pip install 'modet-export[onnx]'") from None
    providers = list(providers or ["CPUExecutionProvider"])
    session = onnxruntime.InferenceSession(str(path), sess_options=session_options, providers=providers)

    def run(image: torch.Tensor, height: int, width: int) -> Sequence[torch.Tensor]:
        feed = {
            "image": image.numpy(),
            "height": np.array(height, dtype=np.int64),
            "width": np.array(width, dtype=np.int64),
        }
        return [torch.from_numpy(np.ascontiguousarray(x)) for x in session.run(None, feed)]

    return run


def load(
    path: str | os.PathLike, *, providers: Sequence[str] | None = None, session_options: Any = None
) -> ExportedModel:
    """Load a file written by ``export_onnx`` (``.onnx``, run by onnxruntime) or ``export_program``
    (``.pt2``, a torch.export program), with its schema from beside it.

    ``providers`` and ``session_options``: onnxruntime's execution providers (default: CPU) and
    ``SessionOptions`` (threads...), for ONNX files. No modeling code runs but the
    unflattening (and, for panoptic models, the combination of instances and semantic labels).
    Note that ``torch.export.load`` unpickles nothing but it does rebuild a graph from the file:
    load files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exported model at {path}")
    schema = read_schema(path)
    runtime = schema.get("runtime")
    if runtime == "onnxruntime":
        runner = _onnx_runner(path, providers, session_options)
    elif runtime == "torch.export":
        runner = program_runner(torch.export.load(str(path)))
    else:
        raise ValueError(
            f"{path}: unknown runtime {runtime!r} in its schema (expected 'onnxruntime' or 'torch.export')"
        )
    return ExportedModel(path, schema, runner)
