"""Deploy modet models: ``TracingAdapter``, ONNX and ``torch.export`` files, ``load(path)`` (detectron2.export).

``export_onnx(model, sample_inputs, path)`` and ``export_program(model, sample_inputs, path)``
write one file whose image height and width are dynamic, with a JSON schema beside it;
``load(path)`` runs either one with the model's own ``list[dict]`` contract.
"""

from importlib.metadata import version as _distribution_version

from .adapter import TracingAdapter
from .exporting import (
    DETECTION_EXPORT_MIN_TORCH,
    MAX_IMAGE_SIDE,
    ONNX_OPSET,
    ExportError,
    detection_export_supported,
    export_onnx,
    export_program,
    min_image_side,
)
from .runtime import ExportedModel, load
from .schema import flatten_outputs, read_schema, unflatten_outputs

__version__ = _distribution_version("modet-export")  # the one source of the version is pyproject.toml

__all__ = [
    "DETECTION_EXPORT_MIN_TORCH",
    "MAX_IMAGE_SIDE",
    "ONNX_OPSET",
    "ExportError",
    "ExportedModel",
    "TracingAdapter",
    "detection_export_supported",
    "export_onnx",
    "export_program",
    "flatten_outputs",
    "load",
    "min_image_side",
    "read_schema",
    "unflatten_outputs",
]
