"""An exported detector runs on images where NMS keeps one box or none (torchvision's fake ``nms``
says at least two; modet-export lifts that bound while it captures)."""

import pytest
import torch
from conftest import requires_detection_export

from modet.export import export_onnx, export_program, load
from modet_test_support.parity import build_parity_model, load_inputs

pytestmark = requires_detection_export


@pytest.mark.parametrize(
    ("threshold", "kept"),
    # the fixture's top scores: 0.2247, 0.1748, 0.1604 (first image); 0.1615, 0.1489 (second)
    [(0.155, 1), (0.165, 0)],
)
def test_an_exported_program_captured_with_several_detections_runs_with_one_or_none(tmp_path, threshold, kept):
    model = build_parity_model("mask_rcnn_R_50_FPN")
    model.roi_heads.box_predictor.test_score_thresh = threshold
    sample, other = load_inputs()
    with torch.no_grad():
        expected = model([other])[0]["instances"]
        assert len(model([sample])[0]["instances"]) >= 2  # what the capture sees
    assert len(expected) == kept
    program = export_program(model, [sample], tmp_path / "model.pt2")
    files = [tmp_path / "model.pt2"]
    if kept == 1:
        files.append(export_onnx(model, [sample], tmp_path / "model.onnx", program=program))
    for path in files:
        ours = load(path)([other])[0]["instances"]
        assert len(ours) == kept, path.name
        torch.testing.assert_close(ours.pred_boxes.tensor, expected.pred_boxes.tensor, atol=1e-2, rtol=1e-4)
        torch.testing.assert_close(ours.scores, expected.scores, atol=1e-4, rtol=1e-4)
        assert ours.pred_masks.shape == (kept, other["height"], other["width"])
