"""The MODEL.* and TEST.* config keys modet-modeling reads, with detectron2's defaults, values and types.

Keys other packages read too live lower: ``INPUT.FORMAT``, ``MODEL.MASK_ON`` and
``MODEL.KEYPOINT_ON`` in modet-core; the other ``INPUT.*`` keys in modet-data.

Tuples stay tuples where detectron2 uses tuples, so dumps and comparisons match detectron2.
"""

from __future__ import annotations

from modet.core.config import CfgNode, Check, Each, OneOf, Range, section


def _add_box_regression(node: CfgNode, weights: tuple[float, float, float, float]) -> None:
    """The box-regression loss keys RPN and the ROI box head share."""
    node.BBOX_REG_LOSS_TYPE = "smooth_l1"
    node.BBOX_REG_LOSS_WEIGHT = 1.0
    node.BBOX_REG_WEIGHTS = weights
    node.SMOOTH_L1_BETA = 0.0


def _add_pooler(node: CfgNode) -> None:
    """The ROI pooler keys of the box, mask and keypoint heads."""
    node.POOLER_RESOLUTION = 14
    node.POOLER_SAMPLING_RATIO = 0
    node.POOLER_TYPE = "ROIAlignV2"


def _add_model_basics(cfg: CfgNode) -> None:
    model = section(cfg, "MODEL")
    model.DEVICE = "cuda"
    model.META_ARCHITECTURE = "GeneralizedRCNN"
    # A checkpoint path or URL; build_model never reads it (loading is the checkpointer's job).
    model.WEIGHTS = ""
    # BGR, like INPUT.FORMAT; std 1 because MSRA/Detectron1 weights absorbed it into conv1.
    model.PIXEL_MEAN = [103.530, 116.280, 123.675]
    model.PIXEL_STD = [1.0, 1.0, 1.0]

    backbone = section(cfg, "MODEL.BACKBONE")
    backbone.NAME = "build_resnet_backbone"
    backbone.FREEZE_AT = 2

    fpn = section(cfg, "MODEL.FPN")
    fpn.IN_FEATURES = []
    fpn.OUT_CHANNELS = 256
    fpn.NORM = ""
    fpn.FUSE_TYPE = "sum"

    proposal = section(cfg, "MODEL.PROPOSAL_GENERATOR")
    proposal.NAME = "RPN"
    proposal.MIN_SIZE = 0

    anchors = section(cfg, "MODEL.ANCHOR_GENERATOR")
    anchors.NAME = "DefaultAnchorGenerator"
    anchors.SIZES = [[32, 64, 128, 256, 512]]
    anchors.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]
    anchors.ANGLES = [[-90, 0, 90]]
    anchors.OFFSET = 0.0


def _add_rpn(cfg: CfgNode) -> None:
    rpn = section(cfg, "MODEL.RPN")
    rpn.HEAD_NAME = "StandardRPNHead"
    rpn.IN_FEATURES = ["res4"]
    rpn.BOUNDARY_THRESH = -1
    rpn.IOU_THRESHOLDS = [0.3, 0.7]
    rpn.IOU_LABELS = [0, -1, 1]
    rpn.BATCH_SIZE_PER_IMAGE = 256
    rpn.POSITIVE_FRACTION = 0.5
    _add_box_regression(rpn, (1.0, 1.0, 1.0, 1.0))
    rpn.LOSS_WEIGHT = 1.0
    # With FPN the pre-NMS top-k is per level; post-NMS top-k is per image.
    rpn.PRE_NMS_TOPK_TRAIN = 12000
    rpn.PRE_NMS_TOPK_TEST = 6000
    rpn.POST_NMS_TOPK_TRAIN = 2000
    rpn.POST_NMS_TOPK_TEST = 1000
    rpn.NMS_THRESH = 0.7
    rpn.CONV_DIMS = [-1]


