"""detectron2's "Use Models" text (shared/reference/use-models.txt), its code run as written with
``detectron2`` imports, on modet-detectron2.

Each test quotes one snippet of that text verbatim (the lines marked ``# verbatim``) around the
set-up it needs: a model-zoo Mask R-CNN, narrowed to R-18 widths so it runs quickly on a CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detectron2 import model_zoo
from detectron2.config import get_cfg


@pytest.fixture(scope="module")
def cfg():
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.FPN.OUT_CHANNELS = 32
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 64
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 32
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 64
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # random weights: keep whatever is detected
    cfg.INPUT.MIN_SIZE_TEST = 128
    cfg.INPUT.MAX_SIZE_TEST = 192
    return cfg


def _image(height=96, width=128, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


def _training_inputs():
    from detectron2.structures import BitMasks, Boxes, Instances

    image = _image()
    masks = torch.zeros(1, 96, 128, dtype=torch.bool)
    masks[0, 20:60, 30:90] = True
    instances = Instances(
        (96, 128),
        gt_boxes=Boxes(torch.tensor([[30.0, 20.0, 90.0, 60.0]])),
        gt_classes=torch.tensor([3]),
        gt_masks=BitMasks(masks),
    )
    return [{"image": image, "instances": instances}]


def test_build_model_load_and_save_a_checkpoint(cfg, tmp_path, monkeypatch):
    from detectron2.modeling import build_model  # verbatim

    import modet.modeling

    model = build_model(cfg)  # returns a torch.nn.Module  # verbatim
    assert isinstance(model, torch.nn.Module) and build_model is modet.modeling.build_model

    monkeypatch.chdir(tmp_path)
    torch.save({"model": {k: torch.full_like(v, 0.5) for k, v in model.state_dict().items()}}, "weights.pth")
    file_path_or_url = "weights.pth"
    from detectron2.checkpoint import DetectionCheckpointer  # verbatim

    DetectionCheckpointer(model).load(file_path_or_url)  # load a file, usually from cfg.MODEL.WEIGHTS  # verbatim
    assert all(torch.all(v == 0.5) for v in model.state_dict().values())

    checkpointer = DetectionCheckpointer(model, save_dir="output")  # verbatim
    checkpointer.save("model_999")  # save to output/model_999.pth  # verbatim
    saved = torch.load(tmp_path / "output" / "model_999.pth", weights_only=True)["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_training_under_an_event_storage(cfg):
    from detectron2.modeling import build_model

    model = build_model(cfg)
    model.train()
    inputs = _training_inputs()
    from detectron2.utils.events import EventStorage  # verbatim

    with EventStorage() as storage:  # verbatim
        losses = model(inputs)  # verbatim
    assert {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"} <= set(losses)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert "roi_head/num_fg_samples" in storage.histories()

    with pytest.raises(AssertionError, match="EventStorage"):  # training needs the storage, as the text says
        model(inputs)


def test_inference_output_format(cfg):
    from detectron2.modeling import build_model
    from detectron2.structures import Boxes

    model = build_model(cfg)
    model.eval()
    inputs = [{"image": _image(), "height": 48, "width": 64}, {"image": _image(seed=1)}]
    with torch.no_grad():
        outputs = model(inputs)
    assert len(outputs) == 2
    for out, size in zip(outputs, [(48, 64), (96, 128)]):
        instances = out["instances"]
        assert instances.image_size == size  # "height"/"width" set the output resolution
        assert isinstance(instances.pred_boxes, Boxes) and instances.scores.shape == (len(instances),)
        assert instances.pred_classes.dtype == torch.int64
        assert instances.pred_masks.shape == (len(instances), *size)


def test_partially_execute_a_model(cfg):
    from detectron2.modeling import build_model
    from detectron2.structures import ImageList

    model = build_model(cfg)
    model.eval()
    raw = [_image().float(), _image(80, 100, seed=2).float()]
    with torch.no_grad():
        images = ImageList.from_tensors(  # preprocessed input tensor  # verbatim (arguments filled in)
            [(x - model.pixel_mean) / model.pixel_std for x in raw], model.backbone.size_divisibility
        )
        features = model.backbone(images.tensor)  # verbatim
        proposals, _ = model.proposal_generator(images, features)  # verbatim
        instances = model.roi_heads._forward_box(features, proposals)  # verbatim
        mask_features = [features[f] for f in model.roi_heads.in_features]  # verbatim
        mask_features = model.roi_heads.mask_pooler(mask_features, [x.pred_boxes for x in instances])  # verbatim
    assert mask_features.shape == (sum(len(x) for x in instances), 32, 14, 14)


def test_default_predictor_on_one_image(cfg, tmp_path):
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.engine import DefaultPredictor
    from detectron2.modeling import build_model

    DetectionCheckpointer(build_model(cfg), save_dir=str(tmp_path)).save("random")
    predictor_cfg = cfg.clone()
    predictor_cfg.MODEL.WEIGHTS = str(tmp_path / "random.pth")
    predictor = DefaultPredictor(predictor_cfg)
    image = np.ascontiguousarray(_image(90, 120).permute(1, 2, 0).numpy())  # HxWx3 uint8 BGR
    outputs = predictor(image)
    assert outputs["instances"].image_size == (90, 120)
