"""``export_program`` (torch.export, ``.pt2``) and ``export_onnx`` (ONNX via torch's dynamo exporter)."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import linecache
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .adapter import TracingAdapter
from .schema import INPUT_NAMES, write_atomically, write_schema

__all__ = [
    "DETECTION_EXPORT_MIN_TORCH",
    "MAX_IMAGE_SIDE",
    "ONNX_OPSET",
    "ExportError",
    "detection_export_supported",
    "export_onnx",
    "export_program",
    "min_image_side",
]

# ONNX opset of the files export_onnx writes: RoiAlign's half_pixel mode (aligned=True) needs >= 16.
ONNX_OPSET = 18
# Image height and width are dynamic, from min_image_side(model) up to this.
MAX_IMAGE_SIDE = 8192
# The first torch whose torch.export proves the padding guards of detectron2's models (R-CNN,
# RetinaNet, FPN segmentation) for every image size; 2.7 to 2.12 refuse them (nox -s floors).
DETECTION_EXPORT_MIN_TORCH = "2.13"


def detection_export_supported() -> bool:
    """Whether this torch can export modet's detection models with dynamic image sizes."""
    return torch.torch_version.TorchVersion(torch.__version__) >= DETECTION_EXPORT_MIN_TORCH


class ExportError(RuntimeError):
    """A model could not be exported; the message names the operation and the module where it stopped."""


def min_image_side(model: nn.Module) -> int:
    """The smallest image side an exported ``model`` takes: one more than its backbone's largest stride.

    Smaller images would make the coarsest feature map a single cell, a size torch.export
    specialises (65 px for an FPN with P6, 129 px for RetinaNet's P7).
    """
    backbone = getattr(model, "backbone", None)
    strides = [shape.stride for shape in backbone.output_shape().values()] if backbone is not None else []
    return max(strides, default=32) + 1


