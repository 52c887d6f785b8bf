"""Backbone output shapes (R18/R50/ResNeXt/DC5/deformable/GN), FPN variants, freezing and registry."""

import pytest
import torch

from modet.core.config import get_cfg
from modet.modeling import BACKBONE_REGISTRY, build_backbone
from modet.modeling.backbone import FPN, BasicBlock, BottleneckBlock, DeformBottleneckBlock, ResNet, make_stage
from modet.ops import FrozenBatchNorm2d, ShapeSpec


def _tiny_cfg(**overrides):
    cfg = get_cfg()
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 8
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 16
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = 4
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.FPN.OUT_CHANNELS = 8
    cfg.merge_from_list([x for kv in overrides.items() for x in kv])
    return cfg


def _shapes(backbone, size=64):
    with torch.no_grad():
        out = backbone(torch.rand(1, 3, size, size))
    return {k: tuple(v.shape) for k, v in out.items()}


def test_r50_shapes_strides_and_blocks():
    backbone = build_backbone(_tiny_cfg())
    assert _shapes(backbone) == {
        "res2": (1, 16, 16, 16),
        "res3": (1, 32, 8, 8),
        "res4": (1, 64, 4, 4),
        "res5": (1, 128, 2, 2),
    }
    spec = backbone.output_shape()
    assert [spec[k].stride for k in ("res2", "res3", "res4", "res5")] == [4, 8, 16, 32]
    assert [len(s) for s in backbone.stages] == [3, 4, 6, 3]
    assert isinstance(backbone.res2[0], BottleneckBlock)
    # MSRA style: stride on the first 1x1 conv.
    assert backbone.res3[0].conv1.stride == (2, 2) and backbone.res3[0].conv2.stride == (1, 1)


def test_r18_uses_basic_blocks():
    cfg = _tiny_cfg(**{"MODEL.RESNETS.DEPTH": 18, "MODEL.RESNETS.RES2_OUT_CHANNELS": 64})
    backbone = build_backbone(cfg)
    assert isinstance(backbone.res2[0], BasicBlock) and [len(s) for s in backbone.stages] == [2, 2, 2, 2]
    assert _shapes(backbone)["res5"] == (1, 512, 2, 2)
    with pytest.raises(ValueError, match="RES2_OUT_CHANNELS = 64"):
        build_backbone(_tiny_cfg(**{"MODEL.RESNETS.DEPTH": 34}))


def test_resnext_groups_and_stride_in_3x3():
    cfg = _tiny_cfg(**{"MODEL.RESNETS.NUM_GROUPS": 4, "MODEL.RESNETS.STRIDE_IN_1X1": False})
    backbone = build_backbone(cfg)
    conv2 = backbone.res3[0].conv2
    assert conv2.groups == 4 and conv2.weight.shape == (32, 8, 3, 3) and conv2.stride == (2, 2)
    assert _shapes(backbone)["res4"] == (1, 64, 4, 4)


def test_dc5_keeps_res5_resolution():
    backbone = build_backbone(_tiny_cfg(**{"MODEL.RESNETS.RES5_DILATION": 2}))
    assert _shapes(backbone)["res5"] == (1, 128, 4, 4)
    assert backbone.output_shape()["res5"].stride == 16
    assert backbone.res5[0].conv2.dilation == (2, 2)


@pytest.mark.parametrize("modulated", [False, True])
def test_deformable_stages(modulated):
    cfg = _tiny_cfg(
        **{"MODEL.RESNETS.DEFORM_ON_PER_STAGE": [False, True, False, True], "MODEL.RESNETS.DEFORM_MODULATED": modulated}
    )
    backbone = build_backbone(cfg)
    assert isinstance(backbone.res3[0], DeformBottleneckBlock) and isinstance(backbone.res4[0], BottleneckBlock)
    assert backbone.res3[0].conv2_offset.weight.shape[0] == (27 if modulated else 18)
    # Zero-initialised offsets make a deformable block equal to a plain one at start.
    assert _shapes(backbone)["res5"] == (1, 128, 2, 2)


def test_gn_norm_and_freeze_at():
    gn = {
        "MODEL.RESNETS.NORM": "GN",
        "MODEL.RESNETS.STEM_OUT_CHANNELS": 32,
        "MODEL.RESNETS.WIDTH_PER_GROUP": 32,
        "MODEL.RESNETS.RES2_OUT_CHANNELS": 64,
    }
    backbone = build_backbone(_tiny_cfg(**gn))
    assert isinstance(backbone.stem.conv1.norm, torch.nn.GroupNorm) and backbone.stem.conv1.norm.num_groups == 32
    assert _shapes(backbone)["res5"] == (1, 512, 2, 2)
    # FREEZE_AT 2: stem and res2 frozen (no grad, FrozenBN), res3 trainable.
    frozen = build_backbone(_tiny_cfg())
    assert not any(p.requires_grad for p in frozen.stem.parameters())
    assert not any(p.requires_grad for p in frozen.res2.parameters())
    assert all(p.requires_grad for p in frozen.res3.parameters())
    bn = build_backbone(_tiny_cfg(**{"MODEL.RESNETS.NORM": "BN"}))
    assert isinstance(bn.res2[0].conv1.norm, FrozenBatchNorm2d)
    assert isinstance(bn.res3[0].conv1.norm, torch.nn.BatchNorm2d)