def _add_roi_heads(cfg: CfgNode) -> None:
    heads = section(cfg, "MODEL.ROI_HEADS")
    heads.NAME = "Res5ROIHeads"
    heads.NUM_CLASSES = 80
    heads.IN_FEATURES = ["res4"]
    heads.IOU_THRESHOLDS = [0.5]
    heads.IOU_LABELS = [0, 1]
    heads.BATCH_SIZE_PER_IMAGE = 512
    heads.POSITIVE_FRACTION = 0.25
    heads.SCORE_THRESH_TEST = 0.05
    heads.NMS_THRESH_TEST = 0.5
    heads.PROPOSAL_APPEND_GT = True

    box = section(cfg, "MODEL.ROI_BOX_HEAD")
    box.NAME = ""
    _add_box_regression(box, (10.0, 10.0, 5.0, 5.0))
    _add_pooler(box)
    box.NUM_FC = 0
    box.FC_DIM = 1024
    box.NUM_CONV = 0
    box.CONV_DIM = 256
    box.NORM = ""
    box.CLS_AGNOSTIC_BBOX_REG = False
    box.TRAIN_ON_PRED_BOXES = False
    box.USE_FED_LOSS = False
    box.USE_SIGMOID_CE = False
    box.FED_LOSS_FREQ_WEIGHT_POWER = 0.5
    box.FED_LOSS_NUM_CLASSES = 50

    cascade = section(cfg, "MODEL.ROI_BOX_CASCADE_HEAD")
    cascade.BBOX_REG_WEIGHTS = (
        (10.0, 10.0, 5.0, 5.0),
        (20.0, 20.0, 10.0, 10.0),
        (30.0, 30.0, 15.0, 15.0),
    )
    cascade.IOUS = (0.5, 0.6, 0.7)

    mask = section(cfg, "MODEL.ROI_MASK_HEAD")
    mask.NAME = "MaskRCNNConvUpsampleHead"
    _add_pooler(mask)
    mask.NUM_CONV = 0
    mask.CONV_DIM = 256
    mask.NORM = ""
    mask.CLS_AGNOSTIC_MASK = False

    keypoint = section(cfg, "MODEL.ROI_KEYPOINT_HEAD")
    keypoint.NAME = "KRCNNConvDeconvUpsampleHead"
    _add_pooler(keypoint)
    keypoint.CONV_DIMS = tuple(512 for _ in range(8))
    keypoint.NUM_KEYPOINTS = 17
    keypoint.NORMALIZE_LOSS_BY_VISIBLE_KEYPOINTS = True
    keypoint.LOSS_WEIGHT = 1.0


def _add_dense_and_segmentation(cfg: CfgNode) -> None:
    sem_seg = section(cfg, "MODEL.SEM_SEG_HEAD")
    sem_seg.NAME = "SemSegFPNHead"
    sem_seg.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    sem_seg.IGNORE_VALUE = 255
    sem_seg.NUM_CLASSES = 54
    sem_seg.CONVS_DIM = 128
    sem_seg.COMMON_STRIDE = 4
    sem_seg.NORM = "GN"
    sem_seg.LOSS_WEIGHT = 1.0

    panoptic = section(cfg, "MODEL.PANOPTIC_FPN")
    panoptic.INSTANCE_LOSS_WEIGHT = 1.0
    combine = section(cfg, "MODEL.PANOPTIC_FPN.COMBINE")
    combine.ENABLED = True
    combine.OVERLAP_THRESH = 0.5
    combine.STUFF_AREA_LIMIT = 4096
    combine.INSTANCES_CONFIDENCE_THRESH = 0.5

    retinanet = section(cfg, "MODEL.RETINANET")
    retinanet.NUM_CLASSES = 80
    retinanet.IN_FEATURES = ["p3", "p4", "p5", "p6", "p7"]
    retinanet.NUM_CONVS = 4
    retinanet.IOU_THRESHOLDS = [0.4, 0.5]
    retinanet.IOU_LABELS = [0, -1, 1]
    retinanet.PRIOR_PROB = 0.01
    retinanet.SCORE_THRESH_TEST = 0.05
    retinanet.TOPK_CANDIDATES_TEST = 1000
    retinanet.NMS_THRESH_TEST = 0.5
    retinanet.BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
    retinanet.FOCAL_LOSS_GAMMA = 2.0
    retinanet.FOCAL_LOSS_ALPHA = 0.25
    retinanet.SMOOTH_L1_LOSS_BETA = 0.1
    retinanet.BBOX_REG_LOSS_TYPE = "smooth_l1"
    retinanet.NORM = ""