def _require_onnx(function: str, modules: tuple[str, ...]) -> None:
    """A clear error naming the extra when a package of ``modet-export[onnx]`` is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"{function} needs {', '.join(missing)}: pip install 'modet-export[onnx]'")


# Frames that are not the model's own code: the exporter, torch, torchvision.
_NOT_MODEL_CODE = tuple(
    f"{os.sep}{part}{os.sep}" for part in ("torch", "torchvision", "onnxscript", f"modet{os.sep}export")
)


def _innermost_frames(exc: BaseException, model: nn.Module) -> tuple[str | None, str | None]:
    """(the model's source line where ``exc`` arose, the submodule running it), from the traceback."""
    module_names = {id(module): name for name, module in model.named_modules()}
    where = module = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self")
        if isinstance(owner, nn.Module) and id(owner) in module_names:
            module = f"{module_names[id(owner)] or 'the model'} ({type(owner).__name__})"
        filename = frame.f_code.co_filename
        if not any(part in filename for part in _NOT_MODEL_CODE):
            line = linecache.getline(filename, tb.tb_lineno).strip()
            where = f"`{line}` ({Path(filename).name}:{tb.tb_lineno}, in {frame.f_code.co_name})"
        tb = tb.tb_next
    return where, module


def _export_error(stage: str, exc: BaseException, model: nn.Module) -> ExportError:
    where, module = _innermost_frames(exc, model)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first_line = lines[0] if lines else type(exc).__name__
    # A shape guard that does not hold for every size says which one (the rest are alike).
    first_line += "".join(f" {line}" for line in lines[1:2] if line.startswith("- Not all values"))
    # The ONNX translator names the graph node (the operation) it failed on in a chained cause.
    cause = exc.__cause__
    while cause is not None:
        node = next((line.strip() for line in str(cause).splitlines() if "translating node" in line), None)
        if node:
            first_line += f" ({node[:300]})"
            break
        cause = cause.__cause__
    parts = [f"{type(model).__name__} cannot be exported ({stage}): {type(exc).__name__}: {first_line}"]
    if where:
        parts.append(f"at {where}")
    if module:
        parts.append(f"in module {module}")
    if not detection_export_supported():
        parts.append(
            f"torch {torch.__version__} is older than {DETECTION_EXPORT_MIN_TORCH}, the first that exports "
            "detectron2's models with dynamic image sizes: upgrade torch"
        )
    return ExportError("; ".join(parts))


def _fake_nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """torchvision's ``nms`` under fake tensors: any number of kept boxes, none to all of them."""
    torch._check(dets.dim() == 2 and dets.size(1) == 4, lambda: f"boxes must be (N, 4), got {tuple(dets.shape)}")
    torch._check(scores.dim() == 1 and scores.size(0) == dets.size(0), lambda: "one score per box")
    kept = torch.library.get_ctx().new_dynamic_size()
    return dets.new_empty(kept, dtype=torch.long)


@contextlib.contextmanager
def _nms_keeps_any_number() -> Iterator[None]:
    """While exporting, let ``torchvision::nms`` keep 0 or 1 boxes.

    torchvision's fake ``nms`` (0.29) sizes its output with ``create_unbacked_symint()``, whose
    lower bound is 2: the exported program then asserts that every NMS keeps at least two boxes
    and fails on an image with one detection. Replaced for the capture only; torch without
    ``allow_override`` keeps torchvision's.
    """
    if "allow_override" not in inspect.signature(torch.library.register_fake).parameters:
        yield
        return
    library = torch.library.Library("torchvision", "FRAGMENT")
    try:
        torch.library.register_fake("torchvision::nms", _fake_nms, lib=library, allow_override=True)
        yield
    finally:
        library._destroy()


def _capture(model: nn.Module, sample_inputs: list[dict[str, Any]]) -> tuple[torch.export.ExportedProgram, dict]:
    """torch.export of the adapted model with dynamic image height and width; and its schema."""
    if model.training:
        raise ValueError(f"{type(model).__name__} is in training mode; export a model in eval mode (model.eval())")
    adapter = TracingAdapter(model, sample_inputs).eval()
    image = adapter.flattened_inputs[0]
    min_side = min_image_side(model)
    if min(image.shape[-2:]) < min_side or max(image.shape[-2:]) > MAX_IMAGE_SIDE:
        raise ValueError(
            f"sample image is {tuple(image.shape[-2:])}; for {type(model).__name__} its sides must lie in "
            f"[{min_side}, {MAX_IMAGE_SIDE}]"
        )
    dynamic_shapes = {
        "image": {
            1: torch.export.Dim("image_height", min=min_side, max=MAX_IMAGE_SIDE),
            2: torch.export.Dim("image_width", min=min_side, max=MAX_IMAGE_SIDE),
        },
        "height": None,
        "width": None,
    }
    try:
        with torch.no_grad(), _nms_keeps_any_number():
            program = torch.export.export(
                adapter, adapter.flattened_inputs, dynamic_shapes=dynamic_shapes, strict=False
            )
    except Exception as exc:
        raise _export_error("torch.export", exc, model) from exc
    return program, adapter.schema()


def export_program(
    model: nn.Module, sample_inputs: list[dict[str, Any]], path: str | os.PathLike
) -> torch.export.ExportedProgram:
    """Export ``model`` with ``torch.export`` and save it to ``path`` (``.pt2``), its schema beside it.

    ``sample_inputs``: one image as the model takes it (``[{"image": (C, H, W), ...}]``). The
    saved program takes any image height and width in [MIN_IMAGE_SIDE, MAX_IMAGE_SIDE].
    Returns the ``ExportedProgram``.
    """
    program, schema = _capture(model, sample_inputs)
    target = Path(path)
    write_atomically(target, lambda tmp: torch.export.save(program, tmp))
    write_schema(target, {**schema, "runtime": "torch.export", "min_image_side": min_image_side(model)})
    # Lets export_onnx(..., program=program) skip a second capture; modet's own attribute on
    # torch's object, which torch's typing cannot know.
    program.modet_schema = schema  # type: ignore[attr-defined]
    return program


def export_onnx(
    model: nn.Module,
    sample_inputs: list[dict[str, Any]],
    path: str | os.PathLike,
    *,
    opset: int = ONNX_OPSET,
    program: torch.export.ExportedProgram | None = None,
) -> Path:
    """Export ``model`` to an ONNX file at ``path``, its schema beside it; returns the path.

    The graph is captured by ``torch.export`` (as :func:`export_program`; pass the program that
    returned for the same model and sample as ``program`` to skip a second capture) and
    translated by ``torch.onnx.export(dynamo=True)`` at ``opset``: torchvision's ``nms`` becomes
    NonMaxSuppression, ``roi_align`` RoiAlign. Weights are stored inside the file.
    """
    _require_onnx("export_onnx", ("onnx", "onnxscript"))
    if program is not None:
        schema = getattr(program, "modet_schema", None)
        if schema is None:
            raise ValueError("export_onnx: `program` must be the ExportedProgram that export_program returned")
    else:
        program, schema = _capture(model, sample_inputs)
    output_names = [entry["name"] for entry in schema["outputs"]]
    target = Path(path)

    def write(tmp: str) -> None:
        try:
            with _nms_keeps_any_number():  # the translation runs the graph's fake kernels again
                torch.onnx.export(
                    program,
                    (),
                    tmp,
                    dynamo=True,
                    opset_version=opset,
                    input_names=list(INPUT_NAMES),
                    output_names=output_names,
                    external_data=False,
                    verbose=False,
                )
        except Exception as exc:
            raise _export_error("ONNX translation", exc, model) from exc

    write_atomically(target, write)
    write_schema(target, {**schema, "runtime": "onnxruntime", "opset": opset, "min_image_side": min_image_side(model)})
    return target
