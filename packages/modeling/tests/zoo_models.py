"""detectron2's LazyConfig models built in Python with explicit arguments, at full or tiny widths.

The FCOS R50-FPN of ``configs/common/models/fcos.py`` and the Mask R-CNN FPN of
``common/models/mask_rcnn_fpn.py`` with the RegNetX/RegNetY-4GF backbones of
``COCO-InstanceSegmentation/mask_rcnn_regnet{x,y}_4gf_dds_fpn_1x.py``, with the same values.
Every builder takes ``lib``, a namespace of the classes to use: :func:`modet_lib` gives modet's;
``record_new_families.py`` passes detectron2's to record the parity fixtures,
so both sides build the very same networks.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

IMAGENET_BGR_MEAN = [103.530, 116.280, 123.675]
MSRA_STD = [1.0, 1.0, 1.0]  # the R50 models: MSRA weights absorbed the std into conv1
IMAGENET_BGR_STD = [57.375, 57.120, 58.395]  # the RegNet models


@dataclass(frozen=True)
class Widths:
    """Channel widths of the models; ``FULL`` are detectron2's, ``TINY`` the parity fixtures' (README)."""

    stem: int = 64
    res2_out: int = 256
    bottleneck2: int = 64  # res2's bottleneck width (WIDTH_PER_GROUP with one group)
    fpn: int = 256
    fc: int = 1024
    mask_conv: int = 256


FULL = Widths()
TINY = Widths(stem=16, res2_out=32, bottleneck2=8, fpn=32, fc=64, mask_conv=32)

# RegNet parameters: detectron2's 4GF models, and tiny ones with the same four-stage structure.
REGNETX_4GF = {"stem_width": 32, "depth": 23, "w_a": 38.65, "w_0": 96, "w_m": 2.43, "group_width": 40}
REGNETY_4GF = {"stem_width": 32, "depth": 22, "w_a": 31.41, "w_0": 96, "w_m": 2.24, "group_width": 64, "se_ratio": 0.25}
REGNETX_TINY = {"stem_width": 16, "depth": 6, "w_a": 8.0, "w_0": 8, "w_m": 2.0, "group_width": 8}
REGNETY_TINY = {**REGNETX_TINY, "se_ratio": 0.25}


# The classes the builders use, by the module that holds them in modet.
MODET_MODULES: dict[str, tuple[str, ...]] = {
    "modet.modeling.anchor_generator": ("DefaultAnchorGenerator",),
    "modet.modeling.backbone": ("FPN", "BasicStem", "BottleneckBlock", "ResNet"),
    "modet.modeling.backbone.fpn": ("LastLevelMaxPool", "LastLevelP6P7"),
    "modet.modeling.backbone.regnet": ("RegNet", "ResBottleneckBlock", "SimpleStem"),
    "modet.modeling.box_regression": ("Box2BoxTransform",),
    "modet.modeling.matcher": ("Matcher",),
    "modet.modeling.meta_arch": ("GeneralizedRCNN",),
    "modet.modeling.meta_arch.fcos": ("FCOS", "FCOSHead"),
    "modet.modeling.proposal_generator": ("RPN", "StandardRPNHead"),
    "modet.modeling.roi_heads": (
        "FastRCNNConvFCHead",
        "FastRCNNOutputLayers",
        "MaskRCNNConvUpsampleHead",
        "StandardROIHeads",
    ),
    "modet.ops": ("ROIPooler", "ShapeSpec"),
}


def load_lib(modules: dict[str, tuple[str, ...]]) -> SimpleNamespace:
    """A namespace of the named classes of each module."""
    return SimpleNamespace(
        **{name: getattr(importlib.import_module(module), name) for module, names in modules.items() for name in names}
    )


def modet_lib() -> SimpleNamespace:
    """modet's classes under the names the builders use."""
    return load_lib(MODET_MODULES)


def resnet50(lib: Any, widths: Widths, out_features: list[str]) -> Any:
    """ResNet-50 with FrozenBN, stride in the 1x1 conv (MSRA), stem and stages at ``widths``."""
    stages = []
    in_channels, out_channels, bottleneck = widths.stem, widths.res2_out, widths.bottleneck2
    for num_blocks, first_stride in zip([3, 4, 6, 3], [1, 2, 2, 2]):
        stages.append(
            lib.ResNet.make_stage(
                lib.BottleneckBlock,
                num_blocks,
                stride_per_block=[first_stride] + [1] * (num_blocks - 1),
                in_channels=in_channels,
                out_channels=out_channels,
                bottleneck_channels=bottleneck,
                stride_in_1x1=True,
                norm="FrozenBN",
            )
        )
        in_channels, out_channels, bottleneck = out_channels, out_channels * 2, bottleneck * 2
    stem = lib.BasicStem(in_channels=3, out_channels=widths.stem, norm="FrozenBN")
    return lib.ResNet(stem=stem, stages=stages, out_features=out_features, freeze_at=2)


