"""The plugin as a user meets it: installed, never imported by hand, found by its config name."""

import os
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import torch

from modet import model_zoo
from modet.core import EventStorage, get_registry
from modet.modeling import build_model
from modet.ops import ShapeSpec
from modet.structures import Boxes, Instances

TINY = [
    "MODEL.RESNETS.WIDTH_PER_GROUP", "8",
    "MODEL.RESNETS.NORM", "BN",  # from random weights, frozen statistics make the deep trunk blow up
    "MODEL.RESNETS.RES2_OUT_CHANNELS", "32",
    "MODEL.RESNETS.STEM_OUT_CHANNELS", "16",
    "MODEL.FPN.OUT_CHANNELS", "16",
    "MODEL.ROI_HEADS.NUM_CLASSES", "3",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "64",
    "MODEL.ROI_BOX_HEAD.NAME", "LightConvFCHead",
    "MODEL.ROI_LIGHT_HEAD.CONV_DIM", "8",
    "MODEL.ROI_LIGHT_HEAD.FC_DIM", "32",
    "MODEL.DEVICE", "cpu",
]  # fmt: skip

# the console script installed beside this interpreter, whether or not its folder is on PATH
MODET_COMMAND = os.path.join(sysconfig.get_path("scripts"), "modet")


def light_cfg():
    cfg = model_zoo.get_config("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml")
    cfg.merge_from_list(TINY)
    return cfg


def test_config_names_the_head_and_build_model_finds_it_without_an_import():
    assert "modet_lighthead.head" not in sys.modules
    cfg = light_cfg()
    assert cfg.MODEL.ROI_LIGHT_HEAD.NUM_CONV == 2  # the plugin's own default
    model = build_model(cfg)
    head = model.roi_heads.box_head
    assert type(head).__module__ == "modet_lighthead.head"
    assert get_registry().entry("roi_box_head", "LightConvFCHead").provider == "modet-lighthead"
    # 16-channel 7x7 pooled features: 1x1 reduce, 2 x (depthwise 3x3 + pointwise 1x1), FC to 32
    reduce = 16 * 8 + 8
    block = (8 * 9 + 8) + (8 * 8 + 8)
    fc = 8 * 7 * 7 * 32 + 32
    assert sum(p.numel() for p in head.parameters()) == reduce + 2 * block + fc
    assert model.roi_heads.box_predictor.cls_score.in_features == 32


def test_head_runs_in_inference_and_training():
    torch.manual_seed(0)
    model = build_model(light_cfg())
    image = torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8)
    model.eval()
    with torch.no_grad():
        (output,) = model([{"image": image}])
    assert output["instances"].image_size == (96, 128)
    model.train()
    instances = Instances(
        (96, 128), gt_boxes=Boxes(torch.tensor([[10.0, 12.0, 60.0, 70.0]])), gt_classes=torch.tensor([1])
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    losses = []
    with EventStorage():
        for _ in range(4):
            loss_dict = model([{"image": image, "instances": instances}])
            total = sum(loss_dict.values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            losses.append(total.item())
    assert {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"} <= set(loss_dict)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


def test_head_rejects_an_input_shape_without_spatial_size():
    from modet_lighthead import LightConvFCHead

    with pytest.raises(ValueError, match="channels, height and width"):
        LightConvFCHead(ShapeSpec(channels=16), conv_dim=8, num_conv=1, fc_dim=16)


def run(code, **env):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, **env}, capture_output=True, text=True
    )


def test_blocked_plugin_is_gone_with_the_unknown_name_error():
    code = """
        from modet import model_zoo
        from modet.modeling import build_model
        cfg = model_zoo.get_config("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml")
        assert "ROI_LIGHT_HEAD" not in cfg.MODEL, "a blocked plugin must not add its config keys"
        cfg.merge_from_list(["MODEL.ROI_BOX_HEAD.NAME", "LightConvFCHead", "MODEL.DEVICE", "cpu"])
        build_model(cfg)
        """
    result = run(code, MODET_BLOCKED_PLUGINS="lighthead")
    assert result.returncode != 0
    assert "no roi_box_head named 'LightConvFCHead'" in result.stderr
    assert "FastRCNNConvFCHead  (from modet-modeling)" in result.stderr


def test_modet_info_lists_the_plugin_and_its_component():
    result = subprocess.run([MODET_COMMAND, "info"], capture_output=True, text=True, check=True)
    assert "modet-lighthead" in result.stdout
    assert "LightConvFCHead" in result.stdout
