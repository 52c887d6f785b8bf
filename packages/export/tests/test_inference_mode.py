"""The "export" inference mode (DefaultPredictor / modet predict): the model run as its torch.export program."""

import numpy as np
import torch
from conftest import requires_detection_export

from modet.checkpoint import DetectionCheckpointer
from modet.core.config import get_cfg
from modet.engine import DefaultPredictor
from modet.engine.inference_modes import inference_modes, prepare_inference
from modet_test_support.parity import assert_outputs_match, build_parity_model, load_case, load_inputs

pytestmark = requires_detection_export
CASE = "mask_rcnn_R_50_FPN"


def _cfg(tmp_path):
    case = load_case(CASE)
    cfg = get_cfg()
    cfg.merge_from_file(str(case.config_file))
    model = build_parity_model(case)
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("model")
    cfg.MODEL.WEIGHTS = str(tmp_path / "model.pth")
    return case, cfg, model


def test_export_mode_reproduces_detectron2_on_images_of_two_sizes_from_one_capture(tmp_path):
    assert "export" in inference_modes()
    case, cfg, model = _cfg(tmp_path)
    run = prepare_inference(model, cfg, "export")
    inputs = load_inputs()  # 256x320 and 200x296: the second size runs the program captured on the first
    outputs = run(inputs[:1]) + run(inputs[1:])
    assert_outputs_match(outputs, case.outputs["single"], where=f"{CASE} export mode")
    assert "in memory" in repr(run.exported)


def test_default_predictor_in_export_mode_matches_eager(tmp_path):
    _, cfg, _ = _cfg(tmp_path)
    image = np.random.default_rng(0).integers(0, 256, size=(240, 300, 3), dtype=np.uint8)
    eager = DefaultPredictor(cfg)(image)["instances"]
    exported = DefaultPredictor(cfg, inference_mode="export")(image)["instances"]
    assert exported.image_size == eager.image_size == (240, 300) and len(exported) == len(eager) > 0
    order_e, order_x = eager.scores.argsort(descending=True), exported.scores.argsort(descending=True)
    torch.testing.assert_close(exported.scores[order_x], eager.scores[order_e], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(
        exported.pred_boxes.tensor[order_x], eager.pred_boxes.tensor[order_e], atol=1e-2, rtol=1e-4
    )