def fcos_r50_fpn(lib: Any, widths: Widths = FULL, num_classes: int = 80) -> Any:
    """``COCO-Detection/fcos_R_50_FPN_1x.py``'s model: RetinaNet's R50-FPN (P6/P7 from P5) with FCOS's head."""
    fpn = lib.FPN(
        bottom_up=resnet50(lib, widths, ["res3", "res4", "res5"]),
        in_features=["res3", "res4", "res5"],
        out_channels=widths.fpn,
        top_block=lib.LastLevelP6P7(widths.fpn, widths.fpn, in_feature="p5"),
    )
    head = lib.FCOSHead(
        input_shape=[lib.ShapeSpec(channels=widths.fpn)] * 5,
        num_classes=num_classes,
        conv_dims=[widths.fpn] * 4,
        prior_prob=0.01,
        norm="GN",
    )
    return lib.FCOS(
        backbone=fpn,
        head=head,
        head_in_features=["p3", "p4", "p5", "p6", "p7"],
        num_classes=num_classes,
        focal_loss_alpha=0.25,
        focal_loss_gamma=2.0,
        test_score_thresh=0.2,
        test_nms_thresh=0.6,
        pixel_mean=IMAGENET_BGR_MEAN,
        pixel_std=MSRA_STD,
    )


def regnet(lib: Any, params: dict[str, Any], out_features: list[str] | None = None) -> Any:
    """A RegNet with detectron2's zoo settings: SimpleStem, ResBottleneckBlock, FrozenBN, freeze_at 2."""
    return lib.RegNet(
        stem_class=lib.SimpleStem,
        block_class=lib.ResBottleneckBlock,
        freeze_at=2,
        norm="FrozenBN",
        out_features=out_features or ["s1", "s2", "s3", "s4"],
        **params,
    )


def regnet_fpn(lib: Any, params: dict[str, Any], widths: Widths = FULL) -> Any:
    """The Mask R-CNN FPN backbone on a RegNet: P2-P5 from s1-s4, P6 by max pooling."""
    return lib.FPN(
        bottom_up=regnet(lib, params),
        in_features=["s1", "s2", "s3", "s4"],
        out_channels=widths.fpn,
        top_block=lib.LastLevelMaxPool(),
    )


def mask_rcnn_fpn(
    lib: Any, backbone: Any, widths: Widths = FULL, num_classes: int = 80, pixel_std: list[float] = IMAGENET_BGR_STD
) -> Any:
    """``common/models/mask_rcnn_fpn.py``'s model on ``backbone`` (an FPN with p2-p6), with the RegNet
    configs' ``pixel_std`` by default."""
    scales = (1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32)
    in_features = ["p2", "p3", "p4", "p5"]
    proposal_generator = lib.RPN(
        in_features=["p2", "p3", "p4", "p5", "p6"],
        head=lib.StandardRPNHead(in_channels=widths.fpn, num_anchors=3),
        anchor_generator=lib.DefaultAnchorGenerator(
            sizes=[[32], [64], [128], [256], [512]],
            aspect_ratios=[0.5, 1.0, 2.0],
            strides=[4, 8, 16, 32, 64],
            offset=0.0,
        ),
        anchor_matcher=lib.Matcher(thresholds=[0.3, 0.7], labels=[0, -1, 1], allow_low_quality_matches=True),
        box2box_transform=lib.Box2BoxTransform(weights=[1.0, 1.0, 1.0, 1.0]),
        batch_size_per_image=256,
        positive_fraction=0.5,
        pre_nms_topk=(2000, 1000),
        post_nms_topk=(1000, 1000),
        nms_thresh=0.7,
    )
    roi_heads = lib.StandardROIHeads(
        num_classes=num_classes,
        batch_size_per_image=512,
        positive_fraction=0.25,
        proposal_matcher=lib.Matcher(thresholds=[0.5], labels=[0, 1], allow_low_quality_matches=False),
        box_in_features=in_features,
        box_pooler=lib.ROIPooler(output_size=7, scales=scales, sampling_ratio=0, pooler_type="ROIAlignV2"),
        box_head=lib.FastRCNNConvFCHead(
            input_shape=lib.ShapeSpec(channels=widths.fpn, height=7, width=7), conv_dims=[], fc_dims=[widths.fc] * 2
        ),
        box_predictor=lib.FastRCNNOutputLayers(
            input_shape=lib.ShapeSpec(channels=widths.fc),
            test_score_thresh=0.05,
            box2box_transform=lib.Box2BoxTransform(weights=(10, 10, 5, 5)),
            num_classes=num_classes,
        ),
        mask_in_features=in_features,
        mask_pooler=lib.ROIPooler(output_size=14, scales=scales, sampling_ratio=0, pooler_type="ROIAlignV2"),
        mask_head=lib.MaskRCNNConvUpsampleHead(
            input_shape=lib.ShapeSpec(channels=widths.fpn, width=14, height=14),
            num_classes=num_classes,
            conv_dims=[widths.mask_conv] * 5,
        ),
    )
    return lib.GeneralizedRCNN(
        backbone=backbone,
        proposal_generator=proposal_generator,
        roi_heads=roi_heads,
        pixel_mean=IMAGENET_BGR_MEAN,
        pixel_std=pixel_std,
        input_format="BGR",
    )
