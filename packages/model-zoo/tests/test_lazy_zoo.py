"""detectron2's LazyConfig models: each loads, builds detectron2's exact state_dict, and its optimizer,
LR multiplier and data mappers instantiate."""

import numpy as np
import pytest
import torch
from omegaconf import DictConfig
from state_dicts import assert_same_state_dict, table

from modet import model_zoo
from modet.core.config import LazyConfig, instantiate
from modet.data import DatasetMapper
from modet.data import transforms as T

LAZY_MODELS = sorted(table("zoo_lazy_state_dicts"))
LAZY_CONFIGS = sorted(
    name for name in model_zoo.available_configs() if name.endswith(".py") and not name.startswith("common/")
)


def test_the_table_covers_the_zoo():
    assert set(LAZY_MODELS) <= set(LAZY_CONFIGS)
    assert len(LAZY_MODELS) == 22  # every LazyConfig model of detectron2's zoo


@pytest.mark.parametrize("name", LAZY_MODELS)
def test_lazy_model_builds_detectron2s_state_dict(name):
    cfg = model_zoo.get_config(name)
    with torch.device("meta"):  # full widths, no memory and no init time
        model = instantiate(cfg.model)
    expected = table("zoo_lazy_state_dicts")[name]
    assert_same_state_dict(model, {"meta_architecture": expected["model_class"], **expected})


@pytest.mark.parametrize("name", LAZY_MODELS)
def test_lazy_config_parts_instantiate(name):
    cfg = model_zoo.get_config(name)
    assert set(cfg) >= {"model", "optimizer", "lr_multiplier", "dataloader", "train"}
    with torch.device("meta"):
        model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    assert isinstance(optimizer, torch.optim.Optimizer)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == sum(p.requires_grad for p in model.parameters())
    assert optimizer.defaults["lr"] == cfg.optimizer.lr
    lr_multiplier = instantiate(cfg.lr_multiplier)
    assert lr_multiplier(0.0) == pytest.approx(cfg.lr_multiplier.warmup_factor)
    assert lr_multiplier(1.0) < lr_multiplier(0.5) <= 1.0
    if "mapper" in cfg.dataloader.train:  # detection configs (not the ImageNet example)
        for split in ("train", "test"):
            mapper = instantiate(cfg.dataloader[split].mapper)
            assert isinstance(mapper, DatasetMapper) and mapper.is_train == (split == "train")
            assert mapper.image_format == "BGR"
    assert cfg.train.max_iter > 0


def test_coco_schedule_multipliers():
    schedules = model_zoo.get_config("common/coco_schedule.py")
    assert set(schedules) == {f"lr_multiplier_{n}x" for n in (1, 2, 3, 6, 9)}
    one = instantiate(schedules.lr_multiplier_1x)
    # 1000 warmup iterations of 90k, drops at 60k and 80k
    assert one(0.0) == pytest.approx(0.001)
    assert one(500 / 90000) == pytest.approx(0.001 + 0.999 * 0.5)
    assert [one(i / 90000) for i in (1000, 59999, 60000, 79999, 80000)] == [1.0, 1.0, 0.1, 0.1, 0.01]
    three = instantiate(schedules.lr_multiplier_3x)  # 270k: drops 60k and 20k before the end
    assert [three(i / 270000) for i in (209999, 210000, 250000)] == [1.0, 0.1, 0.01]


def test_lsj_augmentations_and_schedules():
    cfg = model_zoo.get_config("new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py")
    mapper = instantiate(cfg.dataloader.train.mapper)
    resize, crop, flip = mapper.augmentations.augs
    assert isinstance(resize, T.ResizeScale) and (resize.min_scale, resize.max_scale) == (0.1, 2.0)
    assert isinstance(crop, T.FixedSizeCrop) and crop.crop_size == (1024, 1024)
    assert isinstance(flip, T.RandomFlip) and mapper.recompute_boxes
    assert cfg.dataloader.train.total_batch_size == 64 and cfg.train.amp.enabled
    # the longer and shorter schedules scale max_iter and milestones together
    for name, factor in [("mask_rcnn_R_50_FPN_400ep_LSJ.py", 4), ("mask_rcnn_R_101_FPN_200ep_LSJ.py", 2)]:
        longer = model_zoo.get_config(f"new_baselines/{name}")
        assert longer.train.max_iter == 184375 * factor
        assert list(longer.lr_multiplier.scheduler.milestones) == [163889 * factor, 177546 * factor]
        assert longer.lr_multiplier.scheduler.num_updates == longer.train.max_iter
    fifty = model_zoo.get_config("new_baselines/mask_rcnn_R_50_FPN_50ep_LSJ.py")
    assert fifty.train.max_iter == 184375 // 2
    assert (
        model_zoo.get_config("new_baselines/mask_rcnn_R_101_FPN_100ep_LSJ.py").model.backbone.bottom_up.stages.depth
        == 101
    )


def test_common_model_configs_build():
    for name in ("mask_rcnn_fpn.py", "mask_rcnn_c4.py", "cascade_rcnn.py", "retinanet.py"):
        cfg = model_zoo.get_config(f"common/models/{name}")
        with torch.device("meta"):
            model = instantiate(cfg.model)
        assert model.training


def test_trained_points_at_the_released_weights():
    cfg = model_zoo.get_config("new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py", trained=True)
    assert cfg.train.init_checkpoint == model_zoo.get_checkpoint_url("new_baselines/mask_rcnn_R_50_FPN_100ep_LSJ.py")
    with pytest.raises(RuntimeError, match="Pretrained model for common/models/mask_rcnn_fpn.py is not available"):
        model_zoo.get_config("common/models/mask_rcnn_fpn.py", trained=True)


def test_a_saved_lazy_config_loads_back(tmp_path):
    cfg = model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.py")
    path = tmp_path / "config.yaml"
    LazyConfig.save(cfg, str(path))
    assert not (tmp_path / "config.yaml.pkl").exists()  # everything, block classes included, is YAML
    loaded = LazyConfig.load(str(path))
    assert isinstance(loaded, DictConfig)
    with torch.device("meta"):
        model = instantiate(loaded.model)
    expected = table("zoo_lazy_state_dicts")["COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.py"]
    assert_same_state_dict(model, {"meta_architecture": expected["model_class"], **expected})
    np.testing.assert_array_equal(loaded.model.pixel_mean, cfg.model.pixel_mean)
