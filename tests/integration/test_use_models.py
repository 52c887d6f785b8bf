"""The "Use Models" text (shared/reference/use-models.txt) run as written, with detectron2 -> modet.

Each test is one of its snippets; together they are the contract a detectron2 user relies on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modet.core.config import get_cfg
from modet_test_support import parity

ROOT = Path(__file__).resolve().parents[2]

CASE = parity.load_case("mask_rcnn_R_50_FPN")
WEIGHTS = ROOT / "packages" / "checkpoint" / "tests" / "fixtures" / "mask_rcnn_R_50_FPN" / "model_final.pth"


def tiny_cfg():
    cfg = get_cfg()
    cfg.merge_from_file(str(CASE.config_file))
    cfg.MODEL.DEVICE = "cpu"
    return cfg


def test_build_model_then_load_and_save_a_checkpoint(tmp_path, monkeypatch):
    from modet.checkpoint import DetectionCheckpointer
    from modet.modeling import build_model

    cfg = tiny_cfg()
    model = build_model(cfg)  # returns a torch.nn.Module
    assert isinstance(model, torch.nn.Module)
    DetectionCheckpointer(model).load(str(WEIGHTS))  # a file, usually cfg.MODEL.WEIGHTS

    monkeypatch.chdir(tmp_path)
    checkpointer = DetectionCheckpointer(model, save_dir="output")
    checkpointer.save("model_999")  # save to output/model_999.pth
    assert (tmp_path / "output" / "model_999.pth").is_file()

    reloaded = build_model(cfg)
    DetectionCheckpointer(reloaded).load("output/model_999.pth")
    expected = torch.load(WEIGHTS, weights_only=True)["model"]
    state = reloaded.state_dict()
    assert all(torch.equal(state[k], v) for k, v in expected.items())


def trained_inputs():
    from modet.structures import BitMasks, Boxes, Instances

    image = parity.load_inputs()[0]["image"]
    height, width = image.shape[1:]
    masks = torch.zeros(1, height, width, dtype=torch.bool)
    masks[0, 40:120, 60:200] = True
    instances = Instances(
        (height, width),
        gt_boxes=Boxes(torch.tensor([[60.0, 40.0, 200.0, 120.0]])),
        gt_classes=torch.tensor([3]),
        gt_masks=BitMasks(masks),
    )
    return [{"image": image, "instances": instances}]


def test_training_mode_runs_under_an_event_storage():
    from modet.engine import EventStorage
    from modet.modeling import build_model

    model = build_model(tiny_cfg())
    model.train()
    with EventStorage() as storage:
        losses = model(trained_inputs())
    assert {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"} <= set(losses)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert "roi_head/num_fg_samples" in storage.histories()


def test_training_mode_without_an_event_storage_says_what_to_do():
    from modet.modeling import build_model

    model = build_model(tiny_cfg())
    model.train()
    with pytest.raises(AssertionError, match="EventStorage"):
        model(trained_inputs())


def test_inference_output_format():
    from modet.modeling import build_model
    from modet.structures import Boxes

    model = build_model(tiny_cfg())
    parity.fill_weights(model, CASE.norm_stats)
    model.eval()
    inputs = parity.load_inputs()
    with torch.no_grad():
        outputs = model(inputs)
    assert len(outputs) == len(inputs)
    for inp, out in zip(inputs, outputs):
        instances = out["instances"]
        assert instances.image_size == (inp["height"], inp["width"])
        assert isinstance(instances.pred_boxes, Boxes)
        assert instances.scores.shape == (len(instances),)
        assert instances.pred_classes.dtype == torch.int64
        assert instances.pred_masks.shape == (len(instances), inp["height"], inp["width"])


def test_partially_execute_a_model():
    from modet.modeling import build_model
    from modet.structures import ImageList

    model = build_model(tiny_cfg())
    parity.fill_weights(model, CASE.norm_stats)
    model.eval()
    raw = [x["image"].float() for x in parity.load_inputs()]
    normalized = [(x - model.pixel_mean) / model.pixel_std for x in raw]
    with torch.no_grad():
        images = ImageList.from_tensors(normalized, model.backbone.size_divisibility)  # preprocessed input tensor
        features = model.backbone(images.tensor)
        proposals, _ = model.proposal_generator(images, features)
        instances = model.roi_heads._forward_box(features, proposals)
        mask_features = [features[f] for f in model.roi_heads.in_features]
        mask_features = model.roi_heads.mask_pooler(mask_features, [x.pred_boxes for x in instances])
    assert mask_features.shape == (sum(len(x) for x in instances), 32, 14, 14)


def test_default_predictor_on_one_image(tmp_path):
    from modet.checkpoint import DetectionCheckpointer
    from modet.engine import DefaultPredictor
    from modet.modeling import build_model

    cfg = tiny_cfg()
    model = build_model(cfg)
    parity.fill_weights(model, CASE.norm_stats)
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("filled")
    cfg.MODEL.WEIGHTS = str(tmp_path / "filled.pth")
    cfg.INPUT.MIN_SIZE_TEST = 256
    predictor = DefaultPredictor(cfg)
    image = parity.load_inputs()[0]["image"].permute(1, 2, 0).numpy()  # HxWx3 uint8 BGR
    outputs = predictor(image)
    assert outputs["instances"].image_size == image.shape[:2]
    assert len(outputs["instances"]) > 0
