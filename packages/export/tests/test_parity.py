"""Exported files give detectron2's numbers: each parity model is exported once, on a sample image
of another size than the fixtures' inputs, as a torch.export program and as an ONNX file; both,
loaded with ``modet.export.load`` and run on the fixtures' inputs (their own sizes and requested
output sizes), match detectron2's outputs by the rule of shared/parity/README.md."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modet.export import export_onnx, export_program, load
from modet_test_support.parity import assert_outputs_match, build_parity_model, load_case, load_inputs

CASES = [
    "mask_rcnn_R_50_FPN",
    "mask_rcnn_R_50_C4",
    "faster_rcnn_R_50_FPN",
    "keypoint_rcnn_R_50_FPN",
    "cascade_mask_rcnn_R_50_FPN",
    "retinanet_R_50_FPN",
    "semantic_R_50_FPN",
    "panoptic_fpn_R_50",
]
SAMPLE_SIZE = (224, 288)  # the fixtures' inputs are 256x320 and 200x296


def sample_image() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, *SAMPLE_SIZE), generator=generator, dtype=torch.uint8)


@pytest.fixture(scope="module", params=CASES)
def exported(request, tmp_path_factory) -> tuple[str, dict[str, Path]]:
    """(case name, {"program": .pt2 path, "onnx": .onnx path}), one capture for both files."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    model = build_parity_model(name)
    sample = [{"image": sample_image()}]
    program = export_program(model, sample, folder / "model.pt2")
    export_onnx(model, sample, folder / "model.onnx", program=program)
    return name, {"program": folder / "model.pt2", "onnx": folder / "model.onnx"}


@pytest.mark.parametrize("file_format", ["program", "onnx"])
def test_exported_file_matches_detectron2(exported, file_format):
    name, paths = exported
    model = load(paths[file_format])
    inputs = load_inputs()
    assert {tuple(x["image"].shape[-2:]) for x in inputs}.isdisjoint({SAMPLE_SIZE})
    outputs = model([dict(x) for x in inputs])
    assert_outputs_match(outputs, load_case(name).outputs["single"], f"{name}.{file_format}")
