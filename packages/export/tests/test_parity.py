"""Exported files give detectron2's numbers: each parity model is exported once, on a sample image
of another size than the fixtures' inputs; the torch.export program (and, for ONNX_CASES, the ONNX
file translated from the same capture), loaded with ``modet.export.load`` and run on the fixtures'
inputs (their own sizes and requested output sizes), matches detectron2's outputs by the rule of
shared/parity/README.md."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import requires_detection_export

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
# Every case is checked in both formats: the torch.export program, and the ONNX file translated
# from that same capture (each model is captured once per session).
ONNX_CASES = CASES
pytestmark = requires_detection_export
SAMPLE_SIZE = (224, 288)  # the fixtures' inputs are 256x320 and 200x296
_captured: dict[str, tuple[torch.nn.Module, torch.export.ExportedProgram, Path]] = {}


def _sample() -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [{"image": torch.randint(0, 256, (3, *SAMPLE_SIZE), generator=generator, dtype=torch.uint8)}]


def _program(name: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, object, Path]:
    """(model, program, folder) of a case, captured once per test session."""
    if name not in _captured:
        folder = tmp_path_factory.mktemp(name)
        model = build_parity_model(name)
        _captured[name] = (model, export_program(model, _sample(), folder / "model.pt2"), folder)
    return _captured[name]


def _check(path: Path, name: str, where: str) -> None:
    inputs = load_inputs()
    assert {tuple(x["image"].shape[-2:]) for x in inputs}.isdisjoint({SAMPLE_SIZE})
    outputs = load(path)([dict(x) for x in inputs])
    assert_outputs_match(outputs, load_case(name).outputs["single"], where)


@pytest.mark.parametrize("name", CASES)
def test_program_matches_detectron2(name, tmp_path_factory):
    _, _, folder = _program(name, tmp_path_factory)
    _check(folder / "model.pt2", name, f"{name}.pt2")


@pytest.mark.parametrize("name", ONNX_CASES)
def test_onnx_file_matches_detectron2(name, tmp_path_factory):
    model, program, folder = _program(name, tmp_path_factory)
    export_onnx(model, _sample(), folder / "model.onnx", program=program)
    _check(folder / "model.onnx", name, f"{name}.onnx")
