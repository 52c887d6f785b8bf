"""Every torchvision family builds as a modet backbone, from config alone, and trains in a Mask R-CNN."""

import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from modet import model_zoo
from modet.core import EventStorage
from modet.modeling import build_model
from modet.structures import BitMasks, Boxes, Instances

ARCHS = [
    "resnet18",
    "resnext50_32x4d",
    "mobilenet_v3_small",
    "regnet_x_400mf",
    "convnext_tiny",
    "efficientnet_b0",
    "swin_t",
]
TINY_HEADS = [
    "MODEL.BACKBONE.NAME", "build_torchvision_fpn_backbone",
    "MODEL.FPN.OUT_CHANNELS", "16",
    "MODEL.ROI_HEADS.NUM_CLASSES", "2",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16",
    "MODEL.ROI_BOX_HEAD.FC_DIM", "32",
    "MODEL.ROI_MASK_HEAD.CONV_DIM", "8",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "32",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "32",
    "MODEL.DEVICE", "cpu",
]  # fmt: skip


def tv_cfg(arch):
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
    cfg.merge_from_list([*TINY_HEADS, "MODEL.TORCHVISION.ARCH", arch])
    return cfg


def test_builder_is_found_from_config_without_an_import():
    assert "modet_torchvision.backbones" not in sys.modules
    model = build_model(tv_cfg("resnet18"))
    assert type(model.backbone.bottom_up).__module__ == "modet_torchvision.backbones"


@pytest.mark.parametrize("arch", ARCHS)
def test_backbone_shapes_at_two_sizes_and_training_steps(arch):
    torch.manual_seed(0)
    model = build_model(tv_cfg(arch))
    bottom_up = model.backbone.bottom_up
    shapes = bottom_up.output_shape()
    assert [shapes[f].stride for f in ("res2", "res3", "res4", "res5")] == [4, 8, 16, 32]
    bottom_up.eval()
    for height, width in [(64, 96), (128, 64)]:
        with torch.no_grad():
            features = bottom_up(torch.randn(1, 3, height, width))
        for name, spec in shapes.items():
            assert features[name].shape == (1, spec.channels, height // spec.stride, width // spec.stride), name

    model.train()
    image = torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8)
    mask = torch.zeros(1, 64, 96, dtype=torch.bool)
    mask[0, 10:50, 20:70] = True
    gt = Instances((64, 96), gt_boxes=Boxes(torch.tensor([[20.0, 10.0, 70.0, 50.0]])), gt_classes=torch.tensor([1]))
    gt.gt_masks = BitMasks(mask)
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.SGD(trainable, lr=0.005, momentum=0.9)
    with EventStorage():
        for _ in range(3):
            losses = model([{"image": image, "instances": gt}])
            total = sum(losses.values())
            assert math.isfinite(float(total)), losses
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
    assert {"loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc"} <= set(losses)
    changed = [not torch.equal(a, b) for a, b in zip(before, (p.detach() for p in trainable))]
    assert any(changed)


def test_unknown_architecture_is_named():
    cfg = tv_cfg("resnet18")
    cfg.MODEL.TORCHVISION.ARCH = "vgg16"
    with pytest.raises(ValueError, match="'vgg16' is not a supported torchvision backbone"):
        build_model(cfg)


def test_unknown_out_feature_is_named():
    cfg = tv_cfg("resnet18")
    cfg.MODEL.TORCHVISION.OUT_FEATURES = ["res2", "res6"]
    with pytest.raises(ValueError, match=r"\['res6'\]"):
        build_model(cfg)


def test_blocked_plugin_is_gone_with_the_unknown_name_error():
    code = textwrap.dedent(
        """
        from modet import model_zoo
        from modet.modeling import build_model
        cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
        assert "TORCHVISION" not in cfg.MODEL, "a blocked plugin must not add its config keys"
        cfg.merge_from_list(["MODEL.BACKBONE.NAME", "build_torchvision_fpn_backbone", "MODEL.DEVICE", "cpu"])
        build_model(cfg)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MODET_BLOCKED_PLUGINS": "torchvision"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "no backbone named 'build_torchvision_fpn_backbone'" in result.stderr
    assert "build_resnet_fpn_backbone  (from modet-modeling)" in result.stderr
