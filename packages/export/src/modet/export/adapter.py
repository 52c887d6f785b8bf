"""``TracingAdapter``: a modet model seen as tensors in, tuple of tensors out (detectron2.export's)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .schema import INPUT_NAMES, flatten_outputs

__all__ = ["TracingAdapter"]


def _panoptic_thresholds(model: nn.Module) -> dict[str, float] | None:
    """PanopticFPN's combination settings, which the unflattening needs; None for other models."""
    names = ("combine_overlap_thresh", "combine_stuff_area_thresh", "combine_instances_score_thresh")
    if not all(hasattr(model, name) for name in names):
        return None
    overlap, stuff_area, score = (float(getattr(model, name)) for name in names)
    return {"overlap_threshold": overlap, "stuff_area_threshold": stuff_area, "instances_score_threshold": score}


class _OutputsRecord:
    outputs: list[dict[str, str]] | None = None


class TracingAdapter(nn.Module):
    """Wrap ``model`` (``list[dict]`` in, ``list[dict]`` out) as ``forward(image, height, width)``
    returning a tuple of tensors, for ``torch.export`` and the ONNX exporter.

    ``inputs`` is the sample: a list with one dict (``image``, optional ``height``/``width``), as
    the model takes it. :attr:`flattened_inputs` are its tensors, :attr:`outputs_schema` (filled by
    each call) names the returned tensors, and :meth:`schema` is what is saved beside the file.
    """

    def __init__(self, model: nn.Module, inputs: list[dict[str, Any]]):
        super().__init__()
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            got = f"a list of {len(inputs)}" if isinstance(inputs, (list, tuple)) else type(inputs).__name__
            raise ValueError(f"TracingAdapter: `inputs` must be a list with one dict (one image per call), got {got}")
        sample = inputs[0]
        image = sample.get("image")
        if not isinstance(image, torch.Tensor) or image.dim() != 3:
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"TracingAdapter: inputs[0]['image'] must be a (C, H, W) tensor, got {shape}")
        extra = sorted(set(sample) - set(INPUT_NAMES))
        if extra:
            raise ValueError(f"TracingAdapter: inputs[0] has keys {extra}; an exported model takes only {INPUT_NAMES}")
        height = int(sample.get("height", image.shape[-2]))
        width = int(sample.get("width", image.shape[-1]))
        self.model = model
        self.flattened_inputs = (image, torch.tensor(height), torch.tensor(width))
        self.input_names = INPUT_NAMES
        # Filled by forward. An object of its own: torch.export restores the module's attributes
        # and containers it mutates, not the attributes of a plain object.
        self._record = _OutputsRecord()

    def forward(self, image: torch.Tensor, height: torch.Tensor, width: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output_height, output_width = height.item(), width.item()
        torch._check(output_height > 0)
        torch._check(output_width > 0)
        outputs = self.model([{"image": image, "height": output_height, "width": output_width}])
        tensors, self._record.outputs = flatten_outputs(outputs[0])
        return tuple(tensors)

    @property
    def outputs_schema(self) -> list[dict[str, str]] | None:
        """Name, kind and place in the output dict of each returned tensor (None before the first call)."""
        return self._record.outputs

    def schema(self) -> dict[str, Any]:
        """What the exported file needs to be run as the model: inputs, named outputs, how to rebuild them."""
        if self.outputs_schema is None:
            raise RuntimeError("TracingAdapter.schema(): call the adapter (or export it) first")
        image = self.flattened_inputs[0]
        return {
            "format": "modet-export",
            "version": 1,
            "model": type(self.model).__name__,
            "inputs": [
                {
                    "name": "image",
                    "dtype": str(image.dtype).removeprefix("torch."),
                    "shape": [image.shape[0], "H", "W"],
                },
                {"name": "height", "dtype": "int64", "shape": []},
                {"name": "width", "dtype": "int64", "shape": []},
            ],
            "input_format": getattr(self.model, "input_format", None),
            "outputs": self.outputs_schema,
            "panoptic": _panoptic_thresholds(self.model),
        }
