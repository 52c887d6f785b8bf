"""A torchvision detection model, converted through the plugin, computes what torchvision computes."""

import math
import os
import sysconfig

import modet_torchvision
import pytest
import torch
from torchvision.models import detection
from torchvision.ops import box_iou

from modet.checkpoint import DetectionCheckpointer
from modet.modeling import build_model

HEIGHT, WIDTH = 320, 448  # multiples of 32, and torchvision's transform keeps the size (min_size=HEIGHT)
SCORE_THRESH = 0.02

# the console script installed beside this interpreter, whether or not its folder is on PATH
MODET_COMMAND = os.path.join(sysconfig.get_path("scripts"), "modet")


def randomize(model, seed=0):
    """Deterministic random weights that keep a deep ResNet's activations in range and spread the scores."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=g) * 0.5 + 0.75)
            elif name.endswith("running_mean") or name.endswith("bias"):
                tensor.copy_(torch.randn(tensor.shape, generator=g) * 0.05)
            elif tensor.dim() == 1:  # norm scales; keep residual branches small
                scale = 0.25 if ".bn3." in name else 1.0
                tensor.copy_((torch.rand(tensor.shape, generator=g) * 0.5 + 0.75) * scale)
            else:
                fan_in = math.prod(tensor.shape[1:])
                tensor.copy_(torch.randn(tensor.shape, generator=g) / math.sqrt(fan_in))


def make_image():
    g = torch.Generator().manual_seed(1)
    ys, xs = torch.meshgrid(torch.arange(HEIGHT), torch.arange(WIDTH), indexing="ij")
    image = torch.stack([(xs * 255 // WIDTH), (ys * 255 // HEIGHT), ((xs + ys) % 64) * 4]).to(torch.uint8)
    for _ in range(6):
        y, x = torch.randint(0, HEIGHT - 80, (1,), generator=g), torch.randint(0, WIDTH - 80, (1,), generator=g)
        image[:, y : y + 70, x : x + 70] = torch.randint(0, 255, (3, 1, 1), generator=g, dtype=torch.uint8)
    return image


CASES = {
    "fasterrcnn_resnet50_fpn": detection.fasterrcnn_resnet50_fpn,
    "maskrcnn_resnet50_fpn": detection.maskrcnn_resnet50_fpn,
    "keypointrcnn_resnet50_fpn": detection.keypointrcnn_resnet50_fpn,
    "retinanet_resnet50_fpn": detection.retinanet_resnet50_fpn,
}


def build_pair(name, tmp_path):
    kwargs = {"min_size": HEIGHT, "max_size": 2000}
    if name.startswith("retinanet"):
        kwargs["score_thresh"] = 0.05
    else:
        kwargs["box_score_thresh"] = SCORE_THRESH
    torch.manual_seed(0)
    tv_model = CASES[name](weights=None, weights_backbone=None, **kwargs).eval()
    randomize(tv_model)
    path = tmp_path / f"{name}.tv.pth"
    torch.save(tv_model.state_dict(), path)

    cfg = modet_torchvision.get_config(name)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = SCORE_THRESH
    model = build_model(cfg).eval()
    incompatible = DetectionCheckpointer(model).load(str(path), checkpointables=[])
    return tv_model, model, incompatible


def match_rate(tv_out, modet_instances):
    tv_boxes, tv_scores, tv_labels = tv_out["boxes"], tv_out["scores"], tv_out["labels"] - 1
    boxes = modet_instances.pred_boxes.tensor
    if len(tv_boxes) == 0:
        return 1.0 if len(boxes) == 0 else 0.0
    iou = box_iou(tv_boxes, boxes)
    same = (tv_labels[:, None] == modet_instances.pred_classes[None, :]) & (
        (tv_scores[:, None] - modet_instances.scores[None, :]).abs() < 1e-3
    )
    matched = ((iou >= 0.99) & same).any(dim=1)
    return matched.float().mean().item()


@pytest.mark.parametrize("name", list(CASES))
def test_converted_model_matches_torchvision(name, tmp_path):
    tv_model, model, _ = build_pair(name, tmp_path)
    image = make_image()
    with torch.no_grad():
        images, _ = tv_model.transform([image.float() / 255])
        assert tuple(images.tensors.shape[-2:]) == (HEIGHT, WIDTH)
        tv_features = list(tv_model.backbone(images.tensors).values())
        batched = model.preprocess_image([{"image": image}])
        features = model.backbone(batched.tensor)
        ours = [features[f] for f in sorted(features, key=lambda f: int(f[1:]))]
        assert len(ours) == len(tv_features)
        for mine, theirs in zip(ours, tv_features):
            assert mine.shape == theirs.shape
            assert (mine - theirs).abs().max().item() < 1e-4

        tv_out = tv_model([image.float() / 255])[0]
        (out,) = model([{"image": image}])
    assert len(tv_out["boxes"]) > 10, "the random weights should give detections to compare"
    assert match_rate(tv_out, out["instances"]) >= 0.95


def test_load_reports_every_parameter_loaded(tmp_path):
    _, model, _ = build_pair("maskrcnn_resnet50_fpn", tmp_path)
    tv_keys = set(detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict())
    converted = modet_torchvision.convert.convert_torchvision_detection(
        torch.load(tmp_path / "maskrcnn_resnet50_fpn.tv.pth", weights_only=True)
    )
    assert len(converted) == len([k for k in tv_keys if not k.endswith("num_batches_tracked")])
    model_keys = {k for k in model.state_dict() if "cell_anchors" not in k and "pixel_" not in k}
    assert set(converted) == model_keys
    assert converted["roi_heads.box_predictor.cls_score.weight"].shape == (91, 1024)
    assert converted["roi_heads.box_predictor.bbox_pred.weight"].shape == (360, 1024)
    assert converted["roi_heads.mask_head.predictor.weight"].shape == (90, 256, 1, 1)


def test_a_plain_pth_is_not_mistaken_for_torchvision(tmp_path):
    path = tmp_path / "weights.tv.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(Exception, match="not the state dict of a torchvision detection model"):
        modet_torchvision.formats.load_torchvision_detection(str(path))


def test_modet_info_lists_the_plugin_and_its_components():
    import subprocess

    result = subprocess.run([MODET_COMMAND, "info"], capture_output=True, text=True, check=True)
    assert "modet-torchvision" in result.stdout
    for component in ("build_torchvision_fpn_backbone", "TorchvisionAnchorGenerator"):
        assert component in result.stdout
