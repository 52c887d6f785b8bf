"""detectron2's model zoo API (``detectron2.model_zoo``) on modet's copies of its configs.

``get_config_file`` finds a config by its detectron2 name, ``get_config`` reads it (YAML into
``get_cfg()``, LazyConfig ``.py`` through ``LazyConfig.load``), ``get`` builds the model and
``get_checkpoint_url`` gives the URL of detectron2's released weights.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modet.checkpoint import DetectionCheckpointer
from modet.core.config import CfgNode, LazyConfig, get_cfg, instantiate
from modet.modeling import build_model

__all__ = ["get", "get_checkpoint_url", "get_config", "get_config_file"]

CONFIG_DIR = Path(__file__).parent / "configs"

S3_PREFIX = "https://dl.fbaipublicfiles.com/detectron2/"

# config name (no extension) -> "<model id>/<file name>" of detectron2's released weights
CONFIG_PATH_TO_URL_SUFFIX = {
    "COCO-Detection/faster_rcnn_R_50_C4_1x": "137257644/model_final_721ade.pkl",
    "COCO-Detection/faster_rcnn_R_50_DC5_1x": "137847829/model_final_51d356.pkl",
    "COCO-Detection/faster_rcnn_R_50_FPN_1x": "137257794/model_final_b275ba.pkl",
    "COCO-Detection/faster_rcnn_R_50_C4_3x": "137849393/model_final_f97cb7.pkl",
    "COCO-Detection/faster_rcnn_R_50_DC5_3x": "137849425/model_final_68d202.pkl",
    "COCO-Detection/faster_rcnn_R_50_FPN_3x": "137849458/model_final_280758.pkl",
    "COCO-Detection/faster_rcnn_R_101_C4_3x": "138204752/model_final_298dad.pkl",
    "COCO-Detection/faster_rcnn_R_101_DC5_3x": "138204841/model_final_3e0943.pkl",
    "COCO-Detection/faster_rcnn_R_101_FPN_3x": "137851257/model_final_f6e8b1.pkl",
    "COCO-Detection/faster_rcnn_X_101_32x8d_FPN_3x": "139173657/model_final_68b088.pkl",
    "COCO-Detection/retinanet_R_50_FPN_1x": "190397773/model_final_bfca0b.pkl",
    "COCO-Detection/retinanet_R_50_FPN_3x": "190397829/model_final_5bd44e.pkl",
    "COCO-Detection/retinanet_R_101_FPN_3x": "190397697/model_final_971ab9.pkl",
    "COCO-Detection/rpn_R_50_C4_1x": "137258005/model_final_450694.pkl",
    "COCO-Detection/rpn_R_50_FPN_1x": "137258492/model_final_02ce48.pkl",
    "COCO-Detection/fast_rcnn_R_50_FPN_1x": "137635226/model_final_e5f7ce.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x": "137259246/model_final_9243eb.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_DC5_1x": "137260150/model_final_4f86c3.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x": "137260431/model_final_a54504.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_3x": "137849525/model_final_4ce675.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_DC5_3x": "137849551/model_final_84107b.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x": "137849600/model_final_f10217.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_C4_3x": "138363239/model_final_a2914c.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_DC5_3x": "138363294/model_final_0464b7.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x": "138205316/model_final_a3ec72.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x": "139653917/model_final_2d9806.pkl",
    "new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ": "42047764/model_final_bb69de.pkl",
    "new_baselines/mask_rcnn_R_50_FPN_200ep_LSJ": "42047638/model_final_89a8d3.pkl",
    "new_baselines/mask_rcnn_R_50_FPN_400ep_LSJ": "42019571/model_final_14d201.pkl",
    "new_baselines/mask_rcnn_R_101_FPN_100ep_LSJ": "42025812/model_final_4f7b58.pkl",
    "new_baselines/mask_rcnn_R_101_FPN_200ep_LSJ": "42131867/model_final_0bb7ae.pkl",
    "new_baselines/mask_rcnn_R_101_FPN_400ep_LSJ": "42073830/model_final_f96b26.pkl",
    "new_baselines/mask_rcnn_regnetx_4gf_dds_FPN_100ep_LSJ": "42047771/model_final_b7fbab.pkl",
    "new_baselines/mask_rcnn_regnetx_4gf_dds_FPN_200ep_LSJ": "42132721/model_final_5d87c1.pkl",
    "new_baselines/mask_rcnn_regnetx_4gf_dds_FPN_400ep_LSJ": "42025447/model_final_f1362d.pkl",
    "new_baselines/mask_rcnn_regnety_4gf_dds_FPN_100ep_LSJ": "42047784/model_final_6ba57e.pkl",
    "new_baselines/mask_rcnn_regnety_4gf_dds_FPN_200ep_LSJ": "42047642/model_final_27b9c1.pkl",
    "new_baselines/mask_rcnn_regnety_4gf_dds_FPN_400ep_LSJ": "42045954/model_final_ef3a80.pkl",
    "COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x": "137261548/model_final_04e291.pkl",
    "COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x": "137849621/model_final_a6e10b.pkl",
    "COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x": "138363331/model_final_997cc7.pkl",
    "COCO-Keypoints/keypoint_rcnn_X_101_32x8d_FPN_3x": "139686956/model_final_5ad38f.pkl",
    "COCO-PanopticSegmentation/panoptic_fpn_R_50_1x": "139514544/model_final_dbfeb4.pkl",
    "COCO-PanopticSegmentation/panoptic_fpn_R_50_3x": "139514569/model_final_c10459.pkl",
    "COCO-PanopticSegmentation/panoptic_fpn_R_101_3x": "139514519/model_final_cafdb1.pkl",
    "LVISv0.5-InstanceSegmentation/mask_rcnn_R_50_FPN_1x": "144219072/model_final_571f7c.pkl",
    "LVISv0.5-InstanceSegmentation/mask_rcnn_R_101_FPN_1x": "144219035/model_final_824ab5.pkl",
    "LVISv0.5-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_1x": "144219108/model_final_5e3439.pkl",
    "Cityscapes/mask_rcnn_R_50_FPN": "142423278/model_final_af9cf5.pkl",
    "PascalVOC-Detection/faster_rcnn_R_50_C4": "142202221/model_final_b1acc2.pkl",
    "Misc/mask_rcnn_R_50_FPN_1x_dconv_c3-c5": "138602867/model_final_65c703.pkl",
    "Misc/mask_rcnn_R_50_FPN_3x_dconv_c3-c5": "144998336/model_final_821d0b.pkl",
    "Misc/cascade_mask_rcnn_R_50_FPN_1x": "138602847/model_final_e9d89b.pkl",
    "Misc/cascade_mask_rcnn_R_50_FPN_3x": "144998488/model_final_480dd8.pkl",
    "Misc/mask_rcnn_R_50_FPN_3x_syncbn": "169527823/model_final_3b3c51.pkl",
    "Misc/mask_rcnn_R_50_FPN_3x_gn": "138602888/model_final_dc5d9e.pkl",
    "Misc/scratch_mask_rcnn_R_50_FPN_3x_gn": "138602908/model_final_01ca85.pkl",
    "Misc/scratch_mask_rcnn_R_50_FPN_9x_gn": "183808979/model_final_da7b4c.pkl",
    "Misc/scratch_mask_rcnn_R_50_FPN_9x_syncbn": "184226666/model_final_5ce33e.pkl",
    "Misc/panoptic_fpn_R_101_dconv_cascade_gn_3x": "139797668/model_final_be35db.pkl",
    "Misc/cascade_mask_rcnn_X_152_32x8d_FPN_IN5k_gn_dconv": "18131413/model_0039999_e76410.pkl",
    "Detectron1-Comparisons/faster_rcnn_R_50_FPN_noaug_1x": "137781054/model_final_7ab50c.pkl",
    "Detectron1-Comparisons/mask_rcnn_R_50_FPN_noaug_1x": "137781281/model_final_62ca52.pkl",
    "Detectron1-Comparisons/keypoint_rcnn_R_50_FPN_1x": "137781195/model_final_cce136.pkl",
}

# what LazyConfig .py files import beyond modeling and checkpoint, and which distribution has it
_LAZY_CONFIG_PACKAGES = {
    "modet.engine": "modet-engine",
    "modet.data": "modet-data",
    "modet.evaluation": "modet-evaluation",
}


def _config_name(config_path: str) -> str:
    return config_path.replace(".yaml", "").replace(".py", "")


def available_configs() -> list[str]:
    """Every config the zoo ships, by its detectron2 name (``"COCO-Detection/..._1x.yaml"``)."""
    return sorted(
        path.relative_to(CONFIG_DIR).as_posix()
        for path in CONFIG_DIR.rglob("*")
        if path.suffix in (".yaml", ".py") and "__pycache__" not in path.parts
    )


def get_checkpoint_url(config_path: str) -> str:
    """URL of detectron2's released weights for a zoo config (``"COCO-.../mask_rcnn_R_50_FPN_3x.yaml"``;
    the ``.py`` name of the same model gives the same URL)."""
    name = _config_name(config_path)
    suffix = CONFIG_PATH_TO_URL_SUFFIX.get(name)
    if suffix is None:
        raise RuntimeError(f"Pretrained model for {config_path} is not available!")
    return f"{S3_PREFIX}{name}/{suffix}"


def get_config_file(config_path: str) -> str:
    """Path of a zoo config file, named relative to detectron2's ``configs/`` folder."""
    cfg_file = CONFIG_DIR / config_path
    if not cfg_file.is_file() or cfg_file.suffix not in (".yaml", ".py"):
        close = difflib.get_close_matches(config_path, available_configs(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else " modet.model_zoo.available_configs() lists them."
        raise RuntimeError(f"{config_path} not available in Model Zoo!{hint}")
    return str(cfg_file)


def _load_lazy_config(cfg_file: str, config_path: str) -> Any:
    try:
        return LazyConfig.load(cfg_file)
    except ModuleNotFoundError as exc:
        missing = next((dist for mod, dist in _LAZY_CONFIG_PACKAGES.items() if (exc.name or "").startswith(mod)), None)
        if missing is None:
            raise
        raise ModuleNotFoundError(
            f"the LazyConfig {config_path} imports {exc.name}, from {missing}, which is not installed: "
            "pip install modet-engine[train] (the trainer, data and evaluation LazyConfigs use)",
            name=exc.name,
        ) from exc


def get_config(config_path: str, trained: bool = False) -> Any:
    """The config of a zoo model: a ``CfgNode`` for a YAML name, an omegaconf ``DictConfig`` for a
    LazyConfig ``.py`` name (loading it runs it: the zoo's files are modet's own).

    ``trained=True`` points the weights (``MODEL.WEIGHTS``, or ``train.init_checkpoint``) at
    detectron2's released model; otherwise the config's own weights (often ImageNet) stay.
    """
    cfg_file = get_config_file(config_path)
    if cfg_file.endswith(".yaml"):
        cfg = get_cfg()
        cfg.merge_from_file(cfg_file)
        if trained:
            cfg.MODEL.WEIGHTS = get_checkpoint_url(config_path)
        return cfg
    cfg = _load_lazy_config(cfg_file, config_path)
    if trained:
        url = get_checkpoint_url(config_path)
        if "train" not in cfg or "init_checkpoint" not in cfg.train:
            raise NotImplementedError(f"{config_path} has no train.init_checkpoint to point at {url}")
        cfg.train.init_checkpoint = url
    return cfg


def _load_weights(model: nn.Module, path: str) -> None:
    DetectionCheckpointer(model).load(path)


def get(config_path: str, trained: bool = False, device: str | None = None) -> nn.Module:
    """Build a zoo model, in training mode, and load its weights.

    The weights are the config's own (``MODEL.WEIGHTS`` or ``train.init_checkpoint``; often an
    ImageNet backbone, nothing for ``scratch_*``), or detectron2's released model with
    ``trained=True``; ``detectron2://`` and ``https://`` paths are downloaded once and cached.
    ``device`` defaults to the config's, or CPU when CUDA is not available.
    """
    cfg = get_config(config_path, trained)
    if device is None and not torch.cuda.is_available():
        device = "cpu"
    if isinstance(cfg, CfgNode):
        if device is not None:
            cfg.MODEL.DEVICE = device
        model = build_model(cfg)
        if cfg.MODEL.WEIGHTS:
            _load_weights(model, cfg.MODEL.WEIGHTS)
        return model
    model = instantiate(cfg.model)
    if device is not None:
        model = model.to(device)
    if "train" in cfg and cfg.train.get("init_checkpoint"):
        _load_weights(model, cfg.train.init_checkpoint)
    return model