def _add_resnets(cfg: CfgNode) -> None:
    resnets = section(cfg, "MODEL.RESNETS")
    resnets.DEPTH = 50
    resnets.OUT_FEATURES = ["res4"]
    resnets.NUM_GROUPS = 1  # > 1 makes a ResNeXt
    resnets.NORM = "FrozenBN"
    resnets.WIDTH_PER_GROUP = 64
    # True for MSRA weights (stride on the 1x1 conv); False for Caffe2/torchvision weights.
    resnets.STRIDE_IN_1X1 = True
    resnets.RES5_DILATION = 1
    resnets.RES2_OUT_CHANNELS = 256  # 64 for R18/R34
    resnets.STEM_OUT_CHANNELS = 64
    resnets.DEFORM_ON_PER_STAGE = [False, False, False, False]
    resnets.DEFORM_MODULATED = False
    resnets.DEFORM_NUM_GROUPS = 1


def _add_test(cfg: CfgNode) -> None:
    test = section(cfg, "TEST")
    # At most this many detections per image; -1 keeps them all.
    test.DETECTIONS_PER_IMAGE = 100
    aug = section(cfg, "TEST.AUG")
    aug.ENABLED = False
    aug.MIN_SIZES = (400, 500, 600, 700, 800, 900, 1000, 1100, 1200)
    aug.MAX_SIZE = 4000
    aug.FLIP = True


_FRACTION = Range(min=0.0, max=1.0)
_COUNT = Range(min=1, integer=True)
_NON_NEGATIVE_INT = Range(min=0, integer=True)

#: The values a user may get wrong, refused when merged (see modet.core.config.checks).
MODELING_CHECKS: dict[str, Check] = {
    "MODEL.BACKBONE.FREEZE_AT": Range(min=0, max=5, integer=True),
    "MODEL.RESNETS.DEPTH": OneOf([18, 34, 50, 101, 152]),
    "MODEL.RESNETS.NUM_GROUPS": _COUNT,
    "MODEL.RESNETS.RES5_DILATION": OneOf([1, 2]),
    "MODEL.FPN.FUSE_TYPE": OneOf(["sum", "avg"]),
    "MODEL.ANCHOR_GENERATOR.SIZES": Each(Range(min=0.0)),
    "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS": Each(Range(min=0.0)),
    "MODEL.RPN.BATCH_SIZE_PER_IMAGE": _COUNT,
    "MODEL.RPN.POSITIVE_FRACTION": _FRACTION,
    "MODEL.RPN.NMS_THRESH": _FRACTION,
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN": _NON_NEGATIVE_INT,
    "MODEL.RPN.PRE_NMS_TOPK_TEST": _NON_NEGATIVE_INT,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN": _NON_NEGATIVE_INT,
    "MODEL.RPN.POST_NMS_TOPK_TEST": _NON_NEGATIVE_INT,
    "MODEL.ROI_HEADS.NUM_CLASSES": _COUNT,
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE": _COUNT,
    "MODEL.ROI_HEADS.POSITIVE_FRACTION": _FRACTION,
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST": _FRACTION,
    "MODEL.ROI_HEADS.NMS_THRESH_TEST": _FRACTION,
    "MODEL.ROI_BOX_HEAD.NUM_FC": _NON_NEGATIVE_INT,
    "MODEL.ROI_BOX_HEAD.NUM_CONV": _NON_NEGATIVE_INT,
    "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION": _COUNT,
    "MODEL.ROI_MASK_HEAD.NUM_CONV": _NON_NEGATIVE_INT,
    "MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION": _COUNT,
    "MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS": _COUNT,
    "MODEL.ROI_KEYPOINT_HEAD.POOLER_RESOLUTION": _COUNT,
    "MODEL.RETINANET.NUM_CLASSES": _COUNT,
    "MODEL.RETINANET.SCORE_THRESH_TEST": _FRACTION,
    "MODEL.RETINANET.NMS_THRESH_TEST": _FRACTION,
    "MODEL.RETINANET.PRIOR_PROB": _FRACTION,
    "MODEL.RETINANET.TOPK_CANDIDATES_TEST": _NON_NEGATIVE_INT,
    "MODEL.SEM_SEG_HEAD.NUM_CLASSES": _COUNT,
    "MODEL.SEM_SEG_HEAD.COMMON_STRIDE": _COUNT,
    "TEST.DETECTIONS_PER_IMAGE": Range(min=-1, integer=True),
}


def add_modeling_config(cfg: CfgNode) -> None:
    """Add the MODEL.* and TEST.* keys modet-modeling reads, with detectron2's defaults and checks."""
    _add_model_basics(cfg)
    _add_rpn(cfg)
    _add_roi_heads(cfg)
    _add_dense_and_segmentation(cfg)
    _add_resnets(cfg)
    _add_test(cfg)
    cfg.add_checks(MODELING_CHECKS)
