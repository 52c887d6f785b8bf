import logging

import pytest
import torch

from modet.core import plugins

# A Mask R-CNN from the model zoo's config with tiny widths: same code paths, fast on CPU.
TINY_MASK_RCNN_OPTS = [
    "MODEL.DEVICE", "cpu",
    "MODEL.WEIGHTS", "",
    "MODEL.BACKBONE.FREEZE_AT", "0",
    "MODEL.RESNETS.NORM", "BN",  # FrozenBN with random weights would let activations explode
    "MODEL.RESNETS.STEM_OUT_CHANNELS", "8",
    "MODEL.RESNETS.RES2_OUT_CHANNELS", "16",
    "MODEL.RESNETS.WIDTH_PER_GROUP", "4",
    "MODEL.FPN.OUT_CHANNELS", "16",
    "MODEL.ROI_BOX_HEAD.FC_DIM", "32",
    "MODEL.ROI_MASK_HEAD.CONV_DIM", "8",
    "MODEL.ROI_MASK_HEAD.NUM_CONV", "1",
    "MODEL.ROI_HEADS.NUM_CLASSES", "3",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32",
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
    "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "32",
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN", "200",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "50",
    "MODEL.RPN.PRE_NMS_TOPK_TEST", "200",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "50",
    "TEST.DETECTIONS_PER_IMAGE", "20",
    "INPUT.MIN_SIZE_TEST", "64",
    "INPUT.MAX_SIZE_TEST", "96",
]  # fmt: skip


# The same, for a command line that sets the weights, the number of classes and the device itself.
TINY_MODEL_OPTS = [
    value
    for key, val in zip(TINY_MASK_RCNN_OPTS[::2], TINY_MASK_RCNN_OPTS[1::2])
    if key not in ("MODEL.WEIGHTS", "MODEL.ROI_HEADS.NUM_CLASSES", "MODEL.DEVICE")
    for value in (key, val)
]


def tiny_mask_rcnn_cfg():
    from modet.model_zoo import get_config

    cfg = get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml")
    cfg.merge_from_list(list(TINY_MASK_RCNN_OPTS))
    return cfg


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """(cfg, path): a tiny Mask R-CNN with seed-0 weights saved by DetectionCheckpointer."""
    from modet.checkpoint import DetectionCheckpointer
    from modet.modeling import build_model

    cfg = tiny_mask_rcnn_cfg()
    torch.manual_seed(0)
    model = build_model(cfg)
    # Non-trivial BN statistics, so the test sees eval-mode normalisation at work.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    save_dir = tmp_path_factory.mktemp("tiny_mask_rcnn")
    DetectionCheckpointer(model, save_dir=str(save_dir)).save("model_tiny")
    cfg.MODEL.WEIGHTS = str(save_dir / "model_tiny.pth")
    return cfg, cfg.MODEL.WEIGHTS


@pytest.fixture(autouse=True)
def fresh_plugin_state():
    """Each test sees the installed plugins freshly loaded."""
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


@pytest.fixture(autouse=True)
def _restore_the_modet_logger():
    """setup_logger (DefaultTrainer, the CLI) stops "modet" propagating; later tests read caplog,
    which before pytest 9 listens on the root logger only."""
    logger = logging.getLogger("modet")
    saved = logger.handlers[:], logger.propagate, logger.level
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:], logger.propagate = saved[0], saved[1]
    logger.setLevel(saved[2])
