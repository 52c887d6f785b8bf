"""detectron2's model zoo API on modet's own copies of the model-zoo YAML files."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from modet.core.config import CfgNode, get_cfg

__all__ = ["get", "get_checkpoint_url", "get_config", "get_config_file"]

_CONFIG_DIR = Path(__file__).parent / "configs"

_S3_PREFIX = "https://dl.fbaipublicfiles.com/detectron2/"

# config name (without .yaml) -> model_id/model_final_<hash>.pkl of detectron2's released weights.
_CONFIG_PATH_TO_URL_SUFFIX = {
    "COCO-Detection/faster_rcnn_R_50_FPN_1x": "137257794/model_final_b275ba.pkl",
    "COCO-Detection/faster_rcnn_R_50_FPN_3x": "137849458/model_final_280758.pkl",
    "COCO-Detection/retinanet_R_50_FPN_1x": "190397773/model_final_bfca0b.pkl",
    "COCO-Detection/retinanet_R_50_FPN_3x": "190397829/model_final_5bd44e.pkl",
    "COCO-Detection/rpn_R_50_FPN_1x": "137258492/model_final_02ce48.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x": "137259246/model_final_9243eb.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_3x": "137849525/model_final_4ce675.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x": "137260431/model_final_a54504.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x": "137849600/model_final_f10217.pkl",
    "COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x": "137261548/model_final_04e291.pkl",
    "COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x": "137849621/model_final_a6e10b.pkl",
    "COCO-PanopticSegmentation/panoptic_fpn_R_50_1x": "139514544/model_final_dbfeb4.pkl",
    "COCO-PanopticSegmentation/panoptic_fpn_R_50_3x": "139514569/model_final_c10459.pkl",
    "Misc/cascade_mask_rcnn_R_50_FPN_1x": "138602847/model_final_e9d89b.pkl",
    "Misc/cascade_mask_rcnn_R_50_FPN_3x": "144998488/model_final_480dd8.pkl",
}


def _available() -> list[str]:
    return sorted(str(p.relative_to(_CONFIG_DIR)) for p in _CONFIG_DIR.rglob("*.yaml"))


def get_checkpoint_url(config_path: str) -> str:
    """URL of detectron2's released weights for a model-zoo config (``"COCO-.../mask_rcnn_R_50_FPN_3x.yaml"``)."""
    name = config_path.replace(".yaml", "").replace(".py", "")
    suffix = _CONFIG_PATH_TO_URL_SUFFIX.get(name)
    if suffix is None:
        raise RuntimeError(
            f"Pretrained model for {config_path} is not available! Known: {sorted(_CONFIG_PATH_TO_URL_SUFFIX)}"
        )
    return f"{_S3_PREFIX}{name}/{suffix}"


def get_config_file(config_path: str) -> str:
    """Path of a model-zoo config file, named as in detectron2's ``configs/`` folder."""
    cfg_file = _CONFIG_DIR / config_path
    if not cfg_file.is_file():
        raise RuntimeError(f"{config_path} not available in Model Zoo! Available configs: {_available()}")
    return str(cfg_file)


def get_config(config_path: str, trained: bool = False) -> CfgNode:
    """The full config of a model-zoo model; ``trained`` points MODEL.WEIGHTS at detectron2's released weights."""
    cfg_file = get_config_file(config_path)
    if not cfg_file.endswith(".yaml"):
        raise RuntimeError(f"{config_path}: only YAML configs are supported (LazyConfig .py files are not)")
    cfg = get_cfg()
    cfg.merge_from_file(cfg_file)
    if trained:
        cfg.MODEL.WEIGHTS = get_checkpoint_url(config_path)
    return cfg


def get(config_path: str, trained: bool = False, device: str | None = None) -> nn.Module:
    """Build a model-zoo model (in training mode) and load ``cfg.MODEL.WEIGHTS`` when it is set.

    Loading needs modet-checkpoint. ``device`` overrides MODEL.DEVICE; without it, CPU is used where
    CUDA is unavailable.
    """
    from ..meta_arch.build import build_model

    cfg = get_config(config_path, trained)
    if device is None and not torch.cuda.is_available():
        device = "cpu"
    if device is not None:
        cfg.MODEL.DEVICE = device
    model = build_model(cfg)
    if cfg.MODEL.WEIGHTS:
        try:
            from modet.checkpoint import DetectionCheckpointer
        except ImportError as exc:
            raise ImportError(
                f"loading {cfg.MODEL.WEIGHTS} needs modet-checkpoint: pip install modet-checkpoint"
            ) from exc
        DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    return model