def test_out_features_truncate_stages():
    backbone = build_backbone(_tiny_cfg(**{"MODEL.RESNETS.OUT_FEATURES": ["res4"]}))
    assert backbone.stage_names == ("res2", "res3", "res4") and not hasattr(backbone, "res5")
    assert list(backbone.output_shape()) == ["res4"]


def test_fpn_outputs_and_padding():
    cfg = _tiny_cfg(**{"MODEL.BACKBONE.NAME": "build_resnet_fpn_backbone"})
    fpn = build_backbone(cfg)
    assert isinstance(fpn, FPN) and fpn.size_divisibility == 32
    assert fpn.padding_constraints == {"square_size": 0}
    assert _shapes(fpn) == {
        "p2": (1, 8, 16, 16),
        "p3": (1, 8, 8, 8),
        "p4": (1, 8, 4, 4),
        "p5": (1, 8, 2, 2),
        "p6": (1, 8, 1, 1),
    }
    with torch.no_grad():
        out = fpn(torch.rand(1, 3, 64, 64))
    # P6 is P5 subsampled by a 1x1 max pool of stride 2.
    torch.testing.assert_close(out["p6"], out["p5"][:, :, ::2, ::2])


def test_cpu_inference_runs_the_resnet_channels_last_and_the_fpn_keeps_that_layout():
    cfg = _tiny_cfg(**{"MODEL.BACKBONE.NAME": "build_resnet_fpn_backbone"})
    fpn = build_backbone(cfg).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        kept = fpn.bottom_up(x, keep_channels_last=True)
        plain = fpn.bottom_up(x)
        out = fpn(x)
    for name, feature in plain.items():
        assert feature.is_contiguous(), name
        assert kept[name].is_contiguous(memory_format=torch.channels_last), name
        torch.testing.assert_close(kept[name], feature, rtol=0, atol=0)  # the same tensors' values
    # FPN's outputs stay channels-last (their consumers read them faster so), with the values of
    # the NCHW way that autograd takes
    traced = fpn(x.requires_grad_())
    for name, feature in out.items():
        assert feature.is_contiguous(memory_format=torch.channels_last), name
        assert traced[name].is_contiguous(), name
        scale = traced[name].abs().max().item()  # about 50: the fifty layers' roundings differ
        torch.testing.assert_close(feature, traced[name], rtol=0, atol=1e-5 * scale)
    # training: NCHW throughout, as detectron2
    fpn.train()
    assert all(f.is_contiguous() for f in fpn.bottom_up(x, keep_channels_last=True).values())


def test_retinanet_fpn_and_avg_fuse():
    cfg = _tiny_cfg(
        **{
            "MODEL.BACKBONE.NAME": "build_retinanet_resnet_fpn_backbone",
            "MODEL.RESNETS.OUT_FEATURES": ["res3", "res4", "res5"],
            "MODEL.FPN.IN_FEATURES": ["res3", "res4", "res5"],
            "MODEL.FPN.FUSE_TYPE": "avg",
        }
    )
    fpn = build_backbone(cfg)
    shapes = _shapes(fpn, size=128)
    assert list(shapes) == ["p3", "p4", "p5", "p6", "p7"]
    assert shapes["p7"] == (1, 8, 1, 1) and fpn.output_shape()["p7"].stride == 128
    assert fpn.top_block.p6.weight.shape == (8, 128, 3, 3)


def test_make_stage_per_block_arguments():
    blocks = make_stage(BasicBlock, 3, in_channels=4, out_channels=8, stride_per_block=[2, 1, 1], norm="BN")
    assert [b.stride for b in blocks] == [2, 1, 1] and blocks[1].in_channels == 8
    with pytest.raises(ValueError, match="stride_per_block has 2 values for 3 blocks"):
        ResNet.make_stage(BasicBlock, 3, in_channels=4, out_channels=8, stride_per_block=[2, 1])


def test_registry_view_and_custom_backbone():
    assert "build_resnet_backbone" in BACKBONE_REGISTRY
    assert BACKBONE_REGISTRY.get("build_resnet_fpn_backbone").__name__ == "build_resnet_fpn_backbone"
    cfg = _tiny_cfg(**{"MODEL.BACKBONE.NAME": "no_such_backbone"})
    with pytest.raises(KeyError, match="no_such_backbone"):
        build_backbone(cfg, ShapeSpec(channels=3))


def test_unset_input_channels_are_a_clear_error():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    with pytest.raises(ValueError, match=r"input_shape.channels is not set \(None\)"):
        build_backbone(cfg, ShapeSpec(channels=None))
