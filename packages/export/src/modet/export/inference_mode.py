"""The "export" inference mode of ``DefaultPredictor`` / ``modet predict``: the model run as a
``torch.export`` program, captured in memory from the first image it is given."""

from __future__ import annotations

from typing import Any

from torch import nn

from .exporting import _capture
from .runtime import ExportedModel, program_runner

__all__ = ["ExportOnFirstCall"]


class ExportOnFirstCall:
    """``model``'s contract (``list[dict] -> list[dict]``), run by its exported program.

    The first call captures the program with that call's first image as the sample, with
    dynamic height and width (as :func:`export_program`), so later images of any size in
    ``[min_image_side(model), MAX_IMAGE_SIDE]`` run without a second capture. Images run one
    at a time, as :func:`modet.export.load`'s models do.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.exported: ExportedModel | None = None

    def __call__(self, batched_inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.exported is None:
            if not isinstance(batched_inputs, (list, tuple)) or not batched_inputs:
                raise ValueError("the 'export' inference mode is first called without an image to export with")
            program, schema = _capture(self.model, [batched_inputs[0]])
            self.exported = ExportedModel(None, {**schema, "runtime": "torch.export"}, program_runner(program))
        return self.exported(batched_inputs)
